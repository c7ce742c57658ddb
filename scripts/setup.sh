#!/usr/bin/env bash
# One-time, idempotent set-up: npm dependencies, and a software Vulkan driver
# (Mesa lavapipe) when no WebGPU adapter can be found. A machine with a real
# GPU, or one already set up, is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules/webgpu ] || [ package.json -nt node_modules/.package-lock.json ]; then
  # `npm install` rather than `npm ci`: npm 11 writes lock files that its own
  # `npm ci` rejects (rollup's optional platform packages); install still
  # follows the lock file's versions.
  npm install --no-audit --no-fund
fi

probe() { node scripts/probe-adapter.mjs >/dev/null 2>&1; }

if probe; then
  echo "setup: a WebGPU adapter is available ($(node scripts/probe-adapter.mjs 2>/dev/null))"
  exit 0
fi

echo "setup: no WebGPU adapter found; installing Mesa's software Vulkan driver (lavapipe)" >&2
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
if ! command -v apt-get >/dev/null; then
  echo "setup: no apt-get on this machine; install a Vulkan driver (Mesa >= 23, e.g. lavapipe) by hand" >&2
  exit 1
fi

# Debian bookworm's Mesa 22.3 is too old for Dawn (it lacks
# shaderUniform*ArrayDynamicIndexing); bookworm-backports' Mesa works.
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ "$codename" = bookworm ]; then
  src=/etc/apt/sources.list.d/backports.sources
  if [ ! -f "$src" ] && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    uri=$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
    uri=${uri:-http://deb.debian.org/debian}
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" | $SUDO tee "$src" >/dev/null
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
else
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
fi

if probe; then
  echo "setup: software adapter ready ($(node scripts/probe-adapter.mjs 2>/dev/null))"
else
  echo "setup: still no WebGPU adapter after installing Mesa; see README 'Troubleshooting'" >&2
  node scripts/probe-adapter.mjs || true
  exit 1
fi

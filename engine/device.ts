// The one place that acquires a WebGPU adapter and device.
//
// Choice of adapter, in order of precedence:
//   init({ adapter: 'NVIDIA' })      substring of the adapter's vendor/architecture/description
//   WEBGPU_ADAPTER=llvmpipe          the same, from the environment
//   WEBGPU_BACKEND=vulkan|metal|d3d12|opengl   Dawn backend (Node only)
// Without either, Dawn's default (high-performance) adapter is used.
import { create, globals } from 'webgpu';

export interface DeviceOptions {
  /** Case-insensitive substring of the adapter's vendor, architecture or description. */
  adapter?: string;
  /** Dawn backend: 'vulkan', 'metal', 'd3d12', 'opengl', 'opengles'. */
  backend?: string;
  powerPreference?: GPUPowerPreference;
}

export interface GpuContext {
  gpu: GPU;
  adapter: GPUAdapter;
  device: GPUDevice;
  info: GPUAdapterInfo;
  limits: GPUSupportedLimits;
  features: ReadonlySet<string>;
  /** Set once the device is lost; every later call fails with this reason. */
  lostReason: string | null;
}

export const NO_ADAPTER_HELP = [
  'No WebGPU adapter was found.',
  'On a machine without a GPU, install a software Vulkan driver (Mesa lavapipe >= 23):',
  '  npm run setup          (does it for Debian/Ubuntu, idempotently)',
  'or by hand on Debian bookworm: apt-get install -t bookworm-backports mesa-vulkan-drivers',
  '(bookworm\'s own Mesa 22.3 is too old for Dawn). With a GPU, check its Vulkan/Metal/D3D12 driver.',
].join('\n');

function describe(info: GPUAdapterInfo): string {
  return [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
}

export async function acquireDevice(opts: DeviceOptions = {}): Promise<GpuContext> {
  // Dawn's Vulkan loader complains on every start without this; harmless but noisy.
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  Object.assign(globalThis, globals);

  const backend = opts.backend ?? process.env.WEBGPU_BACKEND;
  const wanted = opts.adapter ?? process.env.WEBGPU_ADAPTER;
  // Dawn rounds timestamp queries to 2^16 ns by default (a browser's guard
  // against timing attacks); the kernel profiler wants them as measured.
  const flags: string[] = ['disable-dawn-features=timestamp_quantization'];
  if (backend) flags.push(`backend=${backend}`);
  if (wanted) flags.push(`adapter=${wanted}`);
  const gpu = create(flags) as GPU;

  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) {
    const why = [backend && `backend=${backend}`, wanted && `adapter~"${wanted}"`].filter(Boolean).join(', ');
    throw new Error(why ? `No WebGPU adapter matches ${why}.\n${NO_ADAPTER_HELP}` : NO_ADAPTER_HELP);
  }
  const info = adapter.info;
  if (wanted && !describe(info).toLowerCase().includes(wanted.toLowerCase())) {
    throw new Error(`WEBGPU_ADAPTER="${wanted}" matches no adapter; the one found is "${describe(info)}".`);
  }

  // Ask for the adapter's own limits for the ones big tensors and big
  // workgroups need; the defaults (128 MiB bindings, 256 invocations) are lower
  // than what most adapters offer.
  const L = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
    maxBufferSize: L.maxBufferSize,
    maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: L.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: L.maxComputeWorkgroupSizeY,
    maxStorageBuffersPerShaderStage: L.maxStorageBuffersPerShaderStage,
  };
  const optional: GPUFeatureName[] = ['subgroups', 'timestamp-query', 'shader-f16'] as GPUFeatureName[];
  const requiredFeatures = optional.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });

  const ctx: GpuContext = {
    gpu,
    adapter,
    device,
    info,
    limits: device.limits,
    features: device.features as unknown as ReadonlySet<string>,
    lostReason: null,
  };
  device.lost.then((lost) => {
    if (lost.reason === 'destroyed') return;
    ctx.lostReason = `GPU device lost (${lost.reason}): ${lost.message}`;
    console.error(ctx.lostReason);
  });
  device.addEventListener('uncapturederror', (ev: Event) => {
    const err = (ev as GPUUncapturedErrorEvent).error;
    console.error(`WebGPU error: ${err.message}`);
  });
  return ctx;
}

export function adapterDescription(ctx: GpuContext): string {
  return describe(ctx.info) || 'unknown adapter';
}

// `npm run bench [-- --json FILE] [--filter TEXT] [--quick] [--peers] [--profile | --profile-detailed]`
//
// Per-kernel profile: for each case, the median time after warm-up with the
// GPU synchronised, GFLOP/s or GB/s, the share of this adapter's measured
// peak (an FMA probe for compute-bound kernels, a copy probe for memory-bound
// ones), and the max abs error against the CPU reference. With --peers, the
// same cases run through TF.js's WebGPU backend on the same device
// (bench/peers-tfjs.ts, a devDependency loaded only then).
import { writeFileSync } from 'node:fs';
import { init, shutdown, runtime, poolStats } from '../engine/runtime.js';
import { barChart } from '../tools/plot.js';
import { openProfile, formatProfile } from '../engine/profiler.js';
import { measurePeaks, timeGpu } from './harness.js';
import { benchCases, type BenchResult } from './cases.js';
import type { Peer } from './peers-tfjs.js';

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(`usage: npm run bench -- [--json FILE] [--filter TEXT] [--quick] [--peers] [--profile | --profile-detailed]

Times every kernel on realistic shapes (MobileNetV1 at 160x160, MTCNN) with
the GPU synchronised, and checks each output against the CPU reference; then
whole nets (FaceNet forward and training step, MTCNN detection) and the
identify gallery search at 1k, 100k and 1M synthetic entries.
  --json FILE     also write the results as JSON, and a share-of-peak bar
                  chart next to it (FILE with .png)
  --filter TEXT   only cases whose name contains TEXT (several: A,B,C)
  --quick         fewer samples, 10 instead of 100 repeated detections (a smoke run)
  --peers         also run the cases through TF.js WebGPU (same device) and
                  print the ratio tfjs/ours
  --profile       after timing a case, run it once more with a timestamp per
                  dispatch and print the GPU time per kernel (top 12); the
                  JSON gets a "profile" list per case
  --profile-detailed  the same, with a kernel's dispatches apart by grid and
                  buffer sizes (tells a net's layers apart)`);
  process.exit(0);
}
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const jsonPath = opt('--json');
const filters = opt('--filter')?.split(',').filter(Boolean);
const quick = args.includes('--quick');
const withPeers = args.includes('--peers');
const withProfile = args.includes('--profile') || args.includes('--profile-detailed');
const detailedProfile = args.includes('--profile-detailed');

await init();
const rt = runtime();
console.log(`adapter: ${rt.description} (${rt.family}${rt.hasSubgroups ? ', subgroups' : ''})`);
let peer: Peer | null = null;
if (withPeers) {
  const { createTfjsPeer } = await import('./peers-tfjs.js');
  peer = await createTfjsPeer(rt);
  console.log(`peer: TF.js ${peer.version} WebGPU backend (${peer.name}), on the same device`);
}
const peaks = await measurePeaks();
console.log(`measured peak: ${peaks.fmaGflops.toFixed(1)} GFLOP/s (vec4 FMA probe), ${peaks.copyGbps.toFixed(2)} GB/s (copy probe, read+write)\n`);

const results: BenchResult[] = [];
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const timing = { samples: quick ? 3 : 9, warmup: quick ? 1 : 2 };
let processPeak = 0;
for (const c of benchCases({ quick })) {
  if (filters && !filters.some((f) => c.name.includes(f))) continue;
  // Pool peak per case: what this case's setup and runs hold at most.
  processPeak = Math.max(processPeak, poolStats().peakBytes);
  rt.pool.resetPeak();
  const setup = await c.setup();
  try {
    const t = await timeGpu(setup.run, { ...timing, inner: setup.inner ?? 1 });
    const maxAbsErr = setup.check ? await setup.check() : null;
    const gflops = c.flops ? c.flops / (t.medianMs * 1e6) : null;
    const gbps = c.bytes ? c.bytes / (t.medianMs * 1e6) : null;
    const peakFraction = c.bound === 'compute' && gflops !== null ? gflops / peaks.fmaGflops : c.bound === 'memory' && gbps !== null ? gbps / peaks.copyGbps : null;
    const stages = setup.stages?.();
    const poolPeakBytes = setup.poolPeakBytes ? poolStats().peakBytes : null;
    const r: BenchResult = { name: c.name, ms: t.medianMs, gflops, gbps, peakFraction, maxAbsErr, poolPeakBytes, ...(stages ? { stages } : {}) };
    if (c.entries) r.entriesPerSec = c.entries / (t.medianMs / 1000);
    if (c.images) r.imagesPerSec = c.images / (t.medianMs / 1000);
    console.log(
      `${c.name.padEnd(40)} ${t.medianMs.toFixed(3).padStart(9)} ms ` +
        `${gflops !== null ? gflops.toFixed(1).padStart(7) + ' GFLOP/s' : ''}${gbps !== null ? gbps.toFixed(2).padStart(7) + ' GB/s' : ''}` +
        `${peakFraction !== null ? ' ' + (100 * peakFraction).toFixed(0).padStart(4) + '% of peak' : ''}` +
        `${maxAbsErr !== null ? '  err ' + maxAbsErr.toExponential(1) : ''}` +
        `${r.entriesPerSec ? '  ' + (r.entriesPerSec / 1e6).toFixed(1) + 'M entries/s' : ''}` +
        `${r.imagesPerSec ? '  ' + r.imagesPerSec.toFixed(1) + ' images/s' : ''}` +
        `${poolPeakBytes !== null ? '  pool peak ' + mib(poolPeakBytes) : ''}`,
    );
    if (stages) console.log(`${''.padEnd(42)}${Object.entries(stages).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')} ms`);
    if (setup.growth) {
      const g = await setup.growth();
      r.growth = g;
      const grew = g.liveBytesAfter - g.liveBytesBefore;
      console.log(`${''.padEnd(42)}${grew <= 0 ? 'no growth' : 'GROWTH'} over ${g.runs} repeated detections: live ${mib(g.liveBytesBefore)} before, ${mib(g.liveBytesAfter)} after (${grew >= 0 ? '+' : ''}${grew} bytes)`);
    }
    if (withProfile) {
      // One more run outside the timed ones: a pass per dispatch costs time of its own.
      const profile = openProfile({ detailed: detailedProfile });
      await setup.run();
      r.profile = await profile.close();
      console.log(formatProfile(r.profile, 12).replace(/^/gm, '    '));
    }
    if (peer && c.peer && setup.peerInputs) {
      try {
        const params = await setup.peerParams?.();
        const p = await peer.run(c.peer, setup.peerInputs, { ...(setup.compare ? { compare: setup.compare } : {}), ...(params ? { params } : {}), timing });
        r.peerMs = { [peer.name]: p.ms };
        r.peerMaxAbsErr = { [peer.name]: p.maxAbsErr };
        console.log(`${('  ' + peer.name).padEnd(40)} ${p.ms.toFixed(3).padStart(9)} ms  ${(p.ms / t.medianMs).toFixed(1)}x ours${p.maxAbsErr !== null ? '  err ' + p.maxAbsErr.toExponential(1) : ''}`);
      } catch (e) {
        console.log(`${('  ' + peer.name).padEnd(40)} failed: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    results.push(r);
  } finally {
    setup.dispose();
  }
}

// The peaks again: on a shared machine the bandwidth a neighbour leaves can
// change within a run (on this project's 2-core VM the copy probe read 6.7
// GB/s in one process and 11.6 in the next, minutes apart), and shares
// against the start's peak then mislead.
const peaksAfter = await measurePeaks();
const drift = (a: number, b: number) => Math.abs(b - a) / a;
const moved = Math.max(drift(peaks.fmaGflops, peaksAfter.fmaGflops), drift(peaks.copyGbps, peaksAfter.copyGbps));
console.log(`\npeak at the end: ${peaksAfter.fmaGflops.toFixed(1)} GFLOP/s, ${peaksAfter.copyGbps.toFixed(2)} GB/s (start: ${peaks.fmaGflops.toFixed(1)}, ${peaks.copyGbps.toFixed(2)})`);
if (moved > 0.1) console.log(`WARNING: the adapter's measured peak moved by ${(100 * moved).toFixed(0)}% during the run; shares are against the start's peak, so compare them with care.`);

const f = (v: number | null | undefined, d: number) => (v === null || v === undefined ? '' : v.toFixed(d));
const peerName = peer?.name;
console.log(`\n| case | ms | GFLOP/s | GB/s | % of peak | max abs err | pool peak MiB |${peerName ? ` ${peerName} ms | tfjs/ours |` : ''}`);
console.log(`|---|---:|---:|---:|---:|---:|---:|${peerName ? '---:|---:|' : ''}`);
for (const r of results) {
  const pm = peerName ? r.peerMs?.[peerName] : undefined;
  console.log(
    `| ${r.name} | ${r.ms.toFixed(3)} | ${f(r.gflops, 1)} | ${f(r.gbps, 2)} | ${r.peakFraction === null ? '' : (100 * r.peakFraction).toFixed(0) + '%'} | ${r.maxAbsErr === null ? '' : r.maxAbsErr.toExponential(1)} | ${r.poolPeakBytes === null ? '' : (r.poolPeakBytes / 2 ** 20).toFixed(1)} |` +
      (peerName ? ` ${f(pm, 3)} | ${pm === undefined ? '' : (pm / r.ms).toFixed(1) + 'x'} |` : ''),
  );
}
for (const r of results) {
  if (r.entriesPerSec) console.log(`${r.name}: ${(r.entriesPerSec / 1e6).toFixed(1)}M entries/s (16 queries, k=5)`);
  if (r.growth) console.log(`${r.name}: live pool bytes ${r.growth.liveBytesBefore} before, ${r.growth.liveBytesAfter} after ${r.growth.runs} repeated detections (${r.growth.liveBytesAfter <= r.growth.liveBytesBefore ? 'no growth' : 'growth'})`);
}
const pool = poolStats();
console.log(`\nbuffer pool: process peak ${mib(Math.max(processPeak, pool.peakBytes))}, ${pool.allocations} allocations, ${pool.reuseHits}/${pool.requests} requests reused`);
if (jsonPath) {
  writeFileSync(jsonPath, JSON.stringify(results, null, 1));
  console.log(`wrote ${jsonPath}`);
  const pngPath = jsonPath.replace(/\.json$/i, '') + '.png';
  writeFileSync(pngPath, shareOfPeakChart(results, peerName));
  console.log(`wrote ${pngPath}`);
}
await peer?.dispose();
await shutdown();
process.exit(0);

/** Bars of each kernel's share of the adapter's measured peak (and the peer's, from its time on the same work). */
function shareOfPeakChart(rs: BenchResult[], peerName: string | undefined): Uint8Array {
  const bars = rs
    .filter((r) => r.peakFraction !== null)
    .map((r) => {
      const pm = peerName ? r.peerMs?.[peerName] : undefined;
      return { label: r.name, value: 100 * r.peakFraction!, ...(pm !== undefined ? { secondary: (100 * r.peakFraction! * r.ms) / pm } : {}) };
    });
  return barChart({
    // Compute-bound cases against the FMA probe, memory-bound ones against the copy probe.
    title: `Share of measured peak per kernel (${runtime().family} adapter)`,
    bars,
    valueLabel: peerName ? 'ours, % of measured peak' : '% of measured peak',
    ...(peerName ? { secondaryLabel: `${peerName}, same work` } : {}),
    width: 1000,
    format: (v) => `${v.toFixed(v < 10 ? 1 : 0)}%`,
  });
}

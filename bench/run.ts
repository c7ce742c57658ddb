// `npm run bench [-- --json FILE] [--filter TEXT] [--quick]`
//
// Per-kernel profile: for each case, the median time after warm-up with the
// GPU synchronised, GFLOP/s or GB/s, the share of this adapter's measured
// peak (an FMA probe for compute-bound kernels, a copy probe for memory-bound
// ones), and the max abs error against the CPU reference.
import { writeFileSync } from 'node:fs';
import { init, shutdown, runtime, poolStats } from '../engine/runtime.js';
import { measurePeaks, timeGpu } from './harness.js';
import { benchCases, type BenchResult } from './cases.js';

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(`usage: npm run bench -- [--json FILE] [--filter TEXT] [--quick]

Times every kernel on realistic shapes (MobileNetV1 at 160x160, MTCNN) with
the GPU synchronised, and checks each output against the CPU reference.
  --json FILE     also write the results as JSON
  --filter TEXT   only cases whose name contains TEXT
  --quick         fewer samples (a smoke run)`);
  process.exit(0);
}
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const jsonPath = opt('--json');
const filter = opt('--filter');
const quick = args.includes('--quick');

await init();
const rt = runtime();
console.log(`adapter: ${rt.description} (${rt.family}${rt.hasSubgroups ? ', subgroups' : ''})`);
const peaks = await measurePeaks();
console.log(`measured peak: ${peaks.fmaGflops.toFixed(1)} GFLOP/s (vec4 FMA probe), ${peaks.copyGbps.toFixed(2)} GB/s (copy probe, read+write)\n`);

const results: BenchResult[] = [];
for (const c of benchCases()) {
  if (filter && !c.name.includes(filter)) continue;
  const setup = await c.setup();
  try {
    const t = await timeGpu(setup.run, { samples: quick ? 3 : 9, warmup: quick ? 1 : 2, inner: setup.inner ?? 1 });
    const maxAbsErr = setup.check ? await setup.check() : null;
    const gflops = c.flops ? c.flops / (t.medianMs * 1e6) : null;
    const gbps = c.bytes ? c.bytes / (t.medianMs * 1e6) : null;
    const peakFraction = c.bound === 'compute' && gflops !== null ? gflops / peaks.fmaGflops : c.bound === 'memory' && gbps !== null ? gbps / peaks.copyGbps : null;
    const stages = setup.stages?.();
    const r: BenchResult = { name: c.name, ms: t.medianMs, gflops, gbps, peakFraction, maxAbsErr, poolPeakBytes: setup.poolPeakBytes?.() ?? null, ...(stages ? { stages } : {}) };
    results.push(r);
    console.log(
      `${c.name.padEnd(40)} ${t.medianMs.toFixed(3).padStart(9)} ms ` +
        `${gflops !== null ? gflops.toFixed(1).padStart(7) + ' GFLOP/s' : ''}${gbps !== null ? gbps.toFixed(2).padStart(7) + ' GB/s' : ''}` +
        `${peakFraction !== null ? ' ' + (100 * peakFraction).toFixed(0).padStart(4) + '% of peak' : ''}` +
        `${maxAbsErr !== null ? '  err ' + maxAbsErr.toExponential(1) : ''}`,
    );
    if (stages) console.log(`${''.padEnd(42)}${Object.entries(stages).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')} ms`);
  } finally {
    setup.dispose();
  }
}

console.log('\n| case | ms | GFLOP/s | GB/s | % of peak | max abs err |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of results) {
  const f = (v: number | null, d: number) => (v === null ? '' : v.toFixed(d));
  console.log(`| ${r.name} | ${r.ms.toFixed(3)} | ${f(r.gflops, 1)} | ${f(r.gbps, 2)} | ${r.peakFraction === null ? '' : (100 * r.peakFraction).toFixed(0) + '%'} | ${r.maxAbsErr === null ? '' : r.maxAbsErr.toExponential(1)} |`);
}
const pool = poolStats();
console.log(`\nbuffer pool: peak ${(pool.peakBytes / 2 ** 20).toFixed(1)} MiB, ${pool.allocations} allocations, ${pool.reuseHits}/${pool.requests} requests reused`);
if (jsonPath) {
  writeFileSync(jsonPath, JSON.stringify(results, null, 1));
  console.log(`wrote ${jsonPath}`);
}
await shutdown();
process.exit(0);

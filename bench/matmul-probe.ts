// Scratch: times candidate matmul kernels at 1024^3 on the current adapter.
import { init, sync, shutdown, runtime } from '../engine/runtime.js';
import { Tensor } from '../engine/tensor.js';
import { kernel, dispatch } from '../engine/kernel.js';

await init();
console.log(runtime().description, runtime().family, runtime().hasSubgroups, runtime().subgroupSize);
const M = 1024, N = 1024, K = 1024;
const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const A = rand((M + 32) * K), B = rand(K * N);
const a = Tensor.from(A, [M + 32, K]), b = Tensor.from(B, [K, N]), c = Tensor.empty([M + 32, N]);
const variants: Record<string, [string, number[]]> = {
  sg_loop: ['sg_loop', [N / 32, M / 16, 1]],
  uniform_a: ['uniform_a', [N / 32, M / 16, 1]],
  blocked: ['blocked', [N / 32, M / 32, 1]],
  sg16u: ['sg16u', [N / 32, M / 16, 1]],
  sg24u: ['sg24u', [N / 32, Math.ceil(M / 24), 1]],
  sg32u: ['sg32u', [N / 32, M / 32, 1]],
  sg16k8: ['sg16k8', [N / 32, M / 16, 1]],
  sg24k8: ['sg24k8', [N / 32, Math.ceil(M / 24), 1]],
  sg16av: ['sg16av', [N / 32, M / 16, 1]],
  sg24av: ['sg24av', [N / 32, Math.ceil(M / 24), 1]],
};
const only = process.argv.slice(2);
const rounds = Number(process.env.ROUNDS ?? 3);
const best: Record<string, number> = {};
for (let round = 0; round < rounds; round++) {
  for (const [name, [entry, grid]] of Object.entries(variants)) {
    if (only.length && !only.includes(name)) continue;
    const k = kernel('matmul_probe.wgsl', entry);
    const run = () => dispatch(k, { ...(k.buffers.some((x) => x.name === 'av') ? { av: a } : { a }), b, c, m: M, n: N, k: K }, grid);
    run();
    await sync();
    if (round === 0) {
      const got = await c.data();
      let maxErr = 0;
      for (let t = 0; t < 50; t++) {
        const i = Math.floor(Math.random() * M), j = Math.floor(Math.random() * N);
        let s = 0;
        for (let p = 0; p < K; p++) s += A[i * K + p] * B[p * N + j];
        maxErr = Math.max(maxErr, Math.abs(s - got[i * N + j]));
      }
      if (maxErr > 1e-3) console.log(`${name} WRONG maxErr ${maxErr}`);
    }
    const reps = 4;
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) run();
    await sync();
    const ms = (performance.now() - t0) / reps;
    best[name] = Math.min(best[name] ?? Infinity, ms);
  }
}
for (const [name, ms] of Object.entries(best)) console.log(`${name.padEnd(12)} ${ms.toFixed(1)} ms  ${((2 * M * N * K) / ms / 1e6).toFixed(1)} GFLOP/s`);
await shutdown();
process.exit(0);

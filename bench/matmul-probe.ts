// Times each matmul kernel at one size (default 1024^3) and prints GFLOP/s.
//   npx tsx bench/matmul-probe.ts [--size M,N,K] [--rounds R] [--variant V ...] [--transpose]
// Each figure is the best of R rounds of 4 back-to-back calls after a warm-up,
// timed with `await sync()` around them; rounds alternate between variants so
// a busy neighbour on a shared machine slows all of them alike.
import { init, sync, shutdown, runtime } from '../engine/runtime.js';
import { Tensor } from '../engine/tensor.js';
import { matmul, matmulVariants, defaultMatmulVariant, type MatmulVariant } from '../engine/ops/matmul.js';

const args = process.argv.slice(2);
const opt = (name: string) => args.flatMap((a, i) => (a === name && args[i + 1] ? [args[i + 1]] : []));
const [M, N, K] = (opt('--size')[0] ?? '1024,1024,1024').split(',').map(Number);
const rounds = Number(opt('--rounds')[0] ?? 3);
const transposes = args.includes('--transpose') ? [[false, false], [true, false], [false, true], [true, true]] : [[false, false]];

await init();
const rt = runtime();
const variants = (opt('--variant').length ? opt('--variant') : matmulVariants()) as MatmulVariant[];
console.log(`${rt.description} (${rt.family}, subgroups ${rt.hasSubgroups ? rt.subgroupSize : 'no'}); default '${defaultMatmulVariant()}'; ${M}x${N}x${K}`);

const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const A = rand(M * K), B = rand(K * N);
const best = new Map<string, number>();
const err = new Map<string, number>();
for (let round = 0; round < rounds; round++) {
  for (const v of variants) {
    for (const [tA, tB] of transposes) {
      const name = `${v}${tA ? ' A^T' : ''}${tB ? ' B^T' : ''}`;
      const a = Tensor.from(A, tA ? [K, M] : [M, K]), b = Tensor.from(B, tB ? [N, K] : [K, N]);
      const run = () => matmul(a, b, { transposeA: tA, transposeB: tB, variant: v });
      const first = run();
      if (round === 0) {
        // Spot-check 64 entries against the CPU (the tests check all of them at smaller sizes).
        const got = await first.data();
        let e = 0;
        for (let t = 0; t < 64; t++) {
          const i = Math.floor(Math.random() * M), j = Math.floor(Math.random() * N);
          let s = 0;
          for (let q = 0; q < K; q++) s += A[tA ? q * M + i : i * K + q] * B[tB ? j * K + q : q * N + j];
          e = Math.max(e, Math.abs(s - got[i * N + j]));
        }
        err.set(name, e);
      }
      first.dispose();
      await sync();
      const t0 = performance.now();
      const outs = Array.from({ length: 4 }, run);
      await sync();
      const ms = (performance.now() - t0) / outs.length;
      outs.forEach((o) => o.dispose());
      a.dispose();
      b.dispose();
      best.set(name, Math.min(best.get(name) ?? Infinity, ms));
    }
  }
}
for (const [name, ms] of best) {
  console.log(`${name.padEnd(20)} ${ms.toFixed(1).padStart(8)} ms ${((2 * M * N * K) / ms / 1e6).toFixed(1).padStart(7)} GFLOP/s   max err ${err.get(name)!.toExponential(1)}`);
}
await shutdown();
process.exit(0);

// GPU nearest-row search (matmul + per-row top-k) against a CPU sort, in one
// pass and chunked over the gallery.
import { describe, it, expect } from 'vitest';
import { Tensor } from '../engine/tensor.js';
import { nearestRows, topkDistances, GpuGallery, TOPK_MAX } from '../engine/ops/topk.js';
import { rng, randomArray } from './gradcheck/harness.js';

function unitRows(n: number, d: number, seed: number): Float32Array {
  const x = randomArray(n * d, rng(seed));
  for (let i = 0; i < n; i++) {
    const r = x.subarray(i * d, (i + 1) * d);
    const s = Math.hypot(...r);
    for (let j = 0; j < d; j++) r[j] /= s;
  }
  return x;
}

function cpuNearest(q: Float32Array, g: Float32Array, d: number, k: number) {
  const m = q.length / d;
  const n = g.length / d;
  const out: { d: number[]; i: number[] }[] = [];
  for (let a = 0; a < m; a++) {
    const all = [];
    for (let b = 0; b < n; b++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (q[a * d + j] - g[b * d + j]) ** 2;
      all.push({ d: Math.sqrt(s), i: b });
    }
    all.sort((x, y) => x.d - y.d || x.i - y.i);
    out.push({ d: all.slice(0, k).map((x) => x.d), i: all.slice(0, k).map((x) => x.i) });
  }
  return out;
}

describe('nearestRows', () => {
  it.each([
    [5, 1, 16, 1],
    [7, 300, 128, 5],
    [3, 1000, 64, 32],
    [2, 20, 8, 32], // fewer rows than k: -1 padding
    [3, 3000, 16, 10], // several column blocks per row (TOPK_BLOCK 1024)
    [1, 200000, 16, 8], // one query over a long row: blocks longer than TOPK_BLOCK on software adapters
  ])('matches a CPU sort (M=%i, N=%i, D=%i, k=%i)', async (m, n, d, k) => {
    const q = unitRows(m, d, 1 + m);
    const g = unitRows(n, d, 100 + n);
    const want = cpuNearest(q, g, d, k);
    // Chunks of 7 rows, or for the long gallery 3 chunks with a short last one.
    for (const chunkRows of [undefined, n > 10000 ? 70000 : 7]) {
      const got = await nearestRows(q, g, d, k, { chunkRows });
      for (let a = 0; a < m; a++) {
        const gi = Array.from(got.indices.subarray(a * k, (a + 1) * k));
        const gd = Array.from(got.distances.subarray(a * k, (a + 1) * k));
        const valid = Math.min(k, n);
        expect(gi.slice(0, valid)).toEqual(want[a].i);
        for (let r = 0; r < valid; r++) expect(gd[r]).toBeCloseTo(want[a].d[r], 4);
        for (let r = valid; r < k; r++) expect(gi[r]).toBe(-1);
      }
    }
  });

  it('a query that is in the gallery finds itself at distance ~0; ties go to the smaller index', async () => {
    const g = unitRows(50, 32, 9);
    const dup = new Float32Array(51 * 32);
    dup.set(g);
    dup.set(g.subarray(10 * 32, 11 * 32), 50 * 32); // row 50 == row 10
    const got = await nearestRows(g.slice(10 * 32, 11 * 32), dup, 32, 2, { chunkRows: 13 });
    expect(Array.from(got.indices)).toEqual([10, 50]);
    expect(got.distances[0]).toBeLessThan(1e-3);
    // Across column blocks of one pass.
    const big = unitRows(2600, 8, 5);
    big.set(big.subarray(10 * 8, 11 * 8), 2500 * 8);
    const far = await nearestRows(big.slice(2500 * 8, 2501 * 8), big, 8, 2);
    expect(Array.from(far.indices)).toEqual([10, 2500]);
  });

  it('a resident GpuGallery answers repeated searches the same as one-off ones', async () => {
    const g = unitRows(257, 16, 3);
    const gpu = new GpuGallery(g, 16, { chunkRows: 64 });
    for (const seed of [1, 2]) {
      const q = unitRows(4, 16, seed);
      const a = await gpu.search(q, 8);
      const b = await nearestRows(q, g, 16, 8);
      expect(Array.from(a.indices)).toEqual(Array.from(b.indices));
      expect(Array.from(a.indices.subarray(0, 8))).toEqual(cpuNearest(q, g, 16, 8)[0].i);
    }
    gpu.dispose();
  });

  it('rejects bad k and shapes', () => {
    const s = Tensor.from(new Float32Array(6), [2, 3]);
    expect(() => topkDistances(s, TOPK_MAX + 1)).toThrow(/k 33/);
    expect(() => topkDistances(s, 0)).toThrow(/k 0/);
    s.dispose();
    return expect(nearestRows(new Float32Array(5), new Float32Array(8), 4, 1)).rejects.toThrow(/not rows of 4/);
  });
});

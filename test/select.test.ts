import { describe, it, expect } from 'vitest';
import { Tensor } from '../engine/tensor.js';
import { thresholdIndices, gatherRows } from '../engine/ops/select.js';
import { rng, randomArray } from './gradcheck/harness.js';

describe('thresholdIndices', () => {
  it.each([1, 63, 64, 65, 1000, 70_001])('matches a CPU filter in ascending order (n=%i, stride 2 offset 1)', async (n) => {
    const x = randomArray(2 * n, rng(n), 0, 1);
    const t = Tensor.from(x);
    for (const strict of [false, true]) {
      const { indices, count } = thresholdIndices(t, 0.6, { stride: 2, offset: 1, strict });
      const k = (await count.data())[0];
      const got = Array.from((await indices.data()).slice(0, k));
      const want: number[] = [];
      for (let i = 0; i < n; i++) if (strict ? x[2 * i + 1] > 0.6 : x[2 * i + 1] >= 0.6) want.push(i);
      expect(got).toEqual(want);
      indices.dispose();
      count.dispose();
    }
    t.dispose();
  });

  it('treats >= and > differently at the threshold', async () => {
    const t = Tensor.from([0.5, 0.7, 0.7, 0.9]);
    const ge = thresholdIndices(t, 0.7);
    const gt = thresholdIndices(t, 0.7, { strict: true });
    expect((await ge.count.data())[0]).toBe(3);
    expect((await gt.count.data())[0]).toBe(1);
    for (const r of [ge, gt]) { r.indices.dispose(); r.count.dispose(); }
    t.dispose();
  });

  it('rejects a stride that does not divide the tensor', () => {
    const t = Tensor.empty([5]);
    expect(() => thresholdIndices(t, 0, { stride: 2 })).toThrow(/thresholdIndices: \[5\] is not a multiple of stride 2/);
    t.dispose();
  });
});

describe('gatherRows', () => {
  it('picks rows and zero-fills out-of-range indices', async () => {
    const x = Tensor.from([1, 2, 3, 4, 5, 6], [3, 2]);
    const idx = Tensor.from([2, 0, 7], [3], 'i32');
    const y = gatherRows(x, idx);
    expect(y.shape).toEqual([3, 2]);
    expect(Array.from(await y.data())).toEqual([5, 6, 1, 2, 0, 0]);
    [x, idx, y].forEach((t) => t.dispose());
  });
});

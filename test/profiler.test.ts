// The kernel profiler: timestamps per dispatch, summed by kernel id, without
// changing what the kernels compute.
import { describe, it, expect } from 'vitest';
import { Tensor, noGrad } from '../engine/tensor.js';
import { add, mul } from '../engine/ops/elementwise.js';
import { runtime } from '../engine/runtime.js';
import { openProfile, formatProfile } from '../engine/profiler.js';

const hasTimestamps = () => runtime().ctx.features.has('timestamp-query');

describe('kernel profiler', () => {
  it('counts every dispatch by kernel and leaves results unchanged', async () => {
    if (!hasTimestamps()) return; // adapters without timestamp-query: openProfile throws (next test)
    const a = Tensor.from(Float32Array.from({ length: 4096 }, (_, i) => i), [64, 64]);
    const b = Tensor.from(Float32Array.from({ length: 4096 }, () => 2), [64, 64]);
    const profile = openProfile();
    const outs = noGrad(() => [add(a, b), add(a, b), add(a, b), mul(a, b)]);
    const rows = await profile.close();
    expect(Array.from(await outs[0].data()).slice(0, 3)).toEqual([2, 3, 4]);
    expect(Array.from(await outs[3].data()).slice(0, 3)).toEqual([0, 2, 4]);
    const total = rows.reduce((s, r) => s + r.dispatches, 0);
    expect(total).toBe(4);
    const kernels = rows.map((r) => r.kernel);
    expect(new Set(kernels).size).toBe(kernels.length);
    // add and mul share a file but not an entry (or override), so they are two rows.
    expect(rows.length).toBe(2);
    expect(rows.some((r) => r.dispatches === 3)).toBe(true);
    expect(rows.every((r) => r.ms >= 0 && Number.isFinite(r.ms))).toBe(true);
    expect(rows.reduce((s, r) => s + r.ms, 0)).toBeGreaterThan(0);
    expect(formatProfile(rows)).toMatch(/GPU time [\d.]+ ms in 4 dispatches/);
    [a, b, ...outs].forEach((t) => t.dispose());
  });

  it('splits long recordings at the query-set size and refuses nesting and double close', async () => {
    if (!hasTimestamps()) {
      expect(() => openProfile()).toThrow(/timestamp-query/);
      return;
    }
    const a = Tensor.from(new Float32Array(16).fill(1), [16]);
    const profile = openProfile();
    expect(() => openProfile()).toThrow(/already open/);
    // More dispatches than one query set holds: the recorder must submit in between.
    let x = a;
    noGrad(() => {
      for (let i = 0; i < 2500; i++) {
        const y = add(x, a);
        if (x !== a) x.dispose();
        x = y;
      }
    });
    const rows = await profile.close();
    await expect(profile.close()).rejects.toThrow(/already closed/);
    expect(rows.reduce((s, r) => s + r.dispatches, 0)).toBe(2500);
    expect((await x.data())[0]).toBe(2501);
    // Once closed, recording is unprofiled again and a new profile can open.
    await openProfile().close();
    [a, x].forEach((t) => t.dispose());
  });

  it('a detailed profile sums dispatches of one kernel apart by grid and buffer sizes', async () => {
    if (!hasTimestamps()) return;
    const small = Tensor.from(new Float32Array(64).fill(1), [64]);
    const large = Tensor.from(new Float32Array(4096).fill(1), [4096]);
    const profile = openProfile({ detailed: true });
    const outs = noGrad(() => [add(small, small), add(small, small), add(large, large)]);
    const rows = await profile.close();
    expect(rows.length).toBe(2);
    const bySize = (bytes: number) => rows.find((r) => r.kernel.includes(`:${bytes}`));
    expect(bySize(256)?.dispatches).toBe(2);
    expect(bySize(16384)?.dispatches).toBe(1);
    expect(rows.every((r) => /\[\d+,\d+,\d+\]/.test(r.kernel))).toBe(true);
    expect(Array.from(await outs[2].data()).slice(0, 2)).toEqual([2, 2]);
    [small, large, ...outs].forEach((t) => t.dispose());
  });
});

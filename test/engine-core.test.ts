import { describe, it, expect } from 'vitest';
import { Tensor, tidy, noGrad, record } from '../engine/tensor.js';
import { add, mul, scale, sum } from '../engine/ops/elementwise.js';
import { runtime, poolStats } from '../engine/runtime.js';
import { kernel, dispatch, compileCheck } from '../engine/kernel.js';
import { runGradCase } from './gradcheck/harness.js';

describe('tensor basics', () => {
  it('round-trips data and shapes', async () => {
    const t = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(await t.data())).toEqual([1, 2, 3, 4, 5, 6]);
    const i = Tensor.from([-1, 7], [2], 'i32');
    expect(Array.from(await i.data())).toEqual([-1, 7]);
    t.dispose();
    i.dispose();
    expect(() => t.buffer).toThrow(/disposed/);
  });

  it('rejects shapes that do not broadcast before dispatching, naming both', () => {
    const a = Tensor.empty([2, 3]);
    const b = Tensor.empty([4]);
    expect(() => add(a, b)).toThrow(/add: shapes \[2, 3\] and \[4\] do not broadcast/);
    a.dispose();
    b.dispose();
  });

  it('accumulates gradients over two backward passes', async () => {
    const x = Tensor.from([1, 2, 3]).requireGrad();
    for (let k = 0; k < 2; k++) tidy(() => sum(mul(x, x)).backward());
    expect(Array.from(await x.grad!.data())).toEqual([4, 8, 12]);
    x.zeroGrad();
    expect(x.grad).toBeNull();
    x.dispose();
  });

  it('records no graph under noGrad', () => {
    const x = Tensor.from([1, 2]).requireGrad();
    const y = noGrad(() => scale(x, 2));
    expect(y.requiresGrad).toBe(false);
    expect(y.node).toBeNull();
    x.dispose();
    y.dispose();
  });

  it('tidy disposes intermediates and keeps the result', () => {
    const x = Tensor.from([1, 2, 3]);
    let inner: Tensor | null = null;
    const y = tidy(() => {
      inner = scale(x, 2);
      return add(inner, x);
    });
    expect(inner!.disposed).toBe(true);
    expect(y.disposed).toBe(false);
    x.dispose();
    y.dispose();
  });

  it('rejects a buffer over the binding limit with a message naming the limit', () => {
    const rt = runtime();
    const big = { buffer: rt.device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE }), byteLength: rt.limits.maxStorageBufferBindingSize + 4 };
    const y = Tensor.empty([4]);
    expect(() => dispatch(kernel('scale.wgsl'), { x: big, y, n: 4, alpha: 1, beta: 0 }, 1)).toThrow(/maxStorageBufferBindingSize/);
    y.dispose();
  });
});

describe('buffer pool', () => {
  it('does not grow across repeated identical training steps', async () => {
    const w = Tensor.from([0.5, -0.25, 2, 1], [4]).requireGrad();
    const x = Tensor.from([1, 2, 3, 4, 5, 6, 7, 8], [2, 4]);
    const step = () => tidy(() => {
      const loss = sum(mul(add(x, w), w));
      loss.backward();
    });
    step();
    w.zeroGrad();
    await w.data();
    const before = poolStats();
    for (let i = 0; i < 20; i++) {
      step();
      w.zeroGrad();
    }
    await w.data();
    const after = poolStats();
    // <=, not ==: the GC may release tensors an earlier test dropped while this one runs.
    expect(after.liveBytes).toBeLessThanOrEqual(before.liveBytes);
    expect(after.allocations).toBe(before.allocations);
    expect(after.reuseHits).toBeGreaterThan(before.reuseHits);
    w.dispose();
    x.dispose();
  });
});

describe('buffer pool cap', () => {
  it('keeps at most maxFreeBytes idle, evicting the longest-idle buffers after the next submit', async () => {
    const pool = runtime().pool;
    const cap = pool.maxFreeBytes;
    pool.trim();
    pool.maxFreeBytes = 3 * 4096;
    try {
      const ts = Array.from({ length: 6 }, () => Tensor.empty([1024]));
      const before = poolStats().evictions;
      ts.forEach((t) => t.dispose());
      const s = poolStats();
      expect(s.freeBytes).toBeLessThanOrEqual(3 * 4096);
      expect(s.evictions - before).toBe(3);
      // The most recently released buffers are the ones kept: reusing three allocates nothing.
      const allocs = s.allocations;
      const again = Array.from({ length: 3 }, () => Tensor.empty([1024]));
      expect(poolStats().allocations).toBe(allocs);
      again.forEach((t) => t.dispose());
      // Work recorded after an eviction still runs: the buffer dies only after the submit.
      const x = Tensor.from([1, 2, 3]);
      expect(Array.from(await scale(x, 2).data())).toEqual([2, 4, 6]);
    } finally {
      pool.maxFreeBytes = cap;
    }
  });
});

describe('kernels', () => {
  it('surfaces WGSL compile errors with the shader file and line', async () => {
    await expect(compileCheck('test_broken.wgsl')).rejects.toThrow(/shaders\/test_broken\.wgsl:6:/);
  });
});

describe('gradcheck harness', () => {
  it('fails an op whose backward is wrong', async () => {
    const wrong = (x: Tensor) => {
      const y = noGrad(() => scale(x, 3));
      return record(y, 'wrong', [x], (g) => [scale(g, 2)]);
    };
    const r = await runGradCase({ op: 'wrong', case: 'x*3 with backward 2', inputs: [{ shape: [5] }], forward: wrong, reference: (x) => Array.from(x, (v) => 3 * v) });
    expect(r.passed).toBe(false);
    expect(r.maxAbsErr).toBeGreaterThan(0.5);
  });

  it('fails an op whose forward disagrees with the reference', async () => {
    const r = await runGradCase({ op: 'wrong', case: 'reference off', inputs: [{ shape: [5] }], forward: (x) => scale(x, 3), reference: (x) => Array.from(x, (v) => 3 * v + 0.01) });
    expect(r.passed).toBe(false);
  });
});

// Waiting for the GPU (engine/gpu-wait.ts): dawn.node's busy polling is slowed
// only while the engine waits, results are unchanged, and the main thread
// stays mostly idle during a long wait.
import { describe, it, expect } from 'vitest';
import { Tensor, noGrad } from '../engine/tensor.js';
import { matmul } from '../engine/ops/matmul.js';
import { sync } from '../engine/runtime.js';
import { gpuWait } from '../engine/gpu-wait.js';
import { existsSync, readFileSync } from 'node:fs';

describe('gpuWait', () => {
  it('replaces setImmediate only while a wait is pending, overlapping waits included', async () => {
    const before = globalThis.setImmediate;
    let release!: () => void;
    const first = gpuWait(() => new Promise<void>((r) => (release = r)));
    expect(globalThis.setImmediate).not.toBe(before);
    const second = gpuWait(() => new Promise<number>((r) => before(() => r(7))));
    expect(await second).toBe(7);
    expect(globalThis.setImmediate).not.toBe(before); // the first is still pending
    // Callbacks still run (later, not never) under the replacement.
    await new Promise<void>((r) => globalThis.setImmediate(r));
    release();
    await first;
    expect(globalThis.setImmediate).toBe(before);
    await expect(gpuWait(() => Promise.reject(new Error('lost')))).rejects.toThrow('lost');
    expect(globalThis.setImmediate).toBe(before);
  });

  // The main thread's own CPU time (Linux: /proc/self/task/<pid>), in ms; null elsewhere.
  const mainThreadCpuMs = (): number | null => {
    const path = `/proc/self/task/${process.pid}/stat`;
    if (!existsSync(path)) return null;
    const stat = readFileSync(path, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime at USER_HZ 100
  };

  it('a readback after long GPU work returns the right values and leaves the main thread mostly idle', async () => {
    const n = 1024;
    const a = Tensor.from(Float32Array.from({ length: n * n }, (_, i) => (i % 7) - 3), [n, n]);
    const b = Tensor.from(Float32Array.from({ length: n * n }, (_, i) => (i % 5) - 2), [n, n]);
    await sync();
    const outs = noGrad(() => Array.from({ length: 6 }, () => matmul(a, b)));
    const cpu0 = mainThreadCpuMs();
    const t0 = performance.now();
    const got = (await outs[5].data()) as Float32Array;
    const wall = performance.now() - t0;
    const cpu = cpu0 === null ? null : mainThreadCpuMs()! - cpu0;
    let ref = 0;
    for (let k = 0; k < n; k++) ref += ((k % 7) - 3) * (((k * n) % 5) - 2);
    expect(got[0]).toBeCloseTo(ref, 3);
    // dawn.node's own polling keeps the thread busy for the whole wait
    // (cpu ~ wall); slowed, it takes a few percent. Only meaningful for a
    // wait of many clock ticks (10 ms each).
    if (cpu !== null && wall > 100) expect(cpu).toBeLessThan(0.5 * wall);
    [a, b, ...outs].forEach((t) => t.dispose());
  });
});

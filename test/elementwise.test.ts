// add / sub / mul against the CPU reference over the kernel variants binary()
// picks: same shape, per-channel [C] and general broadcasting, each with the
// last axis a multiple of 4 (vec4 kernels) and not (scalar kernels).
import { describe, it, expect } from 'vitest';
import { Tensor, noGrad } from '../engine/tensor.js';
import { add, sub, mul } from '../engine/ops/elementwise.js';
import { broadcastBinary } from './reference/elementwise.js';

const rnd = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + n) * 3);
const size = (s: number[]) => s.reduce((a, d) => a * d, 1);

const cases: [string, number[], number[]][] = [
  ['same shape, C % 4 == 0', [2, 3, 5, 8], [2, 3, 5, 8]],
  ['same shape, odd size', [3, 7], [3, 7]],
  ['same shape, large (grid-stride loop)', [300, 1024], [300, 1024]],
  ['per channel, C % 4 == 0', [2, 5, 3, 12], [12]],
  ['per channel, C = 4', [7, 4], [4]],
  ['per channel, C4 not dividing 256 (C = 40)', [3, 9, 11, 40], [40]],
  ['per channel, C % 4 != 0', [2, 5, 3, 10], [10]],
  ['per channel, more channel vec4s than threads would need', [1, 2048], [2048]],
  ['broadcast [N,1,1,C]', [3, 4, 5, 16], [3, 1, 1, 16]],
  ['broadcast last axis 1 on b', [3, 4, 8], [3, 4, 1]],
  ['broadcast a expands too', [3, 1, 8], [1, 5, 8]],
  ['broadcast scalar', [6, 8], [1]],
  ['broadcast odd last axis', [3, 4, 5], [3, 1, 5]],
  ['broadcast leading size-1 axes and rank change', [1, 2, 1, 3, 4], [3, 1]],
];

describe('elementwise binary ops vs reference', () => {
  for (const [name, as, bs] of cases) {
    it(name, async () => {
      const ad = rnd(size(as)), bd = rnd(size(bs)).map((v) => v + 0.5);
      const a = Tensor.from(ad, as), b = Tensor.from(bd, bs);
      for (const [f, ref] of [[add, (x: number, z: number) => x + z], [sub, (x: number, z: number) => x - z], [mul, (x: number, z: number) => x * z]] as const) {
        const y = noGrad(() => f(a, b));
        const want = broadcastBinary(ad, as, bd, bs, ref);
        expect(y.shape).toEqual(want.shape);
        const got = await y.data();
        let err = 0;
        for (let i = 0; i < want.data.length; i++) err = Math.max(err, Math.abs(got[i] - want.data[i]));
        expect(err).toBeLessThan(1e-5);
        // Swapped operands take the general path when a is the broadcast one.
        const z = noGrad(() => f(b, a));
        const want2 = broadcastBinary(bd, bs, ad, as, ref);
        const got2 = await z.data();
        let err2 = 0;
        for (let i = 0; i < want2.data.length; i++) err2 = Math.max(err2, Math.abs(got2[i] - want2.data[i]));
        expect(err2).toBeLessThan(1e-5);
        y.dispose();
        z.dispose();
      }
      a.dispose();
      b.dispose();
    });
  }
});

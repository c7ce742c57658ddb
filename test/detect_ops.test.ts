import { describe, it, expect } from 'vitest';
import { Tensor } from '../engine/tensor.js';
import { thresholdIndices } from '../engine/ops/select.js';
import { gridBoxes, applyBoxDeltas, squareBoxes } from '../engine/ops/detect.js';

describe('detector box ops', () => {
  it('gridBoxes maps passing cells to boxes as MTCNN generateBoundingBox does', async () => {
    // 2x3 map, 2 score channels; cells (x=1,y=0) and (x=2,y=1) pass 0.6.
    const probs = [0.9, 0.1, 0.3, 0.7, 0.5, 0.4, 0.2, 0.1, 0.6, 0.2, 0.1, 0.95];
    const scores = Tensor.from(probs, [1, 2, 3, 2]);
    const deltas = Tensor.from(Array.from({ length: 24 }, (_, i) => i / 100), [1, 2, 3, 4]);
    const { indices, count } = thresholdIndices(scores, 0.6, { stride: 2, offset: 1 });
    expect((await count.data())[0]).toBe(2);
    const scale = 0.3;
    const boxes = gridBoxes(scores, deltas, indices, count, 2, { scale, stride: 2, cell: 12, scoreChannel: 1 });
    const b = await boxes.data();
    // torch computes the quotient in float32 (the python scale becomes f32).
    const f32 = Math.fround;
    const q = (p: number, add: number) => Math.floor(f32(f32(2 * p + add) / f32(scale)));
    expect(Array.from(b.slice(0, 4))).toEqual([q(1, 1), q(0, 1), q(1, 12), q(0, 12)]);
    expect(b[4]).toBeCloseTo(0.7, 6);
    expect(Array.from(b.slice(5, 9)).map((v) => Math.round(v * 100))).toEqual([4, 5, 6, 7]);
    expect(Array.from(b.slice(9, 13))).toEqual([q(2, 1), q(1, 1), q(2, 12), q(1, 12)]);
    expect(b[13]).toBeCloseTo(0.95, 6);
    [scores, deltas, indices, count, boxes].forEach((t) => t.dispose());
  });

  it('applyBoxDeltas with and without +1, then squareBoxes', async () => {
    const boxes = Tensor.from([10, 20, 30, 60, 0.9], [1, 5]);
    const deltas = Tensor.from([0, 0.1, -0.1, 0.2, 0.5, 0], [1, 6]);
    applyBoxDeltas(boxes, deltas, { offset: 1 });
    // w = 20, h = 40: x1 += 0.1*20, y1 += -0.1*40, x2 += 0.2*20, y2 += 0.5*40
    expect(Array.from(await boxes.data()).map((v) => +v.toFixed(4))).toEqual([12, 16, 34, 80, 0.9]);
    applyBoxDeltas(boxes, deltas, { offset: 1, plusOne: true });
    // w = 23, h = 65
    expect(Array.from(await boxes.data()).map((v) => +v.toFixed(4))).toEqual([14.3, 9.5, 38.6, 112.5, 0.9]);
    squareBoxes(boxes);
    // w = 24.3, h = 103, l = 103: x1 = 14.3 + 12.15 - 51.5
    const s = await boxes.data();
    expect(s[0]).toBeCloseTo(14.3 + 12.15 - 51.5, 4);
    expect(s[1]).toBeCloseTo(9.5, 4);
    expect(s[2] - s[0]).toBeCloseTo(103, 4);
    expect(s[3] - s[1]).toBeCloseTo(103, 4);
    boxes.dispose();
    deltas.dispose();
  });

  it('rejects deltas that do not fit the boxes', () => {
    const boxes = Tensor.empty([3, 5]);
    const deltas = Tensor.empty([2, 4]);
    expect(() => applyBoxDeltas(boxes, deltas)).toThrow(/applyBoxDeltas: deltas \[2, 4\]/);
    boxes.dispose();
    deltas.dispose();
  });
});

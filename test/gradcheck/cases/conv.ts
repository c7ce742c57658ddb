import type { GradCase, InputSpec } from '../harness.js';
import type { Tensor } from '../../../engine/tensor.js';
import { conv2d, depthwiseConv2d, type ConvVariant } from '../../../engine/ops/conv.js';
import { conv2dRef, depthwiseConv2dRef } from '../../reference/conv.js';

interface ConvSpec {
  x: [number, number, number, number];
  k: [number, number];
  cout: number;
  stride?: number | [number, number];
  padding?: number | [number, number];
  groups?: number;
  bias?: boolean;
  variant?: ConvVariant;
}

const pair = (v: number | [number, number] | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);

function convCase(label: string, s: ConvSpec): GradCase {
  const groups = s.groups ?? 1;
  const wShape = [s.k[0], s.k[1], s.x[3] / groups, s.cout];
  const stride = pair(s.stride, 1);
  const padding = pair(s.padding, 0);
  const inputs: InputSpec[] = [{ shape: s.x }, { shape: wShape }];
  if (s.bias) inputs.push({ shape: [s.cout] });
  return {
    op: 'conv2d',
    case: `${label} x[${s.x}] w[${wShape}] s${stride} p${padding}${groups > 1 ? ` g${groups}` : ''}${s.bias ? ' +bias' : ''}${s.variant ? ' ' + s.variant : ''}`,
    inputs,
    forward: (x: Tensor, w: Tensor, b?: Tensor) => conv2d(x, w, b, { stride, padding, groups, variant: s.variant }),
    reference: (x, w, b) => conv2dRef(x, s.x, w, wShape, b ?? null, { stride, padding, groups }).data,
  };
}

function depthwiseCase(label: string, x: [number, number, number, number], k: [number, number], stride: number, padding: number, bias: boolean, variant?: ConvVariant): GradCase {
  const wShape = [k[0], k[1], x[3]];
  const inputs: InputSpec[] = [{ shape: x }, { shape: wShape }];
  if (bias) inputs.push({ shape: [x[3]] });
  return {
    op: 'depthwise_conv2d',
    case: `${label} x[${x}] w[${wShape}] s${stride} p${padding}${bias ? ' +bias' : ''}${variant ? ' ' + variant : ''}`,
    inputs,
    forward: (xt: Tensor, w: Tensor, b?: Tensor) => depthwiseConv2d(xt, w, b, { stride, padding, variant }),
    reference: (xh, w, b) => depthwiseConv2dRef(xh, x, w, wShape, b ?? null, { stride: [stride, stride], padding: [padding, padding] }).data,
  };
}

// Small shapes: the harness perturbs up to 48 elements per input, two forwards each.
export const cases: GradCase[] = [
  convCase('1x1', { x: [2, 3, 3, 4], k: [1, 1], cout: 8 }),
  convCase('1x1 plain', { x: [2, 3, 3, 4], k: [1, 1], cout: 8, variant: 'plain' }),
  convCase('3x3 s1 p1', { x: [1, 5, 5, 4], k: [3, 3], cout: 8, padding: 1, bias: true }),
  convCase('3x3 s1 p1', { x: [1, 5, 5, 4], k: [3, 3], cout: 8, padding: 1, bias: true, variant: 'plain' }),
  convCase('3x3 s2 p1 odd size', { x: [2, 7, 7, 4], k: [3, 3], cout: 4, stride: 2, padding: 1 }),
  convCase('3x3 s2 p1 odd size', { x: [2, 7, 7, 4], k: [3, 3], cout: 4, stride: 2, padding: 1, variant: 'plain' }),
  convCase('5x5', { x: [1, 7, 6, 2], k: [5, 5], cout: 4, padding: 2, bias: true }),
  convCase('7x7 s2', { x: [1, 9, 9, 3], k: [7, 7], cout: 4, stride: 2, padding: 3 }),
  convCase('non-square input', { x: [1, 7, 5, 4], k: [3, 3], cout: 4, padding: 1 }),
  convCase('non-square kernel', { x: [1, 6, 5, 4], k: [3, 1], cout: 8, padding: [1, 0], bias: true }),
  convCase('non-square stride', { x: [1, 7, 6, 4], k: [3, 2], cout: 4, stride: [2, 1], padding: [1, 0] }),
  convCase('groups=2', { x: [1, 5, 5, 8], k: [3, 3], cout: 8, padding: 1, groups: 2, bias: true }),
  convCase('groups=2 plain', { x: [1, 5, 5, 8], k: [3, 3], cout: 8, padding: 1, groups: 2, variant: 'plain' }),
  convCase('groups=2 odd group width', { x: [1, 4, 4, 6], k: [3, 3], cout: 6, padding: 1, groups: 2 }),
  convCase('MTCNN-like Cin=3 Cout=10', { x: [1, 6, 6, 3], k: [3, 3], cout: 10, bias: true }),
  convCase('fast path Cout=36 (two column blocks)', { x: [1, 4, 4, 8], k: [3, 3], cout: 36, padding: 1, bias: true }),
  convCase('stride 2 without padding, 1x1', { x: [1, 5, 5, 4], k: [1, 1], cout: 4, stride: 2 }),
  depthwiseCase('3x3 s1 p1', [1, 5, 5, 4], [3, 3], 1, 1, true),
  depthwiseCase('3x3 s1 p1', [1, 5, 5, 4], [3, 3], 1, 1, true, 'plain'),
  depthwiseCase('3x3 s2 p1 odd size', [2, 7, 7, 4], [3, 3], 2, 1, false),
  depthwiseCase('3x3 s1 p1 C=6', [1, 5, 5, 6], [3, 3], 1, 1, true),
  depthwiseCase('3x3 s2 p1 odd size C=6', [1, 7, 5, 6], [3, 3], 2, 1, true),
  depthwiseCase('3x3 s2 p1 odd size C=6', [1, 7, 5, 6], [3, 3], 2, 1, false, 'plain'),
  depthwiseCase('5x5 s1 p2', [1, 6, 6, 4], [5, 5], 1, 2, false),
  depthwiseCase('7x7 s1 p3 (largest row kernel)', [1, 7, 9, 4], [7, 7], 1, 3, true),
  depthwiseCase('1x9 s1 p0 (wider than the row kernels)', [1, 3, 11, 4], [1, 9], 1, 0, true),
  depthwiseCase('3x3 s1 p0', [2, 6, 5, 4], [3, 3], 1, 0, false),
  depthwiseCase('3x1 s3 p1 (stride past the kernel)', [1, 8, 10, 4], [3, 1], 3, 1, true),
  depthwiseCase('3x3 s2 p1 C=6 (input-gradient rows)', [1, 9, 10, 6], [3, 3], 2, 1, false),
  depthwiseCase('2x3 s1 p0 odd width (weight-gradient strips)', [2, 6, 10, 4], [2, 3], 1, 0, true),
  depthwiseCase('3x3 s2 p0 (input-gradient rows)', [1, 8, 9, 4], [3, 3], 2, 0, false),
  depthwiseCase('5x5 s2 p2 (input-gradient rows)', [1, 9, 11, 4], [5, 5], 2, 2, false),
];

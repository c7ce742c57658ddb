// relu, relu6 and prelu, forward and backward. Kernels: shaders/activation_body.wgsl,
// compiled for vec4 elements when the size allows (activation_vec4.wgsl) and
// for single floats otherwise (activation_f32.wgsl).
import { Tensor, record, shapeStr } from '../tensor.js';
import { kernel, dispatch, grid1d } from '../kernel.js';
import { columnSum } from './elementwise.js';
import { zeros } from './fill.js';

// As declared in activation_body.wgsl.
const WG = 256;
// Elems per thread of the prelu kernels (they walk channels).
const PRELU_ITEMS = 8;
const KIND = { relu: 0, relu6: 1 } as const;

/** Elements per thread and the shader compiled for it. */
function widthFor(size: number, vec4Allowed = true): { lanes: number; file: string } {
  return vec4Allowed && size % 4 === 0 ? { lanes: 4, file: 'activation_vec4.wgsl' } : { lanes: 1, file: 'activation_f32.wgsl' };
}

function checkF32(op: string, t: Tensor, name: string): void {
  if (t.dtype !== 'f32') throw new Error(`${op}: ${name} must be f32, got ${t.dtype} ${shapeStr(t.shape)}`);
}

function rectifier(op: keyof typeof KIND, x: Tensor): Tensor {
  checkF32(op, x, 'x');
  const { lanes, file } = widthFor(x.size);
  const n = x.size / lanes;
  const y = Tensor.empty(x.shape);
  if (n > 0) dispatch(kernel(file, 'forward', { KIND: KIND[op] }), { x, y, n }, grid1d(n, WG));
  return record(y, op, [x], (g) => {
    const dx = Tensor.empty(x.shape);
    if (n > 0) dispatch(kernel(file, 'backward', { KIND: KIND[op] }), { x, g, dx, n }, grid1d(n, WG));
    return [dx];
  });
}

/** max(x, 0) */
export function relu(x: Tensor): Tensor {
  return rectifier('relu', x);
}

/** min(max(x, 0), 6) */
export function relu6(x: Tensor): Tensor {
  return rectifier('relu6', x);
}

/**
 * x where x > 0, alpha * x elsewhere, with a learned slope per channel (alpha
 * [C], C the last axis of x) or one shared slope (alpha [1]).
 */
export function prelu(x: Tensor, alpha: Tensor): Tensor {
  checkF32('prelu', x, 'x');
  checkF32('prelu', alpha, 'alpha');
  const C = x.shape[x.rank - 1];
  const shared = alpha.rank === 1 && alpha.shape[0] === 1;
  if (x.rank === 0 || !(shared || (alpha.rank === 1 && alpha.shape[0] === C))) {
    throw new Error(`prelu: alpha ${shapeStr(alpha.shape)} must be [1] or match the ${C ?? 0} channels of x ${shapeStr(x.shape)}`);
  }
  const alphaLen = alpha.size;
  // A vec4 of elements spans 4 channels of one row only when C % 4 == 0.
  const { lanes, file } = widthFor(x.size, alphaLen === 1 || alphaLen % 4 === 0);
  const n = x.size / lanes;
  // The kernels walk channels (activation_body.wgsl): at least one thread per Elem of a row of slopes.
  const period = alphaLen === 1 ? 1 : alphaLen / lanes;
  const grid = grid1d(Math.max(period, Math.ceil(n / PRELU_ITEMS)), WG);
  const y = Tensor.empty(x.shape);
  if (n > 0) dispatch(kernel(file, 'prelu_forward'), { x, alpha, y, n, alpha_len: alphaLen }, grid);

  return record(y, 'prelu', [x, alpha], (g) => {
    const dx = Tensor.empty(x.shape);
    if (!alpha.requiresGrad) {
      if (n > 0) dispatch(kernel(file, 'prelu_backward_input'), { x, g, alpha, dx, n, alpha_len: alphaLen }, grid);
      return [dx, null];
    }
    if (n === 0) return [x.requiresGrad ? dx : null, zeros(alpha.shape)];
    const terms = Tensor.empty(x.shape);
    dispatch(kernel(file, 'prelu_backward'), { x, g, alpha, dx, alpha_terms: terms, n, alpha_len: alphaLen }, grid);
    // dL/dalpha sums the terms over every row (per channel) or over everything (shared).
    const dalpha = shared ? columnSum(terms, x.size, 1) : columnSum(terms, x.size / C, C);
    terms.dispose();
    if (!x.requiresGrad) dx.dispose();
    return [x.requiresGrad ? dx : null, dalpha];
  });
}

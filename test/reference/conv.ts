// CPU references for convolutions (tests and benchmarks only): plain loops over
// NHWC images and [kh, kw, Cin/groups, Cout] weights, accumulating in float64.

export interface ConvRefParams {
  stride: [number, number];
  padding: [number, number];
  groups: number;
  activation?: 'none' | 'relu' | 'relu6';
}

export interface ConvGeometry {
  N: number; H: number; W: number; Cin: number;
  kh: number; kw: number; Cout: number;
  Ho: number; Wo: number;
}

export function convGeometry(xShape: number[], wShape: number[], p: ConvRefParams): ConvGeometry {
  const [N, H, W, Cin] = xShape;
  const [kh, kw, , Cout] = wShape;
  const Ho = Math.floor((H + 2 * p.padding[0] - kh) / p.stride[0]) + 1;
  const Wo = Math.floor((W + 2 * p.padding[1] - kw) / p.stride[1]) + 1;
  return { N, H, W, Cin, kh, kw, Cout, Ho, Wo };
}

function activate(v: number, act: ConvRefParams['activation']): number {
  if (act === 'relu') return Math.max(v, 0);
  if (act === 'relu6') return Math.min(Math.max(v, 0), 6);
  return v;
}

/**
 * Calls `visit(outIndex, inIndex, weightIndex)` for every multiply-add of a
 * grouped convolution. The forward and both gradients are this one walk.
 */
function forEachTap(g: ConvGeometry, p: ConvRefParams, visit: (o: number, i: number, k: number) => void): void {
  const { N, H, W, Cin, kh, kw, Cout, Ho, Wo } = g;
  const cinG = Cin / p.groups;
  const coutG = Cout / p.groups;
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < Ho; oy++) {
      for (let ox = 0; ox < Wo; ox++) {
        for (let co = 0; co < Cout; co++) {
          const grp = Math.floor(co / coutG);
          const o = ((n * Ho + oy) * Wo + ox) * Cout + co;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * p.stride[0] - p.padding[0] + ky;
            if (iy < 0 || iy >= H) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * p.stride[1] - p.padding[1] + kx;
              if (ix < 0 || ix >= W) continue;
              for (let c = 0; c < cinG; c++) {
                const i = ((n * H + iy) * W + ix) * Cin + grp * cinG + c;
                const k = ((ky * kw + kx) * cinG + c) * Cout + co;
                visit(o, i, k);
              }
            }
          }
        }
      }
    }
  }
}

/** y[n, oy, ox, co] = act(bias[co] + sum x[n, oy*sh-ph+ky, ox*sw-pw+kx, g*cinG+c] * w[ky, kx, c, co]). */
export function conv2dRef(x: Float32Array, xShape: number[], w: Float32Array, wShape: number[], bias: Float32Array | null, p: ConvRefParams): { data: Float64Array; shape: number[] } {
  const g = convGeometry(xShape, wShape, p);
  const y = new Float64Array(g.N * g.Ho * g.Wo * g.Cout);
  forEachTap(g, p, (o, i, k) => { y[o] += x[i] * w[k]; });
  for (let o = 0; o < y.length; o++) y[o] = activate(y[o] + (bias ? bias[o % g.Cout] : 0), p.activation);
  return { data: y, shape: [g.N, g.Ho, g.Wo, g.Cout] };
}

/** Gradients of sum(conv2d(x, w) * gy) with respect to x and w. */
export function conv2dBackwardRef(x: Float32Array, xShape: number[], w: Float32Array, wShape: number[], gy: Float32Array, p: ConvRefParams): { gx: Float64Array; gw: Float64Array } {
  const g = convGeometry(xShape, wShape, p);
  const gx = new Float64Array(x.length);
  const gw = new Float64Array(w.length);
  forEachTap(g, p, (o, i, k) => {
    gx[i] += gy[o] * w[k];
    gw[k] += gy[o] * x[i];
  });
  return { gx, gw };
}

/**
 * Depthwise convolution, channel multiplier 1: w is [kh, kw, C] and channel c
 * of the output sees only channel c of the input. Those weights are, in the
 * same memory order, grouped-conv weights [kh, kw, 1, C] with groups = C.
 */
export function depthwiseConv2dRef(x: Float32Array, xShape: number[], w: Float32Array, wShape: number[], bias: Float32Array | null, p: Omit<ConvRefParams, 'groups'>): { data: Float64Array; shape: number[] } {
  const C = xShape[3];
  return conv2dRef(x, xShape, w, [wShape[0], wShape[1], 1, C], bias, { ...p, groups: C });
}

// CPU references of the optimisers (tests only): PyTorch's update rules for one
// parameter, written as plain float64 loops that follow torch/optim/sgd.py and
// adam.py / adamw.py (single-tensor, non-foreach paths) line by line.

export interface SGDRef {
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
}

/** One SGD step in place on p; `state.buf` is created on the first step, as in PyTorch. */
export function sgdStep(p: Float64Array, grad: ArrayLike<number>, state: { buf?: Float64Array }, o: SGDRef): void {
  const g = Float64Array.from(grad, (v, i) => v + o.weightDecay * p[i]);
  let d: Float64Array = g;
  if (o.momentum !== 0) {
    if (!state.buf) state.buf = Float64Array.from(g);
    else for (let i = 0; i < g.length; i++) state.buf[i] = o.momentum * state.buf[i] + (1 - o.dampening) * g[i];
    d = o.nesterov ? Float64Array.from(g, (v, i) => v + o.momentum * state.buf![i]) : state.buf;
  }
  for (let i = 0; i < p.length; i++) p[i] -= o.lr * d[i];
}

export interface AdamRef {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** AdamW: weight decay shrinks the parameter instead of adding to the gradient. */
  decoupled: boolean;
}

export interface AdamState {
  step: number;
  m: Float64Array;
  v: Float64Array;
}

export function adamState(n: number): AdamState {
  return { step: 0, m: new Float64Array(n), v: new Float64Array(n) };
}

/** One Adam / AdamW step in place on p. */
export function adamStep(p: Float64Array, grad: ArrayLike<number>, s: AdamState, o: AdamRef): void {
  s.step++;
  if (o.decoupled) for (let i = 0; i < p.length; i++) p[i] *= 1 - o.lr * o.weightDecay;
  const bc1 = 1 - o.beta1 ** s.step;
  const bc2 = 1 - o.beta2 ** s.step;
  for (let i = 0; i < p.length; i++) {
    const g = o.decoupled ? grad[i] : grad[i] + o.weightDecay * p[i];
    s.m[i] = o.beta1 * s.m[i] + (1 - o.beta1) * g;
    s.v[i] = o.beta2 * s.v[i] + (1 - o.beta2) * g * g;
    const denom = Math.sqrt(s.v[i]) / Math.sqrt(bc2) + o.eps;
    p[i] -= (o.lr / bc1) * (s.m[i] / denom);
  }
}

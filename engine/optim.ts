// Optimisers with PyTorch's update rules. Each step is one fused WGSL dispatch
// per parameter tensor (read the gradient, update the moments, write the
// parameter, all in place), recorded like any op: step() never waits for the GPU.
//
//   const opt = new AdamW(model.namedParameters(), { lr: 1e-3, weightDecay: 1e-2 });
//   loss.backward(); opt.step(); opt.zeroGrad();
//
// State (momentum buffers, Adam moments) is created on a parameter's first step
// with a gradient; each parameter counts its own steps, as in PyTorch, so a
// parameter that sat out a step (no .grad) gets its own bias correction.
import { Tensor, keep, shapeStr } from './tensor.js';
import { kernel, dispatch, grid1d } from './kernel.js';
import { fill } from './ops/fill.js';
import { copyInto, StateProblems, type StateValue } from './nn/module.js';

/** Parameters as a list (state keyed by index) or by name, e.g. `module.namedParameters()`. */
export type ParamsInput = Iterable<Tensor> | Map<string, Tensor>;

/** Everything needed to resume training exactly (with the same parameters and hyper-parameters). */
export interface OptimizerState {
  type: string;
  lr: number;
  /** The constructor's other options; a resumed optimiser must have the same. */
  hyper: Record<string, number | boolean>;
  /** Steps taken by each parameter, by key (its name, or its index in a plain list). */
  steps: Record<string, number>;
  /** State tensors named `${key}.${slot}`, e.g. `conv1.weight.exp_avg`. The live tensors, not copies. */
  tensors: Map<string, Tensor>;
}

export interface OptimizerStateInput extends Omit<OptimizerState, 'tensors'> {
  tensors: Map<string, StateValue> | Record<string, StateValue>;
}

interface ParamEntry {
  key: string;
  param: Tensor;
  steps: number;
  state: Map<string, Tensor>;
}

const WG = 256;

function checkNumber(opt: string, name: string, v: number, lo: number, hi = Infinity): void {
  if (typeof v !== 'number' || !(v >= lo && v <= hi)) throw new Error(`${opt}: ${name} must be in [${lo}, ${hi}], got ${v}`);
}

export abstract class Optimizer {
  private rate = 0;
  protected readonly entries: ParamEntry[];

  protected constructor(
    readonly type: string,
    params: ParamsInput,
    lr: number,
    /** Names of the per-parameter state tensors. */
    protected readonly slots: readonly string[],
  ) {
    this.lr = lr;
    const named: [string, Tensor][] = params instanceof Map ? [...params] : [...params].map((p, i) => [String(i), p]);
    if (named.length === 0) throw new Error(`${type}: no parameters to optimise`);
    const seen = new Set<Tensor>();
    for (const [key, p] of named) {
      const what = `${type}: parameter ${key} ${p instanceof Tensor ? shapeStr(p.shape) : ''}`;
      if (!(p instanceof Tensor)) throw new Error(`${what} is not a Tensor`);
      if (p.node) throw new Error(`${what} is the output of an op; only leaf tensors can be optimised`);
      if (!p.requiresGrad) throw new Error(`${what} does not require grad`);
      if (p.dtype !== 'f32') throw new Error(`${what} is ${p.dtype}; only f32 tensors can be optimised`);
      if (seen.has(p)) throw new Error(`${what} is listed twice`);
      seen.add(p);
    }
    this.entries = named.map(([key, param]) => ({ key, param, steps: 0, state: new Map() }));
  }

  get lr(): number {
    return this.rate;
  }

  /** Settable between steps (learning-rate schedules). */
  set lr(v: number) {
    checkNumber(this.type, 'lr', v, 0);
    this.rate = v;
  }

  /** Records one update of every parameter that has a gradient. */
  step(): void {
    for (const e of this.entries) {
      const g = e.param.grad;
      if (!g) continue;
      if (g.shape.length !== e.param.shape.length || g.shape.some((d, i) => d !== e.param.shape[i])) {
        throw new Error(`${this.type}: gradient ${shapeStr(g.shape)} of parameter ${e.key} does not match its shape ${shapeStr(e.param.shape)}`);
      }
      if (e.steps === 0) {
        for (const s of this.slots) e.state.set(s, keep(this.initialState(e.param)));
      }
      e.steps++;
      if (e.param.size > 0) this.update(e, g);
    }
  }

  /** Drops every parameter's gradient (the next backward starts from none). */
  zeroGrad(): void {
    for (const e of this.entries) e.param.zeroGrad();
  }

  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    const steps: Record<string, number> = {};
    for (const e of this.entries) {
      steps[e.key] = e.steps;
      for (const [s, t] of e.state) tensors.set(`${e.key}.${s}`, t);
    }
    return { type: this.type, lr: this.lr, hyper: this.hyper(), steps, tensors };
  }

  /**
   * Restores step counts, state tensors (copied into this optimiser's own) and
   * lr. Checks everything first and throws one message naming each problem.
   */
  loadStateDict(state: OptimizerStateInput, source = `${this.type}.loadStateDict`): void {
    const problems = new StateProblems();
    if (state.type !== this.type) problems.add('', `saved by ${state.type}, loading into ${this.type}`);
    const hyper = this.hyper();
    for (const k of new Set([...Object.keys(hyper), ...Object.keys(state.hyper ?? {})])) {
      if (state.hyper?.[k] !== hyper[k]) problems.add('', `${k} saved ${state.hyper?.[k]} now ${hyper[k]}`);
    }
    if (typeof state.lr !== 'number' || !(state.lr >= 0)) problems.add('', `lr is ${state.lr}`);
    const given = state.tensors instanceof Map ? state.tensors : new Map(Object.entries(state.tensors));
    const expected = new Set<string>();
    for (const e of this.entries) {
      const steps = Object.hasOwn(state.steps, e.key) ? state.steps[e.key] : undefined;
      if (steps === undefined) {
        problems.add('missing', `steps of ${e.key}`);
        continue;
      }
      if (!Number.isSafeInteger(steps) || steps < 0) problems.add('', `steps of ${e.key} is ${steps}`);
      if (!(steps > 0)) continue;
      for (const s of this.slots) {
        const name = `${e.key}.${s}`;
        expected.add(name);
        const v = given.get(name);
        if (v === undefined) problems.add('missing', name);
        else problems.checkValue(name, e.param, v);
      }
    }
    const keys = new Set(this.entries.map((e) => e.key));
    for (const k of Object.keys(state.steps)) if (!keys.has(k)) problems.add('unexpected', `steps of ${k}`);
    for (const k of given.keys()) if (!expected.has(k)) problems.add('unexpected', k);
    problems.throwIfAny(source);

    for (const e of this.entries) {
      e.steps = state.steps[e.key];
      if (e.steps === 0) {
        for (const t of e.state.values()) t.dispose();
        e.state.clear();
        continue;
      }
      for (const s of this.slots) {
        let t = e.state.get(s);
        if (!t) e.state.set(s, (t = keep(Tensor.empty(e.param.shape))));
        copyInto(t, given.get(`${e.key}.${s}`)!);
      }
    }
    this.lr = state.lr;
  }

  /** Frees the state tensors (not the parameters). */
  dispose(): void {
    for (const e of this.entries) {
      for (const t of e.state.values()) t.dispose();
      e.state.clear();
      e.steps = 0;
    }
  }

  protected abstract hyper(): Record<string, number | boolean>;
  protected abstract initialState(param: Tensor): Tensor;
  /** Records the update of one parameter; `e.steps` already counts this step. */
  protected abstract update(e: ParamEntry, grad: Tensor): void;
}

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

/** Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay, as torch.optim.SGD. */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;

  constructor(params: ParamsInput, opts: SGDOptions) {
    const momentum = opts.momentum ?? 0;
    super('SGD', params, opts.lr, momentum === 0 ? [] : ['momentum_buffer']);
    this.momentum = momentum;
    this.dampening = opts.dampening ?? 0;
    this.nesterov = opts.nesterov ?? false;
    this.weightDecay = opts.weightDecay ?? 0;
    checkNumber('SGD', 'momentum', this.momentum, 0);
    checkNumber('SGD', 'dampening', this.dampening, 0, 1);
    checkNumber('SGD', 'weightDecay', this.weightDecay, 0);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new Error('SGD: nesterov needs momentum > 0 and dampening 0');
    }
  }

  protected hyper() {
    return { momentum: this.momentum, dampening: this.dampening, nesterov: this.nesterov, weightDecay: this.weightDecay };
  }

  protected initialState(param: Tensor): Tensor {
    // The kernel's first step overwrites it without reading it.
    return Tensor.empty(param.shape);
  }

  protected update(e: ParamEntry, grad: Tensor): void {
    const n = e.param.size;
    const args = {
      param: e.param,
      grad,
      n,
      lr: this.lr,
      weight_decay: this.weightDecay,
      momentum: this.momentum,
      dampening: this.dampening,
      nesterov: this.nesterov ? 1 : 0,
      first_step: e.steps === 1 ? 1 : 0,
    };
    if (this.momentum === 0) dispatch(kernel('optim_sgd.wgsl', 'plain'), args, grid1d(n, WG));
    else dispatch(kernel('optim_sgd.wgsl', 'with_momentum'), { ...args, momentum_buf: e.state.get('momentum_buffer')! }, grid1d(n, WG));
  }
}

export interface AdamOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

abstract class AdamFamily extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;

  protected constructor(type: string, params: ParamsInput, opts: AdamOptions, private readonly decoupled: boolean) {
    super(type, params, opts.lr, ['exp_avg', 'exp_avg_sq']);
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? (decoupled ? 1e-2 : 0);
    checkNumber(type, 'betas[0]', this.beta1, 0, 1 - Number.EPSILON);
    checkNumber(type, 'betas[1]', this.beta2, 0, 1 - Number.EPSILON);
    checkNumber(type, 'eps', this.eps, 0);
    checkNumber(type, 'weightDecay', this.weightDecay, 0);
  }

  protected hyper() {
    return { beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay };
  }

  protected initialState(param: Tensor): Tensor {
    return fill(param.shape, 0);
  }

  protected update(e: ParamEntry, grad: Tensor): void {
    const t = e.steps;
    const n = e.param.size;
    dispatch(
      kernel('optim_adam.wgsl'),
      {
        param: e.param,
        grad,
        exp_avg: e.state.get('exp_avg')!,
        exp_avg_sq: e.state.get('exp_avg_sq')!,
        n,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        step_size: this.lr / (1 - this.beta1 ** t),
        inv_sqrt_bc2: 1 / Math.sqrt(1 - this.beta2 ** t),
        l2: this.decoupled ? 0 : this.weightDecay,
        decay: this.decoupled ? 1 - this.lr * this.weightDecay : 1,
      },
      grid1d(n, WG),
    );
  }
}

/** Adam with L2 weight decay added to the gradient, as torch.optim.Adam (weightDecay defaults to 0). */
export class Adam extends AdamFamily {
  constructor(params: ParamsInput, opts: AdamOptions) {
    super('Adam', params, opts, false);
  }
}

/** Adam with decoupled weight decay, as torch.optim.AdamW (weightDecay defaults to 0.01, PyTorch's default). */
export class AdamW extends AdamFamily {
  constructor(params: ParamsInput, opts: AdamOptions) {
    super('AdamW', params, opts, true);
  }
}

// A minimal module system: a Module owns named parameters (trained leaf
// tensors), named buffers (state that is saved but not trained, such as
// batchnorm running statistics) and named child modules, all registered
// explicitly:
//
//   class Affine extends Module {
//     readonly weight = this.param('weight', Tensor.from([1, 1, 1]));
//     readonly bias = this.param('bias', Tensor.from([0, 0, 0]));
//   }
//   class Net extends Module {
//     readonly fc1 = this.child('fc1', new Affine());
//   }
//
// Registration is explicit rather than discovered from fields so that the
// saved names and their order are exactly what the code says, and a tensor
// held in a field for other reasons (a cached constant) never lands in a file.
import { Tensor, keep, shapeStr } from '../tensor.js';
import { runtime } from '../runtime.js';
import type { HostTensor } from '../safetensors.js';

/** A value to load into a tensor: another GPU tensor, or host data (e.g. from a safetensors file). */
export type StateValue = Tensor | HostTensor;
export type StateDictInput = Map<string, StateValue> | Record<string, StateValue>;

export interface LoadOptions {
  /** Reject missing and unexpected names (default true). Mismatched shapes are always rejected. */
  strict?: boolean;
  /** Starts the error message (a file name); default "loadStateDict". */
  source?: string;
}

export interface LoadReport {
  missing: string[];
  unexpected: string[];
}

const NAME = /^[A-Za-z0-9_]+$/;

export class Module {
  /** Training mode (batchnorm batch statistics, dropout); set recursively by train()/eval(). */
  training = true;
  private readonly ownParams = new Map<string, Tensor>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  private checkName(kind: string, name: string): void {
    if (!NAME.test(name)) throw new Error(`${this.constructor.name}.${kind}("${name}"): names are letters, digits and _ (dots join nested names)`);
    if (this.ownParams.has(name) || this.ownBuffers.has(name) || this.children.has(name)) {
      throw new Error(`${this.constructor.name}.${kind}("${name}"): the name is already registered`);
    }
  }

  /** Registers a trainable parameter: a leaf f32 tensor, marked requiresGrad and kept out of tidy() scopes. */
  param(name: string, t: Tensor): Tensor {
    this.checkName('param', name);
    if (!(t instanceof Tensor)) throw new Error(`${this.constructor.name}.param("${name}"): not a Tensor`);
    if (t.node) throw new Error(`${this.constructor.name}.param("${name}"): ${t} is the output of an op; parameters are leaf tensors`);
    if (t.dtype !== 'f32') throw new Error(`${this.constructor.name}.param("${name}"): parameters are f32, got ${t.dtype}`);
    t.requireGrad();
    t.name ??= name;
    this.ownParams.set(name, keep(t));
    return t;
  }

  /** Registers saved, untrained state (kept out of tidy() scopes); ops update it in place. */
  buffer(name: string, t: Tensor): Tensor {
    this.checkName('buffer', name);
    if (!(t instanceof Tensor)) throw new Error(`${this.constructor.name}.buffer("${name}"): not a Tensor`);
    t.name ??= name;
    this.ownBuffers.set(name, keep(t));
    return t;
  }

  child<M extends Module>(name: string, m: M): M {
    this.checkName('child', name);
    if (!(m instanceof Module)) throw new Error(`${this.constructor.name}.child("${name}"): not a Module`);
    if ((m as Module) === this) throw new Error(`${this.constructor.name}.child("${name}"): a module cannot contain itself`);
    this.children.set(name, m);
    return m;
  }

  train(on = true): this {
    this.training = on;
    for (const c of this.children.values()) c.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  namedChildren(): Map<string, Module> {
    return new Map(this.children);
  }

  /** Every parameter once (a tensor shared by two modules appears under its first name), with dotted names. */
  namedParameters(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    const seen = new Set<Tensor>();
    for (const [name, t] of this.walk('params')) {
      if (!seen.has(t)) out.set(name, t);
      seen.add(t);
    }
    return out;
  }

  parameters(): Tensor[] {
    return [...this.namedParameters().values()];
  }

  namedBuffers(): Map<string, Tensor> {
    return new Map(this.walk('buffers'));
  }

  /** Parameters and buffers by dotted name (`conv1.weight`): the live tensors, not copies. */
  stateDict(): Map<string, Tensor> {
    return new Map(this.walk('both'));
  }

  /**
   * Copies values into this module's existing tensors (the tensor objects stay
   * the same). Checks everything before copying anything, and throws one
   * message naming every missing, unexpected and mis-shaped entry.
   */
  loadStateDict(dict: StateDictInput, opts: LoadOptions = {}): LoadReport {
    const strict = opts.strict ?? true;
    const given = dict instanceof Map ? dict : new Map(Object.entries(dict));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !given.has(k));
    const unexpected = [...given.keys()].filter((k) => !own.has(k));
    const problems = new StateProblems();
    if (strict) {
      for (const k of missing) problems.add('missing', k);
      for (const k of unexpected) problems.add('unexpected', k);
    }
    for (const [name, target] of own) {
      const v = given.get(name);
      if (v !== undefined) problems.checkValue(name, target, v);
    }
    problems.throwIfAny(opts.source ?? 'loadStateDict');
    for (const [name, target] of own) {
      const v = given.get(name);
      if (v !== undefined) copyInto(target, v);
    }
    this.dropDerived();
    return { missing, unexpected };
  }

  /**
   * Drops anything a module derived from its weights and cached (inference
   * forms such as batchnorm-folded weights), recursively. loadStateDict()
   * calls it; call it after changing weights in place any other way.
   */
  dropDerived(): void {
    for (const c of this.children.values()) c.dropDerived();
  }

  /** Disposes every parameter and buffer, their gradients and whatever was derived from them, recursively. */
  dispose(): void {
    this.dropDerived();
    for (const [, t] of this.walk('both')) {
      t.grad?.dispose();
      t.grad = null;
      t.dispose();
    }
  }

  private *walk(what: 'params' | 'buffers' | 'both', prefix = ''): Generator<[string, Tensor]> {
    if (what !== 'buffers') for (const [n, t] of this.ownParams) yield [prefix + n, t];
    if (what !== 'params') for (const [n, t] of this.ownBuffers) yield [prefix + n, t];
    for (const [n, c] of this.children) yield* c.walk(what, `${prefix}${n}.`);
  }
}

type ValueProblem = { group: 'shape mismatch' | 'dtype mismatch' | 'not a tensor'; detail: string };

/** Why `value` cannot be copied into `target`, or null if it can. */
function valueProblem(target: Tensor, value: StateValue): ValueProblem | null {
  const host = value as Partial<HostTensor> | null;
  if (!(value instanceof Tensor) && !(Array.isArray(host?.shape) && ArrayBuffer.isView(host?.data))) {
    return { group: 'not a tensor', detail: 'is neither a Tensor nor { dtype, shape, data }' };
  }
  const shape = value.shape;
  if (shape.length !== target.shape.length || shape.some((d, i) => d !== target.shape[i])) {
    return { group: 'shape mismatch', detail: `expected ${shapeStr(target.shape)} got ${shapeStr(shape)}` };
  }
  if (!(value instanceof Tensor) && value.data.length !== target.size) {
    return { group: 'shape mismatch', detail: `has ${value.data.length} values for ${shapeStr(shape)}` };
  }
  if (value.dtype !== target.dtype) return { group: 'dtype mismatch', detail: `expected ${target.dtype} got ${value.dtype}` };
  return null;
}

const GROUP_ORDER = ['', 'missing', 'unexpected', 'shape mismatch', 'dtype mismatch', 'not a tensor'];

/**
 * Collects everything wrong with a state dict so one error names it all:
 * "model.safetensors: missing: a, b; unexpected: c; shape mismatch: d expected [2] got [3]".
 */
export class StateProblems {
  private readonly groups = new Map<string, string[]>();

  /** `group` '' is for free-standing remarks, listed first. */
  add(group: string, item: string): void {
    const list = this.groups.get(group) ?? [];
    list.push(item);
    this.groups.set(group, list);
  }

  checkValue(name: string, target: Tensor, value: StateValue): void {
    const p = valueProblem(target, value);
    if (p) this.add(p.group, `${name} ${p.detail}`);
  }

  throwIfAny(source: string): void {
    if (!this.groups.size) return;
    const order = (g: string) => (GROUP_ORDER.includes(g) ? GROUP_ORDER.indexOf(g) : GROUP_ORDER.length);
    const parts = [...this.groups]
      .sort(([a], [b]) => order(a) - order(b))
      .map(([group, items]) => (group ? `${group}: ${items.join(', ')}` : items.join('; ')));
    throw new Error(`${source}: ${parts.join('; ')}`);
  }
}

/** Copies a same-shaped value into an existing tensor, recorded in order with the surrounding ops. */
export function copyInto(target: Tensor, value: StateValue): void {
  const p = valueProblem(target, value);
  if (p) throw new Error(`copyInto ${target.name ?? String(target)}: ${p.group}: ${p.detail}`);
  if (value === target || target.size === 0) return;
  const src = value instanceof Tensor ? value : Tensor.from(value.data, value.shape, value.dtype);
  runtime().recorder.copy(src.buffer, 0, target.buffer, 0, target.byteLength);
  // The copy is recorded before anything that could reuse the released buffer.
  if (src !== value) src.dispose();
}

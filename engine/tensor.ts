// GPU-resident tensors.
//
// Layout: dense, row-major, and image tensors are NHWC (channels last).
// Channels last puts the reduction axis of a convolution (kh*kw*Cin) and its
// output axis (Cout) contiguous in memory, so conv kernels read and write whole
// vec4s of channels, batchnorm/bias/PReLU index their channel as `i % C`, and
// concat along channels is a strided copy of rows. Convolution weights are
// stored [kh, kw, Cin/groups, Cout] for the same reason; loaders convert from
// PyTorch's [Cout, Cin, kh, kw].
//
// Memory: a tensor holds one pooled buffer until `dispose()`. `tidy(fn)` disposes
// every tensor created inside fn except those it returns; a tensor that is
// garbage-collected undisposed gives its buffer back to the pool as a safety net.
import { runtime, raisePendingErrors } from './runtime.js';
import { gpuWait } from './gpu-wait.js';
import type { BufferLike } from './kernel.js';
import { backward as runBackward } from './autograd.js';

export type DType = 'f32' | 'i32' | 'u32';
export type Shape = readonly number[];
export type TypedArrayOf<D extends DType> = D extends 'f32' ? Float32Array : D extends 'i32' ? Int32Array : Uint32Array;

export interface GradNode {
  op: string;
  inputs: Tensor[];
  /** Given dL/d(output), returns dL/d(input) for each input (null where none is needed). */
  backward: (grad: Tensor) => (Tensor | null)[];
}

const finalizer = new FinalizationRegistry<{ buffer: GPUBuffer; device: GPUDevice }>((held) => {
  try {
    const rt = runtime();
    if (rt.device === held.device) rt.pool.release(held.buffer);
  } catch {
    /* engine shut down */
  }
});

let gradEnabled = true;
const scopes: Set<Tensor>[] = [];

export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export class Tensor implements BufferLike {
  readonly shape: Shape;
  readonly size: number;
  readonly dtype: DType;
  requiresGrad = false;
  grad: Tensor | null = null;
  node: GradNode | null = null;
  name?: string;
  private buf: GPUBuffer | null;

  constructor(shape: Shape, dtype: DType = 'f32', buffer?: GPUBuffer) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`invalid tensor shape ${shapeStr(shape)}`);
    }
    const rt = runtime();
    this.shape = [...shape];
    this.size = shapeSize(shape);
    this.dtype = dtype;
    this.buf = buffer ?? rt.pool.acquire(this.size * 4);
    finalizer.register(this, { buffer: this.buf, device: rt.device }, this);
    scopes[scopes.length - 1]?.add(this);
  }

  get buffer(): GPUBuffer {
    if (!this.buf) throw new Error(`tensor${this.name ? ' ' + this.name : ''} ${shapeStr(this.shape)} was disposed`);
    return this.buf;
  }

  get byteLength(): number {
    return this.size * 4;
  }

  get rank(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this.buf === null;
  }

  /** Allocates an uninitialised tensor. */
  static empty(shape: Shape, dtype: DType = 'f32'): Tensor {
    return new Tensor(shape, dtype);
  }

  /** Uploads host data. The copy is recorded in order with the ops around it. */
  static from(data: ArrayLike<number>, shape: Shape = [data.length], dtype: DType = 'f32'): Tensor {
    const n = shapeSize(shape);
    if (data.length !== n) throw new Error(`Tensor.from: ${data.length} values do not fill shape ${shapeStr(shape)}`);
    const t = new Tensor(shape, dtype);
    if (n > 0) upload(t, data);
    return t;
  }

  static scalar(v: number): Tensor {
    return Tensor.from([v], []);
  }

  /** Reads the values back to the CPU (the only place data leaves the GPU). */
  async data(): Promise<TypedArrayOf<DType>> {
    return readBuffer(this.buffer, this.size, this.dtype);
  }

  /** Shortcut for one-element tensors. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item() needs a one-element tensor, got ${shapeStr(this.shape)}`);
    return (await this.data())[0];
  }

  dispose(): void {
    if (!this.buf) return;
    // A view borrows its base's buffer and gives nothing back.
    if (!(this as any).viewOf) {
      finalizer.unregister(this);
      runtime().pool.release(this.buf);
    }
    this.buf = null;
    this.node = null;
    for (const s of scopes) s.delete(this);
  }

  /** Marks a leaf as needing gradients (parameters, gradcheck inputs). */
  requireGrad(on = true): this {
    if (this.node) throw new Error('requireGrad() is for leaf tensors; this one is the output of an op');
    this.requiresGrad = on;
    return this;
  }

  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  /** Reverse-mode autograd from this tensor (a scalar loss, or with an explicit seed gradient). */
  backward(seed?: Tensor): void {
    runBackward(this, seed);
  }

  /** A view with a new shape over the same buffer (no copy, no kernel). */
  reshapeView(shape: Shape): Tensor {
    const target = resolveShape(shape, this.size);
    const v = Object.create(Tensor.prototype) as Tensor;
    Object.assign(v, { shape: target, size: this.size, dtype: this.dtype, requiresGrad: false, grad: null, node: null });
    (v as any).buf = this.buffer;
    (v as any).viewOf = this;
    return v;
  }

  toString(): string {
    return `Tensor${shapeStr(this.shape)}${this.dtype === 'f32' ? '' : ' ' + this.dtype}`;
  }
}

/** Resolves one -1 entry in a requested shape. */
export function resolveShape(shape: Shape, size: number): number[] {
  const out = [...shape];
  const free = out.indexOf(-1);
  const known = out.reduce((a, d) => (d === -1 ? a : a * d), 1);
  if (free >= 0) {
    if (out.lastIndexOf(-1) !== free || known === 0 || size % known !== 0) {
      throw new Error(`cannot reshape ${size} elements to ${shapeStr(shape)}`);
    }
    out[free] = size / known;
  }
  if (shapeSize(out) !== size) throw new Error(`cannot reshape ${size} elements to ${shapeStr(shape)}`);
  return out;
}

function upload(t: Tensor, data: ArrayLike<number>): void {
  const rt = runtime();
  const bytes = t.size * 4;
  const staging = rt.device.createBuffer({ size: Math.ceil(bytes / 4) * 4, usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC, mappedAtCreation: true });
  const range = staging.getMappedRange();
  if (t.dtype === 'f32') new Float32Array(range).set(data);
  else if (t.dtype === 'i32') new Int32Array(range).set(data);
  else new Uint32Array(range).set(data);
  staging.unmap();
  rt.recorder.copy(staging, 0, t.buffer, 0, bytes);
  rt.recorder.afterSubmit(() => staging.destroy());
}

export async function readBuffer<D extends DType>(buffer: GPUBuffer, count: number, dtype: D): Promise<TypedArrayOf<D>> {
  const rt = runtime();
  const bytes = count * 4;
  if (bytes === 0) return (dtype === 'f32' ? new Float32Array(0) : dtype === 'i32' ? new Int32Array(0) : new Uint32Array(0)) as TypedArrayOf<D>;
  const staging = rt.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  rt.recorder.copy(buffer, 0, staging, 0, bytes);
  rt.recorder.flush();
  try {
    await gpuWait(() => staging.mapAsync(GPUMapMode.READ));
  } catch (e) {
    throw new Error(`readback failed: ${rt.ctx.lostReason ?? (e as Error).message}`);
  }
  const copy = staging.getMappedRange().slice(0);
  staging.unmap();
  staging.destroy();
  raisePendingErrors(rt);
  return (dtype === 'f32' ? new Float32Array(copy) : dtype === 'i32' ? new Int32Array(copy) : new Uint32Array(copy)) as TypedArrayOf<D>;
}

// ---- grad mode -------------------------------------------------------------

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording the graph (inference, optimiser steps, backward itself). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** noGrad for an async body (inference pipelines that read back between stages). Bodies must not interleave. */
export async function noGradAsync<T>(fn: () => Promise<T>): Promise<T> {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return await fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Attaches the backward of an op to its output when any input needs gradients. */
export function record(out: Tensor, op: string, inputs: Tensor[], backward: GradNode['backward']): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward };
  }
  return out;
}

// ---- scopes ----------------------------------------------------------------

type Keepable = Tensor | readonly Keepable[] | { [k: string]: Keepable } | unknown;

function collect(v: Keepable, into: Set<Tensor>): void {
  if (v instanceof Tensor) into.add(v);
  else if (Array.isArray(v)) for (const x of v) collect(x, into);
  else if (v && typeof v === 'object' && !(v instanceof Promise)) for (const x of Object.values(v)) collect(x, into);
}

function closeScope(scope: Set<Tensor>, result: unknown): void {
  const kept = new Set<Tensor>();
  collect(result, kept);
  for (const t of scope) if (!kept.has(t)) t.dispose();
  const parent = scopes[scopes.length - 1];
  if (parent) for (const t of kept) if (!t.disposed) parent.add(t);
}

/** Disposes every tensor created inside fn except the ones fn returns (and kept ones). */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  closeScope(scope, result);
  return result;
}

/** `tidy` for async bodies; scopes must not interleave (run steps one at a time). */
export async function tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = await fn();
  } finally {
    const i = scopes.lastIndexOf(scope);
    if (i >= 0) scopes.splice(i, 1);
  }
  closeScope(scope, result);
  return result;
}

/** Takes tensors out of every scope so no tidy() disposes them (parameters, state, grads). */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

// Process-wide engine state: the device, the buffer pool and the recorder.
// `await init()` once; everything after that records synchronously, and only
// readbacks (`await tensor.data()`) and `await sync()` wait for the GPU.
import { acquireDevice, adapterDescription, type DeviceOptions, type GpuContext } from './device.js';
import { BufferPool, type PoolStats } from './pool.js';
import { Recorder } from './recorder.js';
import { gpuWait } from './gpu-wait.js';

export interface Runtime {
  ctx: GpuContext;
  device: GPUDevice;
  limits: GPUSupportedLimits;
  pool: BufferPool;
  recorder: Recorder;
  /** Adapter family used to pick kernel variants: 'software' (CPU rasteriser) or 'gpu'. */
  family: 'software' | 'gpu';
  hasSubgroups: boolean;
  subgroupSize: number;
  /** Errors from asynchronous pipeline validation, raised at the next sync point. */
  pendingErrors: Error[];
  description: string;
}

let current: Runtime | null = null;
let starting: Promise<Runtime> | null = null;

export async function init(opts: DeviceOptions = {}): Promise<Runtime> {
  if (current) return current;
  if (starting) return starting;
  starting = (async () => {
    const ctx = await acquireDevice(opts);
    const info = ctx.info as GPUAdapterInfo & { isFallbackAdapter?: boolean; subgroupMinSize?: number };
    const software = info.architecture === 'software' || /llvmpipe|lavapipe|swiftshader|warp/i.test(adapterDescription(ctx)) || !!info.isFallbackAdapter;
    const recorder = new Recorder(ctx.device, ctx.limits.minUniformBufferOffsetAlignment);
    const rt: Runtime = {
      ctx,
      device: ctx.device,
      limits: ctx.limits,
      pool: new BufferPool(ctx.device, ctx.limits.maxBufferSize, (buf) => recorder.afterSubmit(() => buf.destroy())),
      recorder,
      family: software ? 'software' : 'gpu',
      hasSubgroups: ctx.features.has('subgroups'),
      subgroupSize: info.subgroupMinSize ?? 0,
      pendingErrors: [],
      description: adapterDescription(ctx),
    };
    current = rt;
    return rt;
  })();
  try {
    return await starting;
  } finally {
    starting = null;
  }
}

export function runtime(): Runtime {
  if (!current) throw new Error('engine not initialised: call `await init()` first');
  if (current.ctx.lostReason) throw new Error(current.ctx.lostReason);
  return current;
}

export function isInitialised(): boolean {
  return current !== null;
}

export function raisePendingErrors(rt: Runtime): void {
  if (rt.pendingErrors.length) {
    const errs = rt.pendingErrors.splice(0);
    throw errs.length === 1 ? errs[0] : new Error(errs.map((e) => e.message).join('\n'));
  }
}

/** Submits everything recorded and waits until the GPU has finished it. */
export async function sync(): Promise<void> {
  const rt = runtime();
  rt.recorder.flush();
  await gpuWait(() => rt.device.queue.onSubmittedWorkDone());
  // Pipeline validation resolves asynchronously; give its promises a turn.
  await new Promise((r) => setImmediate(r));
  raisePendingErrors(rt);
}

/** Submits what was recorded without waiting. */
export function flush(): void {
  runtime().recorder.flush();
}

export function poolStats(): PoolStats {
  return runtime().pool.getStats();
}

/** Destroys the device so the process can exit. Safe to call twice. */
export async function shutdown(): Promise<void> {
  if (starting) await starting.catch(() => undefined);
  const rt = current;
  if (!rt) return;
  current = null;
  try {
    rt.recorder.flush();
    await gpuWait(() => rt.device.queue.onSubmittedWorkDone());
  } catch {
    /* device already lost */
  }
  rt.recorder.destroy();
  rt.pool.trim();
  rt.device.destroy();
}

// Records every op into one shared command encoder; `flush()` submits once.
//
// Each dispatch gets its uniform values from a per-flush arena: a few 64 KiB
// uniform buffers filled on the CPU and uploaded with one writeBuffer each
// right before the submit. The arena can be refilled straight after a submit
// because queue.writeBuffer is ordered after the work already submitted.

import type { DispatchProfiler } from './profiler.js';

const CHUNK_BYTES = 64 * 1024;

interface UniformChunk {
  buffer: GPUBuffer;
  staging: Uint8Array;
  used: number;
}

export interface UniformSlot {
  buffer: GPUBuffer;
  offset: number;
  bytes: DataView;
}

export class Recorder {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private chunks: UniformChunk[] = [];
  private chunkIndex = 0;
  private pending = 0;
  private afterSubmitCallbacks: (() => void)[] = [];
  /** Dispatches recorded since start; read by benchmarks. */
  dispatches = 0;
  submits = 0;
  /** Submit automatically after this many dispatches to bound driver memory. */
  autoFlushEvery = 2048;
  /** Set while a profile is open (engine/profiler.ts): every dispatch then gets a timed pass of its own. */
  profiler: DispatchProfiler | null = null;

  constructor(private device: GPUDevice, private uniformAlign: number) {}

  private getEncoder(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private getPass(): GPUComputePassEncoder {
    return (this.pass ??= this.getEncoder().beginComputePass());
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  allocUniform(size: number): UniformSlot {
    const padded = Math.ceil(Math.max(size, 16) / this.uniformAlign) * this.uniformAlign;
    let chunk = this.chunks[this.chunkIndex];
    if (chunk && chunk.used + padded > CHUNK_BYTES) chunk = this.chunks[++this.chunkIndex];
    if (!chunk) {
      chunk = {
        buffer: this.device.createBuffer({ size: CHUNK_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }),
        staging: new Uint8Array(CHUNK_BYTES),
        used: 0,
      };
      this.chunks[this.chunkIndex] = chunk;
    }
    const offset = chunk.used;
    chunk.used += padded;
    chunk.staging.fill(0, offset, offset + padded);
    return { buffer: chunk.buffer, offset, bytes: new DataView(chunk.staging.buffer, offset, size) };
  }

  dispatch(pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, dynamicOffsets: number[], wg: [number, number, number], label = ''): void {
    if (this.profiler) {
      this.endPass();
      this.pass = this.getEncoder().beginComputePass(this.profiler.passFor(label));
    }
    const pass = this.getPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup, dynamicOffsets);
    pass.dispatchWorkgroups(wg[0], wg[1], wg[2]);
    this.dispatches++;
    if (++this.pending >= Math.min(this.autoFlushEvery, this.profiler?.dispatchesPerSubmit ?? Infinity)) this.flush();
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.endPass();
    this.getEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Lets a caller add its own commands (e.g. timestamp writes) in order. */
  withEncoder(fn: (enc: GPUCommandEncoder) => void): void {
    this.endPass();
    fn(this.getEncoder());
  }

  /** Runs cb right after the next submit (e.g. to destroy an upload buffer it used). */
  afterSubmit(cb: () => void): void {
    this.afterSubmitCallbacks.push(cb);
  }

  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    const afterProfiledSubmit = this.profiler?.resolve(this.encoder) ?? null;
    const cmd = this.encoder.finish();
    this.encoder = null;
    for (let i = 0; i <= this.chunkIndex && i < this.chunks.length; i++) {
      const c = this.chunks[i];
      if (c.used > 0) this.device.queue.writeBuffer(c.buffer, 0, c.staging, 0, c.used);
      c.used = 0;
    }
    this.chunkIndex = 0;
    this.device.queue.submit([cmd]);
    afterProfiledSubmit?.();
    for (const cb of this.afterSubmitCallbacks.splice(0)) cb();
    this.pending = 0;
    this.submits++;
  }

  destroy(): void {
    for (const c of this.chunks) c.buffer.destroy();
    this.chunks = [];
    this.encoder = null;
    this.pass = null;
  }
}

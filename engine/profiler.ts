// GPU time per kernel, from timestamp queries.
//
// While a profile is open every dispatch gets a compute pass of its own with
// begin/end timestamps (so the numbers include one pass boundary each; that
// overhead is why profiling is opt-in and never on in timed runs). At each
// submit the recorder resolves the queries into a buffer and maps it; close()
// waits for those reads and sums the time by kernel id.
//
//   const profile = openProfile();
//   ...record and run work...
//   const rows = await profile.close();   // [{ kernel, dispatches, ms }] by ms
import { runtime } from './runtime.js';
import { gpuWait } from './gpu-wait.js';

export interface KernelTime {
  kernel: string;
  dispatches: number;
  ms: number;
}

/** Timestamps of one submit's dispatches, two per dispatch. */
interface Batch {
  querySet: GPUQuerySet;
  labels: string[];
}

// Dawn caps a query set at 4096 queries: 2048 dispatches per submit, which is
// also the recorder's auto-flush interval.
const MAX_QUERIES = 4096;

export class DispatchProfiler {
  private batch: Batch | null = null;
  private reads: Promise<void>[] = [];
  private totals = new Map<string, { dispatches: number; ns: bigint }>();
  private closed = false;

  /** Whether dispatches are labelled with their grid and buffer sizes as well as their kernel (engine/kernel.ts). */
  constructor(private device: GPUDevice, readonly detailed = false) {}

  /** Most dispatches one submit may hold while profiling (the recorder flushes at this count). */
  readonly dispatchesPerSubmit = MAX_QUERIES / 2;

  /** The pass descriptor for the next dispatch, labelled `kernel`. */
  passFor(kernel: string): GPUComputePassDescriptor {
    const b = (this.batch ??= { querySet: this.device.createQuerySet({ type: 'timestamp', count: MAX_QUERIES }), labels: [] });
    const i = b.labels.length;
    b.labels.push(kernel);
    return { timestampWrites: { querySet: b.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } };
  }

  /** Before the encoder is finished: copy this submit's timestamps where the host can map them. */
  resolve(encoder: GPUCommandEncoder): (() => void) | null {
    const b = this.batch;
    if (!b || b.labels.length === 0) return null;
    this.batch = null;
    const bytes = b.labels.length * 16;
    const resolved = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const readable = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.resolveQuerySet(b.querySet, 0, b.labels.length * 2, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, readable, 0, bytes);
    // After the submit: map and add up, then free everything of this batch.
    return () => {
      this.reads.push(
        gpuWait(() => readable.mapAsync(GPUMapMode.READ)).then(() => {
          const t = new BigUint64Array(readable.getMappedRange().slice(0));
          b.labels.forEach((label, i) => {
            const row = this.totals.get(label) ?? { dispatches: 0, ns: 0n };
            row.dispatches++;
            // A pass whose end reads before its begin (a clock reset) counts as zero.
            if (t[2 * i + 1] > t[2 * i]) row.ns += t[2 * i + 1] - t[2 * i];
            this.totals.set(label, row);
          });
          readable.unmap();
          for (const buf of [resolved, readable]) buf.destroy();
          b.querySet.destroy();
        }),
      );
    };
  }

  /** Waits for every submitted timestamp and returns the time per kernel, largest first. */
  async totalsByKernel(): Promise<KernelTime[]> {
    while (this.reads.length) await Promise.all(this.reads.splice(0));
    return [...this.totals.entries()]
      .map(([kernel, { dispatches, ns }]) => ({ kernel, dispatches, ms: Number(ns) / 1e6 }))
      .sort((a, b) => b.ms - a.ms);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  markClosed(): void {
    this.closed = true;
  }
}

export interface Profile {
  /** Submits what is recorded, stops profiling and returns the GPU time per kernel. */
  close(): Promise<KernelTime[]>;
}

/**
 * Starts timing every dispatch by kernel until close(). With `detailed`, a
 * kernel's dispatches are summed apart by workgroup grid and buffer sizes
 * (`conv2d_subgroup_vec4.wgsl:forward{...} [2,864,1] x:3469312 w:48384 ...`),
 * which tells the layers of a net apart. Throws when the adapter has no
 * `timestamp-query` feature.
 */
export function openProfile(opts: { detailed?: boolean } = {}): Profile {
  const rt = runtime();
  if (!rt.ctx.features.has('timestamp-query')) {
    throw new Error(`profiling needs the adapter's timestamp-query feature, which ${rt.description} does not offer`);
  }
  if (rt.recorder.profiler) throw new Error('a profile is already open: close it first');
  rt.recorder.flush();
  const profiler = new DispatchProfiler(rt.device, opts.detailed ?? false);
  rt.recorder.profiler = profiler;
  return {
    async close() {
      if (profiler.isClosed) throw new Error('profile already closed');
      rt.recorder.flush();
      rt.recorder.profiler = null;
      profiler.markClosed();
      return profiler.totalsByKernel();
    },
  };
}

/** A profile as a text table: the kernels with the most time first, and their share of the total. */
export function formatProfile(rows: KernelTime[], top = 20): string {
  const total = rows.reduce((s, r) => s + r.ms, 0);
  const dispatches = rows.reduce((s, r) => s + r.dispatches, 0);
  const lines = [`GPU time ${total.toFixed(1)} ms in ${dispatches} dispatches`, '      ms  share  calls  kernel'];
  for (const r of rows.slice(0, top)) {
    lines.push(`${r.ms.toFixed(2).padStart(8)}  ${((100 * r.ms) / (total || 1)).toFixed(1).padStart(4)}%  ${String(r.dispatches).padStart(5)}  ${r.kernel}`);
  }
  if (rows.length > top) {
    const rest = rows.slice(top);
    lines.push(`${rest.reduce((s, r) => s + r.ms, 0).toFixed(2).padStart(8)}         ${String(rest.reduce((s, r) => s + r.dispatches, 0)).padStart(5)}  (${rest.length} more kernels)`);
  }
  return lines.join('\n');
}

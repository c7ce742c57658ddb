// A pool of GPU storage buffers keyed by size class.
//
// Released buffers go back on a free list and are handed out again without a
// new allocation. Reuse within one pending command encoder is safe: WebGPU
// orders dispatches, so a later dispatch that writes a recycled buffer sees
// the earlier reads finished.
//
// Size classes: 256-byte granularity below 4 KiB, then four classes per power
// of two, so a request wastes at most ~19% and nearby shapes share buffers.

export interface PoolStats {
  /** Bytes held by tensors now (size classes, not requested sizes). */
  liveBytes: number;
  /** The most liveBytes ever reached. */
  peakBytes: number;
  /** Bytes sitting on free lists, ready for reuse. */
  freeBytes: number;
  /** Buffers created with device.createBuffer. */
  allocations: number;
  /** Requests served from a free list. */
  reuseHits: number;
  /** Idle buffers destroyed, oldest first, to keep the free lists under maxFreeBytes. */
  evictions: number;
  /** All requests. */
  requests: number;
}

export const TENSOR_USAGE = 0x0080 /* STORAGE */ | 0x0004 /* COPY_SRC */ | 0x0008; /* COPY_DST */

export function sizeClass(bytes: number): number {
  const b = Math.max(16, bytes);
  if (b <= 4096) return Math.ceil(b / 256) * 256;
  const p = 2 ** Math.floor(Math.log2(b));
  const step = p / 4;
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  /** Every idle buffer in release order, so eviction takes the longest-idle first. */
  private idle = new Set<GPUBuffer>();
  private stats: PoolStats = { liveBytes: 0, peakBytes: 0, freeBytes: 0, allocations: 0, reuseHits: 0, requests: 0, evictions: 0 };

  /**
   * @param destroyLater destroys a buffer once the work already recorded has
   *   been submitted (a pending dispatch may still read it).
   * @param maxFreeBytes cap on idle pooled memory: a long-running process that
   *   once saw a huge image keeps at most this much for later reuse.
   */
  constructor(
    private device: GPUDevice,
    private maxBufferSize: number,
    private destroyLater: (buf: GPUBuffer) => void = (b) => b.destroy(),
    public maxFreeBytes = 512 * 2 ** 20,
  ) {}

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    if (size > this.maxBufferSize) {
      throw new Error(`buffer of ${bytes} bytes exceeds the adapter's maxBufferSize (${this.maxBufferSize} bytes)`);
    }
    this.stats.requests++;
    const list = this.free.get(size);
    let buf = list?.pop();
    if (buf) {
      this.idle.delete(buf);
      this.stats.reuseHits++;
      this.stats.freeBytes -= size;
    } else {
      buf = this.device.createBuffer({ size, usage: TENSOR_USAGE });
      this.stats.allocations++;
    }
    this.stats.liveBytes += size;
    if (this.stats.liveBytes > this.stats.peakBytes) this.stats.peakBytes = this.stats.liveBytes;
    return buf;
  }

  release(buf: GPUBuffer): void {
    const size = buf.size;
    this.stats.liveBytes -= size;
    this.stats.freeBytes += size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buf);
    this.idle.add(buf);
    for (const old of this.idle) {
      if (this.stats.freeBytes <= this.maxFreeBytes) break;
      this.idle.delete(old);
      const l = this.free.get(old.size)!;
      l.splice(l.indexOf(old), 1);
      this.stats.freeBytes -= old.size;
      this.stats.evictions++;
      this.destroyLater(old);
    }
  }

  /** Destroys every free buffer (live ones stay). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.idle.clear();
    this.stats.freeBytes = 0;
  }

  resetPeak(): void {
    this.stats.peakBytes = this.stats.liveBytes;
  }

  getStats(): PoolStats {
    return { ...this.stats };
  }
}

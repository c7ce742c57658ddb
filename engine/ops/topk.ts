// Nearest gallery rows of query embeddings, on the GPU: for unit-length
// queries Q [M, D] and gallery G [N, D], ||q - g||^2 = 2 - 2 q.g, so one
// matmul S = Q G^T gives every distance, and a top-k kernel per query row
// (shaders/topk_rows.wgsl) keeps the k nearest. A gallery whose rows or
// similarity block would pass the adapter's storage binding limit is searched
// in chunks of rows, each chunk's k best merged on the host (k x chunks
// candidates per query: small).
import { Tensor, shapeStr, tidy } from '../tensor.js';
import { kernel, dispatch } from '../kernel.js';
import { runtime } from '../runtime.js';
import { matmul } from './matmul.js';
import { slice } from './shape.js';

const sliceRows = (t: Tensor, start: number, rows: number) => slice(t, [start, 0], [rows, -1]);

/** The largest k one pass of the kernel keeps (shaders/topk_rows.wgsl MAXK). */
export const TOPK_MAX = 32;

/** Columns one workgroup of the first stage searches at least (more when a row passes 65535 blocks). */
export const TOPK_BLOCK = 1024;

/**
 * Columns per workgroup of the first stage. GPUs want many workgroups: the
 * minimum. A software adapter runs a workgroup's lanes as one SIMD thread
 * and pays for each workgroup's merge (barriers, lane 0's serial pass), so
 * there a row is cut into long blocks, about 64 workgroups in all: measured
 * on lavapipe for 16 x 262144 similarities, blocks of 1024 -> 65536 columns
 * took 58 -> 10 ms.
 */
function blockColumns(m: number, n: number): number {
  const fewest = Math.ceil(n / 65535);
  if (runtime().family !== 'software') return Math.max(TOPK_BLOCK, fewest);
  const blocksPerRow = Math.ceil(64 / m);
  return Math.max(TOPK_BLOCK, fewest, Math.min(65536, Math.ceil(n / blocksPerRow)));
}

/**
 * Per row of a similarity matrix S [m, n] (f32 on the GPU): the k largest as
 * distances sqrt(2 - 2 s), ascending, and their column index + offset
 * (i32, -1 past n). Forward only.
 */
export function topkDistances(sim: Tensor, k: number, offset = 0): { distances: Tensor; indices: Tensor } {
  if (sim.shape.length !== 2) throw new Error(`topkDistances: similarities must be [m, n], got ${shapeStr(sim.shape)}`);
  if (!Number.isInteger(k) || k < 1 || k > TOPK_MAX) throw new Error(`topkDistances: k ${k} must be an integer in 1..${TOPK_MAX}`);
  const [m, n] = sim.shape;
  const distances = Tensor.empty([m, k]);
  const indices = Tensor.empty([m, k], 'i32');
  if (m > 0) {
    const block = blockColumns(m, n);
    const blocks = Math.max(1, Math.ceil(n / block));
    const rows = [Math.min(m, 65535), Math.ceil(m / 65535)];
    const uniforms = { m, n, k, offset, block, blocks };
    const candV = Tensor.empty([m, blocks, k]);
    const candI = Tensor.empty([m, blocks, k], 'i32');
    dispatch(kernel('topk_rows.wgsl', 'partial'), { ...uniforms, sim, cand_v: candV, cand_i: candI }, [blocks, ...rows]);
    dispatch(kernel('topk_rows.wgsl', 'merge'), { ...uniforms, in_v: candV, in_i: candI, out_dist: distances, out_index: indices }, [1, ...rows]);
    candV.dispose();
    candI.dispose();
  }
  return { distances, indices };
}

export interface NearestOptions {
  /** Gallery rows per chunk; default: as many as the binding limit allows. */
  chunkRows?: number;
}

export interface Nearest {
  /** [M * k] ascending per query; 3 (more than any unit-vector distance) past the gallery's end. */
  distances: Float32Array;
  /** [M * k] gallery rows; -1 past the gallery's end. */
  indices: Int32Array;
  k: number;
}

/**
 * A gallery G [N, D] uploaded once and searched many times: chunks of rows
 * sized to the storage binding limit (or `chunkRows`) stay on the GPU until
 * dispose().
 */
export class GpuGallery {
  readonly rows: number;
  private chunks: { start: number; tensor: Tensor }[] = [];

  constructor(gallery: Float32Array, readonly dim: number, private opts: NearestOptions = {}) {
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`GpuGallery: dimension ${dim} must be a positive integer`);
    if (gallery.length % dim) throw new Error(`GpuGallery: ${gallery.length} gallery values are not rows of ${dim}`);
    this.rows = gallery.length / dim;
    const limit = runtime().limits.maxStorageBufferBindingSize;
    const chunk = Math.max(1, Math.min(opts.chunkRows ?? Infinity, Math.floor(limit / (4 * dim))));
    for (let start = 0; start < this.rows; start += chunk) {
      const rows = Math.min(chunk, this.rows - start);
      this.chunks.push({ start, tensor: Tensor.from(gallery.subarray(start * dim, (start + rows) * dim), [rows, dim]) });
    }
  }

  /** The k nearest rows of each query (unit rows, row-major [M, D]); k in 1..TOPK_MAX, -1 / 3 past the gallery's end. */
  async search(queries: Float32Array, k: number): Promise<Nearest> {
    const dim = this.dim;
    if (queries.length % dim) throw new Error(`nearestRows: ${queries.length} query values are not rows of ${dim}`);
    if (!Number.isInteger(k) || k < 1 || k > TOPK_MAX) throw new Error(`nearestRows: k ${k} must be an integer in 1..${TOPK_MAX}`);
    const m = queries.length / dim;
    const distances = new Float32Array(m * k).fill(3);
    const indices = new Int32Array(m * k).fill(-1);
    if (m === 0 || this.rows === 0) return { distances, indices, k };
    const limit = runtime().limits.maxStorageBufferBindingSize;
    if (4 * m * dim > limit) throw new Error(`nearestRows: ${m} queries of ${dim} values pass the adapter's storage binding limit (${limit} bytes); search fewer at a time`);
    // The similarity block [m, rows] must fit a binding too: split a chunk's columns further when m is large.
    const maxCols = Math.max(1, Math.floor(limit / (4 * m)));
    const q = Tensor.from(queries, [m, dim]);
    try {
      for (const { start, tensor } of this.chunks) {
        const rows = tensor.shape[0];
        for (let c0 = 0; c0 < rows; c0 += maxCols) {
          const cols = Math.min(maxCols, rows - c0);
          const kc = Math.min(k, cols);
          const { distances: d, indices: ix } = tidy(() => {
            const g = cols === rows ? tensor : sliceRows(tensor, c0, cols);
            return topkDistances(matmul(q, g, { transposeB: true }), kc, start + c0);
          });
          const [dv, iv] = await Promise.all([d.data(), ix.data()]);
          d.dispose();
          ix.dispose();
          for (let r = 0; r < m; r++) mergeInto(distances, indices, r * k, k, dv as Float32Array, iv as Int32Array, r * kc, kc);
        }
      }
    } finally {
      q.dispose();
    }
    return { distances, indices, k };
  }

  dispose(): void {
    for (const c of this.chunks) c.tensor.dispose();
    this.chunks = [];
  }
}

/** One-off search: uploads the gallery, searches, releases it (see GpuGallery to search repeatedly). */
export async function nearestRows(queries: Float32Array, gallery: Float32Array, dim: number, k: number, opts: NearestOptions = {}): Promise<Nearest> {
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`nearestRows: dimension ${dim} must be a positive integer`);
  if (queries.length % dim || gallery.length % dim) throw new Error(`nearestRows: ${queries.length} query / ${gallery.length} gallery values are not rows of ${dim}`);
  const g = new GpuGallery(gallery, dim, opts);
  try {
    return await g.search(queries, k);
  } finally {
    g.dispose();
  }
}

/** Merges the sorted candidate list (b) into the sorted list (a), keeping k; ties to the smaller index. */
function mergeInto(ad: Float32Array, ai: Int32Array, ao: number, k: number, bd: Float32Array, bi: Int32Array, bo: number, bk: number): void {
  const d = Array.from(ad.subarray(ao, ao + k));
  const ix = Array.from(ai.subarray(ao, ao + k));
  let x = 0;
  let y = 0;
  for (let r = 0; r < k; r++) {
    const takeB = y < bk && bi[bo + y] >= 0 && (x >= k || ix[x] < 0 || bd[bo + y] < d[x] || (bd[bo + y] === d[x] && bi[bo + y] < ix[x]));
    if (takeB) {
      ad[ao + r] = bd[bo + y];
      ai[ao + r] = bi[bo + y];
      y++;
    } else {
      ad[ao + r] = d[x];
      ai[ao + r] = ix[x];
      x++;
    }
  }
}

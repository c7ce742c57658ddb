// Packed sample shards: fixed-size little-endian records appended to
// `shard-NNNNN.bin` files of bounded size, plus `index.json` (written
// atomically) with the record layout, counts per class, the shard list and
// which source images are done, so an interrupted generation resumes.
//
// Record (size S, RECORD_HEADER + S*S*3 bytes):
//   0   i8       label (1 pos, 0 neg, -1 part, -2 landmark)
//   1   3 bytes  zero padding
//   4   u32      source image index (into the annotation list)
//   8   f32 x4   crop box in the source image (x1 y1 x2 y2)
//   24  f32 x4   box-regression targets
//   40  f32 x10  landmark targets (x, y) x 5
//   80  u8 S*S*3 RGB pixels, row-major
//
// The index is the truth: bytes past a shard's recorded count (a crash
// between appending and updating the index) are cut off on resume.
import { closeSync, existsSync, openSync, readFileSync, readSync, ftruncateSync, writeSync, fsyncSync, mkdirSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../engine/io.js';
import { LABEL_NAMES, type Label } from './samples.js';

export const RECORD_HEADER = 80;
export const SHARD_FORMAT = 'mtcnn-samples-v1';
export const DEFAULT_SHARD_BYTES = 64 * 1024 * 1024;

export interface ShardRecord {
  label: Label;
  image: number;
  crop: [number, number, number, number];
  box: ArrayLike<number>;
  landmarks: ArrayLike<number>;
  /** size*size*3 RGB bytes. */
  pixels: Uint8Array;
}

export type ClassCounts = Record<'negative' | 'positive' | 'part' | 'landmark', number>;

export interface ShardIndex {
  format: typeof SHARD_FORMAT;
  size: number;
  recordSize: number;
  layout: string;
  maxShardBytes: number;
  counts: ClassCounts;
  total: number;
  shards: { file: string; records: number }[];
  /** Source images fully processed, as inclusive index ranges [first, last]. */
  doneImages: [number, number][];
  /** Generation settings and source, for the record. */
  meta: Record<string, unknown>;
}

export function recordSize(size: number): number {
  return RECORD_HEADER + size * size * 3;
}

export function encodeRecord(r: ShardRecord, size: number, out = new Uint8Array(recordSize(size))): Uint8Array {
  if (r.pixels.length !== size * size * 3) throw new Error(`encodeRecord: ${r.pixels.length} pixel bytes, expected ${size}x${size}x3 = ${size * size * 3}`);
  if (r.box.length !== 4 || r.landmarks.length !== 10) throw new Error(`encodeRecord: need 4 box and 10 landmark targets, got ${r.box.length} and ${r.landmarks.length}`);
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out.fill(0, 0, RECORD_HEADER);
  v.setInt8(0, r.label);
  v.setUint32(4, r.image, true);
  for (let i = 0; i < 4; i++) v.setFloat32(8 + 4 * i, r.crop[i], true);
  for (let i = 0; i < 4; i++) v.setFloat32(24 + 4 * i, r.box[i], true);
  for (let i = 0; i < 10; i++) v.setFloat32(40 + 4 * i, r.landmarks[i], true);
  out.set(r.pixels, RECORD_HEADER);
  return out;
}

export function decodeRecord(bytes: Uint8Array, size: number): ShardRecord {
  if (bytes.length !== recordSize(size)) throw new Error(`decodeRecord: ${bytes.length} bytes, expected ${recordSize(size)} for size ${size}`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const f = (o: number, n: number) => Array.from({ length: n }, (_, i) => v.getFloat32(o + 4 * i, true));
  const label = v.getInt8(0) as Label;
  if (!(label in LABEL_NAMES)) throw new Error(`decodeRecord: label ${label} is not one of 1, 0, -1, -2`);
  return {
    label,
    image: v.getUint32(4, true),
    crop: f(8, 4) as [number, number, number, number],
    box: f(24, 4),
    landmarks: f(40, 10),
    pixels: bytes.slice(RECORD_HEADER),
  };
}

const LAYOUT = 'label i8, pad 3, image u32, crop f32x4, box f32x4, landmarks f32x10, pixels u8[size*size*3] RGB; little-endian';

function emptyCounts(): ClassCounts {
  return { negative: 0, positive: 0, part: 0, landmark: 0 };
}

/** Pretty JSON, but number arrays on one line. */
function indexJson(index: ShardIndex): string {
  return JSON.stringify(index, null, 1).replace(/\[[\d\s,.eE+-]*\]/g, (m) => m.replace(/\s+/g, '')) + '\n';
}

export function readIndex(dir: string): ShardIndex {
  const file = join(dir, 'index.json');
  let index: ShardIndex;
  try {
    index = JSON.parse(readFileSync(file, 'utf8')) as ShardIndex;
  } catch (e) {
    throw new Error(`${file}: cannot read the shard index (${(e as Error).message})`);
  }
  if (index.format !== SHARD_FORMAT) throw new Error(`${file}: format "${index.format}" is not ${SHARD_FORMAT}`);
  if (index.recordSize !== recordSize(index.size)) throw new Error(`${file}: recordSize ${index.recordSize} does not match size ${index.size}`);
  return index;
}

export class ShardWriter {
  private fd: number | null = null;
  private readonly done: Set<number>;
  private constructor(
    readonly dir: string,
    readonly index: ShardIndex,
  ) {
    this.done = new Set(index.doneImages.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i)));
  }

  /** A new output folder (refuses one that already has an index unless resume). */
  static async open(dir: string, size: number, opts: { resume?: boolean; maxShardBytes?: number; meta?: Record<string, unknown> } = {}): Promise<ShardWriter> {
    mkdirSync(dir, { recursive: true });
    const indexFile = join(dir, 'index.json');
    if (existsSync(indexFile)) {
      if (!opts.resume) throw new Error(`${indexFile} exists: pass --resume to continue, or choose another --out`);
      const index = readIndex(dir);
      if (index.size !== size) throw new Error(`${indexFile}: samples are ${index.size}x${index.size}, not ${size}x${size}`);
      const w = new ShardWriter(dir, index);
      w.repair();
      return w;
    }
    const index: ShardIndex = {
      format: SHARD_FORMAT,
      size,
      recordSize: recordSize(size),
      layout: LAYOUT,
      maxShardBytes: Math.max(recordSize(size), opts.maxShardBytes ?? DEFAULT_SHARD_BYTES),
      counts: emptyCounts(),
      total: 0,
      shards: [],
      doneImages: [],
      meta: opts.meta ?? {},
    };
    const w = new ShardWriter(dir, index);
    await w.commit();
    return w;
  }

  isDone(image: number): boolean {
    return this.done.has(image);
  }

  /** Cuts every shard to the length its recorded count says. */
  private repair(): void {
    for (const s of this.index.shards) {
      const path = join(this.dir, s.file);
      const want = s.records * this.index.recordSize;
      const fd = openSync(path, existsSync(path) ? 'r+' : 'w+');
      try {
        const have = fstatSync(fd).size;
        if (have < want) throw new Error(`${path}: ${have} bytes, the index says ${s.records} records (${want} bytes): shard truncated`);
        if (have > want) ftruncateSync(fd, want);
      } finally {
        closeSync(fd);
      }
    }
  }

  private currentShard(): { file: string; records: number } {
    const perShard = Math.max(1, Math.floor(this.index.maxShardBytes / this.index.recordSize));
    let last = this.index.shards[this.index.shards.length - 1];
    if (!last || last.records >= perShard) {
      if (this.fd !== null) {
        fsyncSync(this.fd);
        closeSync(this.fd);
        this.fd = null;
      }
      last = { file: `shard-${String(this.index.shards.length).padStart(5, '0')}.bin`, records: 0 };
      this.index.shards.push(last);
      // A new shard starts empty, even over a file an interrupted run left behind.
      this.fd = openSync(join(this.dir, last.file), 'w');
    }
    if (this.fd === null) this.fd = openSync(join(this.dir, last.file), 'a');
    return last;
  }

  /** Appends the records of one image (the index is updated by commit). */
  append(records: readonly ShardRecord[]): void {
    const size = this.index.size;
    const buf = new Uint8Array(this.index.recordSize);
    for (const r of records) {
      const shard = this.currentShard();
      encodeRecord(r, size, buf);
      writeSync(this.fd!, buf);
      shard.records++;
      this.index.counts[LABEL_NAMES[r.label]]++;
      this.index.total++;
    }
  }

  markDone(image: number): void {
    this.done.add(image);
  }

  /** Flushes shard bytes to disk, then writes the index atomically. */
  async commit(): Promise<void> {
    if (this.fd !== null) fsyncSync(this.fd);
    this.index.doneImages = toRanges([...this.done]);
    await writeFileAtomic(join(this.dir, 'index.json'), new TextEncoder().encode(indexJson(this.index)));
  }

  async close(): Promise<void> {
    await this.commit();
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/** Sorted whole numbers as inclusive ranges: [0, 1, 2, 5] -> [[0, 2], [5, 5]]. */
export function toRanges(values: number[]): [number, number][] {
  const v = [...values].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (const x of v) {
    const last = out[out.length - 1];
    if (last && x <= last[1] + 1) last[1] = Math.max(last[1], x);
    else out.push([x, x]);
  }
  return out;
}

/** Every record of a shard folder, in order. */
export function* readShards(dir: string): Generator<ShardRecord> {
  const index = readIndex(dir);
  const rs = index.recordSize;
  for (const s of index.shards) {
    const path = join(dir, s.file);
    const fd = openSync(path, 'r');
    try {
      const buf = new Uint8Array(rs);
      for (let i = 0; i < s.records; i++) {
        const n = readSync(fd, buf, 0, rs, i * rs);
        if (n !== rs) throw new Error(`${path}: record ${i} is short (${n} of ${rs} bytes): shard truncated`);
        yield decodeRecord(buf, index.size);
      }
    } finally {
      closeSync(fd);
    }
  }
}

// The safetensors format, as pure bytes in and out (https://github.com/huggingface/safetensors):
//
//   u64 little-endian N | N bytes of JSON header | raw little-endian tensor data
//
// The header maps each tensor name to { dtype, shape, data_offsets: [begin, end] }
// (offsets relative to the start of the data) plus an optional "__metadata__"
// map of strings. Decoding converts the float types to f32 and the integer
// types to i32 (refusing values that do not fit), so the result can be uploaded
// as engine tensors; encoding writes f32 / i32 / u32.
import type { DType } from './tensor.js';

/** A tensor on the host: what a file holds and what a GPU tensor reads back as. */
export type HostTensor =
  | { dtype: 'f32'; shape: number[]; data: Float32Array }
  | { dtype: 'i32'; shape: number[]; data: Int32Array }
  | { dtype: 'u32'; shape: number[]; data: Uint32Array };

export interface SafetensorsContents {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

const METADATA_KEY = '__metadata__';
// The reference implementation refuses headers over 100 MB; so do we, rather
// than trying to parse a garbage length as JSON.
const MAX_HEADER_BYTES = 100_000_000;

interface FileDType {
  bytes: number;
  to: DType;
  read: (view: DataView, offset: number) => number;
}

const f32Max = 3.4028234663852886e38;

const FILE_DTYPES: Record<string, FileDType> = {
  F32: { bytes: 4, to: 'f32', read: (v, o) => v.getFloat32(o, true) },
  F16: { bytes: 2, to: 'f32', read: (v, o) => halfToFloat(v.getUint16(o, true)) },
  BF16: { bytes: 2, to: 'f32', read: (v, o) => bf16ToFloat(v.getUint16(o, true)) },
  F64: { bytes: 8, to: 'f32', read: (v, o) => v.getFloat64(o, true) },
  I32: { bytes: 4, to: 'i32', read: (v, o) => v.getInt32(o, true) },
  I64: { bytes: 8, to: 'i32', read: (v, o) => Number(v.getBigInt64(o, true)) },
  U32: { bytes: 4, to: 'u32', read: (v, o) => v.getUint32(o, true) },
};

const ENCODED_DTYPE: Record<DType, string> = { f32: 'F32', i32: 'I32', u32: 'U32' };

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // subnormal or zero
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const bf16Scratch = new DataView(new ArrayBuffer(4));
function bf16ToFloat(b: number): number {
  // bfloat16 is the top half of a float32.
  bf16Scratch.setUint32(0, b << 16, false);
  return bf16Scratch.getFloat32(0, false);
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses a safetensors file. `source` (a file name) starts every error message.
 * Throws on a header that runs past the end, malformed JSON, offsets outside
 * the data or overlapping, a shape that disagrees with its byte range, an
 * unsupported dtype, or an integer/float value that does not fit its target type.
 */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors'): SafetensorsContents {
  const fail = (msg: string) => new Error(`${source}: ${msg}`);
  if (bytes.length < 8) throw fail(`${bytes.length} bytes is too short for a safetensors file (8-byte header length missing)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    throw fail(`header length ${headerLength} runs past the end of the file (${bytes.length} bytes): truncated, or not a safetensors file`);
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) throw fail(`header length ${headerLength} is over the format's limit of ${MAX_HEADER_BYTES}`);
  const n = Number(headerLength);

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw fail('header is not a JSON object');
  const entries = header as Record<string, unknown>;

  const metadata: Record<string, string> = {};
  if (METADATA_KEY in entries) {
    const m = entries[METADATA_KEY];
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw fail(`${METADATA_KEY} is not an object`);
    for (const [k, v] of Object.entries(m as object)) {
      if (typeof v !== 'string') throw fail(`${METADATA_KEY}["${k}"] is not a string`);
      metadata[k] = v;
    }
  }

  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const ranges: { name: string; begin: number; end: number }[] = [];
  const tensors = new Map<string, HostTensor>();
  for (const [name, raw] of Object.entries(entries)) {
    if (name === METADATA_KEY) continue;
    const bad = (msg: string) => fail(`tensor "${name}": ${msg}`);
    if (typeof raw !== 'object' || raw === null) throw bad('header entry is not an object');
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string') throw bad('dtype is missing');
    const type = Object.hasOwn(FILE_DTYPES, dtype) ? FILE_DTYPES[dtype] : undefined;
    if (!type) throw bad(`dtype ${dtype} is not supported (supported: ${Object.keys(FILE_DTYPES).join(', ')})`);
    if (!Array.isArray(shape) || !shape.every(isCount)) throw bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw bad(`data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
    }
    const dims = shape as number[];
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw bad(`data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLength) throw bad(`data_offsets [${begin}, ${end}] run past the ${dataLength} bytes of data: truncated file`);
    const count = dims.reduce((a, d) => a * d, 1);
    if (count * type.bytes !== end - begin) {
      throw bad(`shape ${shapeText(dims)} of ${dtype} needs ${count * type.bytes} bytes, data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    ranges.push({ name, begin, end });
    tensors.set(name, convert(view, dataStart + begin, count, type, dims, bad));
  }

  // Sorted by start, each non-empty range must begin where the previous one ended or later.
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let prev: (typeof ranges)[number] | null = null;
  for (const r of ranges) {
    if (r.begin === r.end) continue;
    if (prev && r.begin < prev.end) {
      throw fail(`tensors "${prev.name}" [${prev.begin}, ${prev.end}] and "${r.name}" [${r.begin}, ${r.end}] overlap`);
    }
    prev = r;
  }
  return { tensors, metadata };
}

function convert(view: DataView, at: number, count: number, type: FileDType, shape: number[], bad: (msg: string) => Error): HostTensor {
  if (type.to === 'f32') {
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const v = type.read(view, at + i * type.bytes);
      if (Math.abs(v) > f32Max && Number.isFinite(v)) throw bad(`value ${v} at index ${i} overflows float32`);
      data[i] = v;
    }
    return { dtype: 'f32', shape, data };
  }
  if (type.to === 'i32') {
    const data = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const v = type.read(view, at + i * type.bytes);
      if (v < -0x80000000 || v > 0x7fffffff) throw bad(`value ${v} at index ${i} does not fit int32`);
      data[i] = v;
    }
    return { dtype: 'i32', shape, data };
  }
  const data = new Uint32Array(count);
  for (let i = 0; i < count; i++) data[i] = type.read(view, at + i * type.bytes);
  return { dtype: 'u32', shape, data };
}

/**
 * Serialises host tensors (in the order given) and string metadata. The header
 * is padded with spaces to a multiple of 8 bytes, as the reference writer does,
 * so the data section stays aligned.
 */
export function encodeSafetensors(
  tensors: Map<string, HostTensor> | Record<string, HostTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  const metaEntries = Object.entries(metadata);
  for (const [k, v] of metaEntries) {
    if (typeof v !== 'string') throw new Error(`safetensors metadata "${k}" must be a string, got ${typeof v}`);
  }
  if (metaEntries.length) header[METADATA_KEY] = metadata;

  let offset = 0;
  for (const [name, t] of list) {
    if (name === '' || name === METADATA_KEY) throw new Error(`safetensors: "${name}" cannot be a tensor name`);
    const count = t.shape.reduce((a, d) => a * d, 1);
    if (!t.shape.every(isCount) || count !== t.data.length) {
      throw new Error(`safetensors: tensor "${name}" has ${t.data.length} values for shape ${shapeText(t.shape)}`);
    }
    const dtype = Object.hasOwn(ENCODED_DTYPE, t.dtype) ? ENCODED_DTYPE[t.dtype] : undefined;
    if (!dtype) throw new Error(`safetensors: tensor "${name}" has unsupported dtype ${t.dtype}`);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }

  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);

  let at = 8 + padded;
  for (const [, t] of list) {
    // DataView writes are little-endian whatever the host's byte order.
    const write = t.dtype === 'f32' ? view.setFloat32 : t.dtype === 'i32' ? view.setInt32 : view.setUint32;
    for (let i = 0; i < t.data.length; i++, at += 4) write.call(view, at, t.data[i], true);
  }
  return out;
}

// Files: safetensors on disk for tensors, modules and optimiser state.
//
// Saves are atomic: the bytes go to a temporary file in the target's
// directory, are fsynced, and the temporary file is renamed over the target,
// so a crash mid-save leaves either the old file or the new one, never a mix.
import { open, rename, rm, readFile, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Tensor } from './tensor.js';
import { decodeSafetensors, encodeSafetensors, type HostTensor, type SafetensorsContents } from './safetensors.js';
import type { Module, LoadReport } from './nn/module.js';
import type { Optimizer } from './optim.js';

export type TensorDict = Map<string, Tensor> | Record<string, Tensor>;

/** Writes bytes to `path` atomically; on failure the previous file is untouched and no temporary file remains. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(resolve(path));
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | null = null;
  try {
    handle = await open(tmp, 'wx');
    await handle.writeFile(bytes);
    await handle.sync();
    await handle.close();
    handle = null;
    await rename(tmp, path);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new Error(`could not write ${path}: ${(e as Error).message}`);
  }
  await syncDirectory(dir);
}

/** Makes the rename itself durable. Best effort: some file systems cannot fsync a directory. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const h = await open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    /* the file is in place either way */
  }
}

/** Reads GPU tensors back and saves them (in the order given) with optional string metadata. */
export async function saveSafetensors(path: string, tensors: TensorDict, metadata: Record<string, string> = {}): Promise<void> {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  for (const [name, t] of list) {
    if (!(t instanceof Tensor)) throw new Error(`saving ${path}: "${name}" is not a Tensor`);
    if (t.disposed) throw new Error(`saving ${path}: tensor "${name}" ${t} was disposed`);
  }
  // Every readback starts before any is awaited, so their waits overlap.
  const reads = list.map(([name, t]) =>
    t.data().then(
      (data) => [name, { dtype: t.dtype, shape: [...t.shape], data }] as [string, HostTensor],
      (e: Error) => {
        throw new Error(`saving ${path}: tensor "${name}": ${e.message}`);
      },
    ),
  );
  const host = new Map(await Promise.all(reads));
  let bytes: Uint8Array;
  try {
    bytes = encodeSafetensors(host, metadata);
  } catch (e) {
    throw new Error(`saving ${path}: ${(e as Error).message}`);
  }
  await writeFileAtomic(path, bytes);
}

/** Reads a safetensors file into host arrays; errors start with the file name. */
export async function loadSafetensors(path: string): Promise<SafetensorsContents> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new Error(`could not read ${path}: ${(e as Error).message}`);
  }
  return decodeSafetensors(bytes, path);
}

export async function saveModule(path: string, module: Module, metadata: Record<string, string> = {}): Promise<void> {
  await saveSafetensors(path, module.stateDict(), metadata);
}

/** Loads a module's parameters and buffers from a file; returns the file's metadata and what was missing or unexpected. */
export async function loadModule(path: string, module: Module, opts: { strict?: boolean } = {}): Promise<LoadReport & { metadata: Record<string, string> }> {
  const file = await loadSafetensors(path);
  const report = module.loadStateDict(file.tensors, { strict: opts.strict, source: path });
  return { ...report, metadata: file.metadata };
}

// The optimiser's scalars travel as one JSON string in the metadata.
const OPTIMIZER_KEY = 'optimizer';

/** Saves an optimiser's state (moments, step counts, lr, hyper-parameters) for an exact resume. */
export async function saveOptimizer(path: string, opt: Optimizer, metadata: Record<string, string> = {}): Promise<void> {
  const { tensors, ...scalars } = opt.stateDict();
  await saveSafetensors(path, tensors, { ...metadata, [OPTIMIZER_KEY]: JSON.stringify(scalars) });
}

export async function loadOptimizer(path: string, opt: Optimizer): Promise<Record<string, string>> {
  const file = await loadSafetensors(path);
  const text = file.metadata[OPTIMIZER_KEY];
  if (text === undefined) throw new Error(`${path}: no "${OPTIMIZER_KEY}" entry in the metadata: not an optimiser state file`);
  let scalars: unknown;
  try {
    scalars = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: metadata "${OPTIMIZER_KEY}" is not valid JSON (${(e as Error).message})`);
  }
  const s = scalars as { type?: unknown; lr?: unknown; hyper?: unknown; steps?: unknown };
  if (typeof s !== 'object' || s === null || typeof s.type !== 'string' || typeof s.lr !== 'number' || typeof s.steps !== 'object' || typeof s.hyper !== 'object') {
    throw new Error(`${path}: metadata "${OPTIMIZER_KEY}" lacks type, lr, hyper or steps`);
  }
  opt.loadStateDict({ type: s.type, lr: s.lr, hyper: s.hyper as Record<string, number | boolean>, steps: s.steps as Record<string, number>, tensors: file.tensors }, path);
  return file.metadata;
}

// Training checkpoints that survive a crash at any moment.
//
// A run folder holds
//   checkpoints/step-00001234/model.safetensors      parameters + buffers, with the
//                                                    caller's metadata and the loop
//                                                    state as JSON ("train.state")
//   checkpoints/step-00001234/optimizer.safetensors  optimiser moments and step counts
//   latest.json                                      {"checkpoint": "checkpoints/step-00001234"}
// Each file is written atomically (engine/io.ts), and latest.json, the only
// thing a resume reads first, is rewritten only after both files of the new
// checkpoint are complete; so a crash mid-save leaves latest.json naming the
// previous, complete checkpoint. Older checkpoints are pruned after the
// pointer moves.
import { mkdirSync, readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Module } from '../../engine/nn/module.js';
import type { Optimizer } from '../../engine/optim.js';
import { saveModule, loadModule, saveOptimizer, loadOptimizer, writeFileAtomic } from '../../engine/io.js';

const POINTER = 'latest.json';
const STATE_KEY = 'train.state';

/** Where the training loop stands; any JSON-able fields beyond these are the caller's. */
export interface LoopState {
  /** Epochs completed. */
  epoch: number;
  /** Steps done inside the current (incomplete) epoch. */
  stepInEpoch: number;
  /** Optimiser steps since the start of training. */
  globalStep: number;
  [key: string]: unknown;
}

export interface CheckpointContents {
  model: Module;
  optimizer: Optimizer;
  state: LoopState;
  /** Stored in model.safetensors, e.g. what a loader needs to rebuild the model. */
  metadata?: Record<string, string>;
}

/** The folder of the checkpoint latest.json points to, or null when there is none. */
export function latestCheckpoint(runDir: string): string | null {
  const pointer = join(runDir, POINTER);
  if (!existsSync(pointer)) return null;
  let rel: unknown;
  try {
    rel = (JSON.parse(readFileSync(pointer, 'utf8')) as { checkpoint?: unknown }).checkpoint;
  } catch (e) {
    throw new Error(`${pointer}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof rel !== 'string') throw new Error(`${pointer}: no "checkpoint" entry`);
  return resolve(runDir, rel);
}

/**
 * Saves a complete checkpoint and points latest.json at it; keeps the newest
 * `keep` checkpoints. Returns the checkpoint's folder.
 */
export async function saveCheckpoint(runDir: string, c: CheckpointContents, keep = 2): Promise<string> {
  const root = join(runDir, 'checkpoints');
  const dir = join(root, `step-${String(c.state.globalStep).padStart(8, '0')}`);
  // Nothing has changed since a checkpoint of this step was completed (e.g. an
  // interrupt right after an epoch's save): rewriting it would only open a window.
  if (latestCheckpoint(runDir) === resolve(dir)) return dir;
  mkdirSync(dir, { recursive: true });
  await saveModule(join(dir, 'model.safetensors'), c.model, { ...c.metadata, [STATE_KEY]: JSON.stringify(c.state) });
  await saveOptimizer(join(dir, 'optimizer.safetensors'), c.optimizer);
  await writeFileAtomic(join(runDir, POINTER), new TextEncoder().encode(JSON.stringify({ checkpoint: relative(runDir, dir) }) + '\n'));
  const names = readdirSync(root).filter((n) => /^step-\d+$/.test(n)).sort();
  for (const old of names.slice(0, Math.max(0, names.length - keep))) {
    if (join(root, old) !== dir) rmSync(join(root, old), { recursive: true, force: true });
  }
  return dir;
}

/** Loads the latest checkpoint into model and optimizer; null when the run has none. */
export async function loadLatestCheckpoint(runDir: string, model: Module, optimizer: Optimizer): Promise<{ dir: string; state: LoopState; metadata: Record<string, string> } | null> {
  const dir = latestCheckpoint(runDir);
  if (!dir) return null;
  const { metadata } = await loadModule(join(dir, 'model.safetensors'), model);
  await loadOptimizer(join(dir, 'optimizer.safetensors'), optimizer);
  const text = metadata[STATE_KEY];
  if (text === undefined) throw new Error(`${dir}/model.safetensors: no "${STATE_KEY}" metadata: not a training checkpoint`);
  const state = JSON.parse(text) as LoopState;
  const { [STATE_KEY]: _, ...rest } = metadata;
  return { dir, state, metadata: rest };
}

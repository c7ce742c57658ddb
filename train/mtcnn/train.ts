// `npm run train:pnet|train:rnet|train:onet -- --data DIR[,DIR...] [options]`
// (or `tsx train/mtcnn/train.ts --net pnet|rnet|onet ...`): trains one MTCNN
// net on sample shards from gen:mtcnn, from scratch or from the pretrained
// weights (--init), in the original (PReLU) or the batchnorm+ReLU variant.
//
// Losses, as in Zhang et al. 2016: face classification cross-entropy on
// positives and negatives, keeping the hardest 70% of each batch (online
// hard-example mining); box-offset MSE on positives and parts; landmark MSE on
// landmark samples. P- and R-Net get a training-only landmark head (the paper
// trains them multi-task; the detector has no use for it and the exported
// files leave it out).
//
// Run folder (--out): checkpoints/ + latest.json (train/lib/checkpoint.ts),
// train.jsonl (a record per step and per epoch), loss.png, options.json, and
// at the end <net>.safetensors in the pretrained files' PyTorch layout (in
// --export DIR if given), which the detector, `npm run detect` and
// `npm run eval:detect -- --weights DIR` read.
//
// The loop can also be driven in-process through `trainMtcnn` (tests do).
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runtime } from '../../engine/runtime.js';
import { Tensor, tidyAsync, noGradAsync } from '../../engine/tensor.js';
import { Adam } from '../../engine/optim.js';
import { cosineLR, linearWarmup, type LRSchedule } from '../../engine/schedule.js';
import { loadSafetensors } from '../../engine/io.js';
import { seedInit } from '../../engine/nn/layers.js';
import { add, scale } from '../../engine/ops/elementwise.js';
import { reshape } from '../../engine/ops/shape.js';
import { crossEntropy, maskedMse, topKMean } from '../../engine/ops/losses.js';
import { PNet, RNet, ONet, convertTorchMtcnn, type MtcnnVariant, type StageOutput } from '../../nets/mtcnn/index.js';
import { progressBar } from '../../tools/progress.js';
import { DEFAULT_MTCNN_DIR } from '../../tools/models.js';
import { parseCommandArgs, formatOptions, UsageError, type OptionSpecs } from '../lib/args.js';
import { saveCheckpoint, loadLatestCheckpoint, latestCheckpoint, type LoopState } from '../lib/checkpoint.js';
import { JsonlLog } from '../lib/jsonl.js';
import { LossGuard, type LossGuardOptions } from '../lib/loss-guard.js';
import { StopRequest } from '../lib/interrupt.js';
import { Rng } from '../lib/rng.js';
import { writeLineChart, movingAverage } from '../lib/charts.js';
import { loadSampleSet, epochOrder, makeBatch, type SampleSet, type Batch } from './dataset.js';
import { exportNet, type NetName } from './export.js';
import { isMain, runMain } from '../../tools/cli.js';
import { runTrainingCommand } from '../lib/command.js';

export const NET_SIZE: Record<NetName, number> = { pnet: 12, rnet: 24, onet: 48 };

export interface MtcnnTrainOptions {
  net: NetName;
  /** Shard folders of gen:mtcnn (random and/or mined samples), all of the net's input size. */
  data: string[];
  /** Shard folders to report losses and accuracy on after each epoch. */
  val: string[];
  out: string;
  /** Where the final <net>.safetensors goes (default: out). */
  export?: string;
  arch: MtcnnVariant;
  epochs: number;
  batch: number;
  lr: number;
  minLrFraction: number;
  warmupSteps: number;
  weightDecay: number;
  /** Loss weights: classification, box, landmark. */
  weights: [number, number, number];
  /** Fraction of the classification losses kept (hardest first). */
  ohem: number;
  /** Random left-right mirroring. */
  flip: boolean;
  /** Steps per epoch; 0: one pass over the samples. */
  stepsPerEpoch: number;
  /** A folder of pretrained pnet/rnet/onet.safetensors (PyTorch layout) to start from. */
  init?: string;
  resume: boolean;
  seed: number;
  keep: number;
  verbose: boolean;
  lossGuard?: LossGuardOptions;
  /** Programmatic only (tests): stop as an interrupt would once this many steps are done. */
  stopAtStep?: number;
}

export const DEFAULT_WEIGHTS: Record<NetName, [number, number, number]> = { pnet: [1, 0.5, 0.5], rnet: [1, 0.5, 0.5], onet: [1, 0.5, 1] };

export const DEFAULTS: Omit<MtcnnTrainOptions, 'net' | 'data' | 'weights'> = {
  val: [],
  out: 'runs/mtcnn',
  arch: 'original',
  epochs: 10,
  batch: 256,
  lr: 1e-3,
  minLrFraction: 0.01,
  warmupSteps: 100,
  weightDecay: 0,
  ohem: 0.7,
  flip: true,
  stepsPerEpoch: 0,
  resume: false,
  seed: 1,
  keep: 2,
  verbose: true,
};

export interface HeadLosses {
  loss: number;
  cls: number;
  box: number;
  landmark: number;
  /** Correct face / not-face calls among positives and negatives, and their number. */
  correct: number;
  counted: number;
}

export interface MtcnnEpochRecord extends HeadLosses {
  type: 'epoch';
  epoch: number;
  step: number;
  accuracy: number;
  samplesPerSecond: number;
  val?: HeadLosses & { accuracy: number };
}

export interface MtcnnTrainResult {
  status: 'done' | 'interrupted' | 'diverged';
  message?: string;
  epochs: MtcnnEpochRecord[];
  checkpoint: string | null;
  /** The exported <net>.safetensors, when training finished. */
  exported: string | null;
  model: PNet | RNet | ONet;
  state: LoopState;
}

export function createNet(net: NetName, arch: MtcnnVariant): PNet | RNet | ONet {
  if (net === 'pnet') return new PNet(arch, { landmarks: true });
  if (net === 'rnet') return new RNet(arch, { landmarks: true });
  return new ONet(arch);
}

/** The nets' outputs as [B, C] rows (P-Net is convolutional: 12x12 in, 1x1 out). */
function rows(out: StageOutput, b: number): { cls: Tensor; reg: Tensor; lm: Tensor } {
  const flat = (t: Tensor, c: number) => (t.rank === 2 ? t : reshape(t, [b, c]));
  return { cls: flat(out.cls, 2), reg: flat(out.reg, 4), lm: flat(out.landmarks!, 10) };
}

/**
 * The three losses of one batch and their weighted sum (the scalar to
 * differentiate). Classification: per-sample cross-entropy on positives and
 * negatives (parts and landmark samples have class -1 and drop out), then the
 * mean of the hardest `ohem` fraction of them.
 */
export function mtcnnLoss(out: StageOutput, batch: Batch, weights: readonly [number, number, number], ohem: number) {
  const b = batch.hostClasses.length;
  const r = rows(out, b);
  const perSample = crossEntropy(r.cls, batch.classes, { reduction: 'none', weight: batch.clsMask });
  const cls = topKMean(perSample, ohem, batch.clsMask);
  const box = maskedMse(r.reg, batch.boxes, batch.boxMask);
  const landmark = maskedMse(r.lm, batch.landmarks, batch.lmMask);
  const total = add(add(scale(cls, weights[0]), scale(box, weights[1])), scale(landmark, weights[2]));
  return { total, cls, box, landmark, logits: r.cls };
}

function correctCalls(logits: Float32Array, classes: Int32Array): { correct: number; counted: number } {
  let correct = 0;
  let counted = 0;
  classes.forEach((c, i) => {
    if (c < 0) return;
    counted++;
    if ((logits[2 * i + 1] > logits[2 * i] ? 1 : 0) === c) correct++;
  });
  return { correct, counted };
}

async function batchLosses(model: PNet | RNet | ONet, batch: Batch, o: MtcnnTrainOptions, backward: boolean): Promise<HeadLosses> {
  return tidyAsync(async () => {
    const l = mtcnnLoss(model.forward(batch.images), batch, o.weights, o.ohem);
    if (backward) l.total.backward();
    const [loss, cls, box, landmark, logits] = await Promise.all([l.total.item(), l.cls.item(), l.box.item(), l.landmark.item(), l.logits.data()]);
    return { loss, cls, box, landmark, ...correctCalls(logits as Float32Array, batch.hostClasses) };
  });
}

function disposeBatch(b: Batch): void {
  for (const t of [b.images, b.classes, b.clsMask, b.boxMask, b.lmMask, b.boxes, b.landmarks]) t.dispose();
}

/** Losses and accuracy over a whole sample set, eval mode (batchnorm on running statistics). */
export async function evaluateSet(model: PNet | RNet | ONet, set: SampleSet, o: MtcnnTrainOptions): Promise<HeadLosses & { accuracy: number }> {
  const sums = { loss: 0, cls: 0, box: 0, landmark: 0, correct: 0, counted: 0 };
  let batches = 0;
  model.eval();
  try {
    for (let start = 0; start < set.count; start += o.batch) {
      const idx = Array.from({ length: Math.min(o.batch, set.count - start) }, (_, i) => start + i);
      const batch = makeBatch(set, idx);
      try {
        const r = await noGradAsync(() => batchLosses(model, batch, o, false));
        for (const k of Object.keys(sums) as (keyof typeof sums)[]) sums[k] += r[k];
        batches++;
      } finally {
        disposeBatch(batch);
      }
    }
  } finally {
    model.train();
  }
  const n = Math.max(batches, 1);
  return { loss: sums.loss / n, cls: sums.cls / n, box: sums.box / n, landmark: sums.landmark / n, correct: sums.correct, counted: sums.counted, accuracy: sums.correct / Math.max(sums.counted, 1) };
}

/** Loads the pretrained weights of this net (PyTorch layout) where names and shapes match; returns what stayed as initialised. */
async function loadPretrained(model: PNet | RNet | ONet, net: NetName, dir: string): Promise<string[]> {
  const path = join(dir, `${net}.safetensors`);
  if (!existsSync(path)) throw new UsageError(`--init ${dir}: no ${net}.safetensors there`);
  const file = await loadSafetensors(path);
  const converted = convertTorchMtcnn(net, file.tensors);
  const own = model.stateDict();
  const usable = new Map([...converted].filter(([name, t]) => {
    const target = own.get(name);
    return target && target.shape.length === t.shape.length && target.shape.every((d, i) => d === t.shape[i]);
  }));
  if (!usable.size) throw new UsageError(`--init ${path}: no tensor matches this ${net}'s names and shapes`);
  // P/R-Net's training-only landmark head, which the file lacks, starts at
  // zero (anything else missing, e.g. batchnorm, stays as initialised): a random head would send large gradients into the pretrained trunk
  // in the first steps (seen as a jump of the classification loss); a zero
  // one sends none until it has learnt something.
  const fresh = [...own.keys()].filter((k) => !usable.has(k));
  for (const k of fresh.filter((name) => /^(conv4_3|dense5_3)\./.test(name))) {
    const t = own.get(k)!;
    usable.set(k, { dtype: 'f32', shape: [...t.shape], data: new Float32Array(t.size) });
  }
  model.loadStateDict(usable, { strict: false, source: path });
  return fresh;
}

function makeSchedule(o: MtcnnTrainOptions, totalSteps: number): LRSchedule {
  const warmup = Math.min(o.warmupSteps, Math.max(0, totalSteps - 1));
  const cosine = cosineLR(o.lr, Math.max(1, totalSteps - warmup), o.lr * o.minLrFraction);
  return warmup > 0 ? linearWarmup(cosine, warmup) : cosine;
}

const fmt = (h: { loss: number; cls: number; box: number; landmark: number }) =>
  `loss ${h.loss.toFixed(4)} (cls ${h.cls.toFixed(4)}, box ${h.box.toFixed(4)}, lm ${h.landmark.toFixed(4)})`;

export async function trainMtcnn(options: Partial<MtcnnTrainOptions> & { net: NetName; data: string[] }): Promise<MtcnnTrainResult> {
  const o: MtcnnTrainOptions = { ...DEFAULTS, weights: DEFAULT_WEIGHTS[options.net], ...options };
  checkOptions(o);
  const say = (line: string) => o.verbose && process.stderr.write(line + '\n');
  mkdirSync(o.out, { recursive: true });

  const set = loadSampleSet(o.data);
  if (set.size !== NET_SIZE[o.net]) throw new UsageError(`--data: samples are ${set.size}x${set.size}, ${o.net} takes ${NET_SIZE[o.net]}x${NET_SIZE[o.net]} (gen:mtcnn --size ${NET_SIZE[o.net]})`);
  if (set.count < o.batch) throw new UsageError(`--data: ${set.count} samples, fewer than one batch of ${o.batch}`);
  const val = o.val.length ? loadSampleSet(o.val) : null;
  if (val && val.size !== set.size) throw new UsageError(`--val: samples are ${val.size}x${val.size}, not ${set.size}x${set.size}`);
  say(`data: ${set.count} samples ${set.size}x${set.size} (negative ${set.counts.negative}, positive ${set.counts.positive}, part ${set.counts.part}, landmark ${set.counts.landmark})` +
    (val ? `; validation ${val.count}` : ''));

  seedInit(o.seed);
  const model = createNet(o.net, o.arch);
  const opt = new Adam(model.namedParameters(), { lr: o.lr, weightDecay: o.weightDecay });
  const stepsPerEpoch = o.stepsPerEpoch > 0 ? o.stepsPerEpoch : Math.max(1, Math.floor(set.count / o.batch));
  const schedule = makeSchedule(o, o.epochs * stepsPerEpoch);
  const metadata: Record<string, string> = { 'mtcnn.net': o.net, 'mtcnn.arch': o.arch, 'train.data': o.data.map((d) => resolve(d)).join(',') };

  let state: LoopState = { epoch: 0, stepInEpoch: 0, globalStep: 0, rng: o.seed };
  let checkpoint: string | null = null;
  if (o.resume) {
    const dir = latestCheckpoint(o.out);
    if (!dir) throw new UsageError(`--resume: ${o.out} has no checkpoint (no latest.json)`);
    const saved = (await loadSafetensors(join(dir, 'model.safetensors'))).metadata;
    for (const key of ['mtcnn.net', 'mtcnn.arch'] as const) {
      if (saved[key] !== metadata[key]) throw new UsageError(`--resume: the checkpoint in ${dir} has ${key} = ${saved[key]}, these options give ${metadata[key]}`);
    }
    const loaded = (await loadLatestCheckpoint(o.out, model, opt))!;
    state = loaded.state;
    checkpoint = loaded.dir;
    say(`resumed from ${loaded.dir}: epoch ${state.epoch}, step ${state.globalStep}`);
  } else if (o.init) {
    const fresh = await loadPretrained(model, o.net, o.init);
    say(`initial weights from ${o.init}${fresh.length ? ` (not in the file: ${fresh.join(', ')}; a landmark head starts at zero)` : ''}`);
  }
  writeFileSync(join(o.out, 'options.json'), JSON.stringify({ ...o, resume: undefined, lossGuard: undefined, stopAtStep: undefined }, null, 2) + '\n');

  const log = new JsonlLog(join(o.out, 'train.jsonl'));
  const rng = new Rng(state.rng as number);
  const guard = new LossGuard(o.lossGuard);
  const stop = new StopRequest();
  const epochs: MtcnnEpochRecord[] = [];
  say(`training ${o.net} (${o.arch}, ${model.parameters().reduce((a, t) => a + t.size, 0)} parameters) on ${runtime().description}: ` +
    `${o.epochs} epochs x ${stepsPerEpoch} steps of ${o.batch}; loss weights ${o.weights.join('/')}, OHEM ${o.ohem}`);

  const saveNow = async () => {
    state.rng = rng.state;
    checkpoint = await saveCheckpoint(o.out, { model, optimizer: opt, state, metadata }, o.keep);
    return checkpoint;
  };

  let status: MtcnnTrainResult['status'] = 'done';
  let message: string | undefined;
  let exported: string | null = null;
  try {
    model.train();
    while (state.epoch < o.epochs && status === 'done') {
      const epoch = state.epoch + 1;
      // The order depends only on (seed, epoch): a resumed run continues the same sequence of batches.
      const order = epochOrder(set.count, o.seed, state.epoch);
      const bar = o.verbose ? progressBar((stepsPerEpoch - state.stepInEpoch) * o.batch, `${o.net} epoch ${epoch}/${o.epochs}`) : null;
      const sums = { loss: 0, cls: 0, box: 0, landmark: 0, correct: 0, counted: 0, steps: 0 };
      const started = performance.now();
      while (state.stepInEpoch < stepsPerEpoch) {
        const first = (state.stepInEpoch * o.batch) % Math.max(1, set.count - o.batch + 1);
        const idx = order.subarray(first, first + o.batch);
        const flip = Array.from(idx, () => o.flip && rng.next() < 0.5);
        opt.lr = schedule(state.globalStep);
        const batch = makeBatch(set, idx, flip);
        let r: HeadLosses;
        try {
          r = await batchLosses(model, batch, o, true);
        } finally {
          disposeBatch(batch);
        }
        // Applied only once the loss is known to be sound, so a bad step never reaches the parameters.
        const problem = guard.check(r.loss);
        if (problem) {
          opt.zeroGrad();
          status = 'diverged';
          message = `training stopped at epoch ${epoch}, step ${state.globalStep + 1}: ${problem}. ` +
            (checkpoint ? `The last good checkpoint is ${checkpoint}.` : 'No checkpoint was written yet.') + ' Try a lower --lr.';
          log.write({ type: 'stopped', reason: problem, epoch, step: state.globalStep + 1, time: new Date().toISOString() });
          break;
        }
        opt.step();
        opt.zeroGrad();
        state.stepInEpoch++;
        state.globalStep++;
        for (const k of ['loss', 'cls', 'box', 'landmark', 'correct', 'counted'] as const) sums[k] += r[k];
        sums.steps++;
        log.write({ type: 'step', epoch, step: state.globalStep, loss: r.loss, cls: r.cls, box: r.box, landmark: r.landmark, accuracy: r.correct / Math.max(r.counted, 1), lr: opt.lr });
        const avg = { loss: sums.loss / sums.steps, cls: sums.cls / sums.steps, box: sums.box / sums.steps, landmark: sums.landmark / sums.steps };
        const rate = (sums.steps * o.batch) / ((performance.now() - started) / 1000);
        bar?.tick(o.batch, `${fmt(avg)} acc ${((100 * sums.correct) / Math.max(sums.counted, 1)).toFixed(1)}% ${rate.toFixed(0)}/s lr ${opt.lr.toExponential(1)}`);
        if (stop.requested || state.globalStep === o.stopAtStep) break;
      }
      bar?.done();
      if (status !== 'done') break;
      if (stop.requested || state.globalStep === o.stopAtStep) {
        status = 'interrupted';
        const dir = await saveNow();
        message = `interrupted at epoch ${epoch}, step ${state.stepInEpoch}/${stepsPerEpoch}; checkpoint ${dir} (continue with --resume)`;
        await writePlots(o.out, log, o.net);
        break;
      }
      const n = Math.max(sums.steps, 1);
      const rec: MtcnnEpochRecord = {
        type: 'epoch', epoch, step: state.globalStep,
        loss: sums.loss / n, cls: sums.cls / n, box: sums.box / n, landmark: sums.landmark / n,
        correct: sums.correct, counted: sums.counted, accuracy: sums.correct / Math.max(sums.counted, 1),
        samplesPerSecond: (sums.steps * o.batch) / ((performance.now() - started) / 1000),
      };
      if (val) rec.val = await evaluateSet(model, val, o);
      state.epoch = epoch;
      state.stepInEpoch = 0;
      const dir = await saveNow();
      log.write({ ...rec, checkpoint: dir, time: new Date().toISOString() });
      epochs.push(rec);
      say(`epoch ${epoch}: ${fmt(rec)}, accuracy ${(100 * rec.accuracy).toFixed(1)}%` +
        (rec.val ? `; validation ${fmt(rec.val)}, accuracy ${(100 * rec.val.accuracy).toFixed(1)}%` : '') +
        `; ${rec.samplesPerSecond.toFixed(0)} samples/s; saved ${dir}`);
      await writePlots(o.out, log, o.net);
    }
    if (status === 'done') {
      model.eval();
      exported = await exportNet(o.export ?? o.out, o.net, model, o.arch, { 'mtcnn.net': o.net, 'train.steps': String(state.globalStep) });
      say(`wrote ${exported} (PyTorch layout; use with the other two nets' files in one folder: eval:detect --weights DIR)`);
    }
  } finally {
    stop.dispose();
    opt.dispose();
  }
  return { status, message, epochs, checkpoint, exported, model, state };
}

/** loss.png: the total and per-head losses per step (smoothed), from the whole log (resumed runs included). */
async function writePlots(out: string, log: JsonlLog, net: NetName): Promise<void> {
  const steps = log.read().filter((r) => r.type === 'step') as { step: number; loss: number; cls: number; box: number; landmark: number }[];
  if (!steps.length) return;
  const window = Math.max(1, Math.min(100, Math.floor(steps.length / 20)));
  const series = (key: 'loss' | 'cls' | 'box' | 'landmark') => movingAverage(steps.map((s) => [s.step, s[key]]), window);
  await writeLineChart(join(out, 'loss.png'), {
    title: `MTCNN ${net} training loss`, xLabel: 'step', yLabel: `loss (mean of ${window} steps)`,
    series: [
      { name: 'total', points: series('loss') },
      { name: 'classification (OHEM)', points: series('cls') },
      { name: 'box', points: series('box') },
      { name: 'landmark', points: series('landmark') },
    ],
  });
}

function checkOptions(o: MtcnnTrainOptions): void {
  const bad: string[] = [];
  if (!(o.net in NET_SIZE)) bad.push(`--net must be pnet, rnet or onet, got "${o.net}"`);
  if (o.arch !== 'original' && o.arch !== 'bn') bad.push(`--arch must be original or bn, got "${o.arch}"`);
  if (!o.data.length) bad.push('--data DIR[,DIR...] is required (gen:mtcnn output folders)');
  for (const [k, v, min] of [['epochs', o.epochs, 1], ['batch', o.batch, 2], ['keep', o.keep, 1], ['steps-per-epoch', o.stepsPerEpoch, 0], ['warmup-steps', o.warmupSteps, 0]] as const) {
    if (!Number.isInteger(v) || v < min) bad.push(`--${k} must be an integer >= ${min}, got ${v}`);
  }
  if (!(o.lr > 0)) bad.push(`--lr must be > 0, got ${o.lr}`);
  if (!(o.ohem > 0 && o.ohem <= 1)) bad.push(`--ohem must be in (0, 1], got ${o.ohem}`);
  if (o.weights.length !== 3 || o.weights.some((w) => !(w >= 0))) bad.push(`--loss-weights must be three numbers >= 0, got ${o.weights.join(',')}`);
  if (bad.length) throw new UsageError(bad.join('\n'));
}

// ---- command line ------------------------------------------------------------------

const OPTIONS: OptionSpecs = {
  net: { kind: 'string', value: 'NAME', help: 'pnet (12x12 samples), rnet (24x24) or onet (48x48)' },
  data: { kind: 'string', value: 'DIR[,DIR]', help: 'gen:mtcnn sample folders (e.g. random crops and mined hard examples)' },
  val: { kind: 'string', value: 'DIR[,DIR]', help: 'sample folders to report losses and accuracy on after each epoch' },
  out: { kind: 'string', value: 'DIR', help: 'run folder: checkpoints, train.jsonl, loss.png, the exported net', default: 'runs/mtcnn-<net>' },
  export: { kind: 'string', value: 'DIR', help: 'write <net>.safetensors (PyTorch layout) here instead of --out' },
  'export-only': { kind: 'boolean', help: 'export the latest checkpoint of --out and stop' },
  arch: { kind: 'string', value: 'NAME', help: 'original (PReLU, the pretrained architecture) or bn (batchnorm + ReLU)', default: DEFAULTS.arch },
  init: { kind: 'string', value: 'DIR', help: `fine-tune: start from the pretrained <net>.safetensors in DIR (e.g. ${DEFAULT_MTCNN_DIR})` },
  epochs: { kind: 'int', help: 'epochs to train', default: DEFAULTS.epochs },
  batch: { kind: 'int', help: 'samples per step', default: DEFAULTS.batch },
  'steps-per-epoch': { kind: 'int', help: 'steps per epoch; 0: one pass over the samples', default: 0 },
  lr: { kind: 'number', help: 'peak learning rate (Adam); about 1e-4 to fine-tune', default: DEFAULTS.lr },
  'min-lr': { kind: 'number', value: 'F', help: 'final learning rate of the cosine decay, as a fraction of --lr', default: DEFAULTS.minLrFraction },
  'warmup-steps': { kind: 'int', help: 'linear warm-up steps', default: DEFAULTS.warmupSteps },
  'weight-decay': { kind: 'number', help: 'L2 weight decay', default: DEFAULTS.weightDecay },
  'loss-weights': { kind: 'string', value: 'C,B,L', help: 'weights of classification, box and landmark losses (default 1,0.5,0.5 for pnet/rnet, 1,0.5,1 for onet)' },
  ohem: { kind: 'number', value: 'F', help: 'online hard-example mining: fraction of the classification losses kept, hardest first', default: DEFAULTS.ohem },
  'no-flip': { kind: 'boolean', help: 'no random left-right mirroring' },
  resume: { kind: 'boolean', help: 'continue the run in --out from its latest checkpoint (same step, same batches)' },
  seed: { kind: 'int', help: 'seed of initialisation and sampling', default: DEFAULTS.seed },
  keep: { kind: 'int', help: 'checkpoints kept', default: DEFAULTS.keep },
  quiet: { kind: 'boolean', help: 'no progress output' },
  help: { kind: 'boolean', help: 'show this help' },
};

export const USAGE = `usage: npm run train:pnet|train:rnet|train:onet -- --data DIR[,DIR...] [options]
       tsx train/mtcnn/train.ts --net pnet|rnet|onet --data DIR[,DIR...] [options]

Trains one MTCNN net on gen:mtcnn samples: classification cross-entropy on
positives and negatives with online hard-example mining, box-offset MSE on
positives and parts, landmark MSE on landmark samples. Adam on a warm-up +
cosine schedule. A checkpoint is written after every epoch and on Ctrl-C;
--resume continues from the same step. A NaN or exploding loss stops the run
before the bad step is applied. At the end <net>.safetensors is written in the
pretrained files' layout; put the three nets in one folder and evaluate with
  npm run eval:detect -- --data ... --format caltech --weights DIR

example (fine-tune R-Net on random crops + P-Net hard examples):
  npm run gen:mtcnn -- --data ../shared/data/dlib_faces/training.xml --format dlib --size 24 --out s24 --mine models/mtcnn
  npm run train:rnet -- --data s24 --init models/mtcnn --lr 1e-4 --epochs 2 --export my-mtcnn

options:
${formatOptions(OPTIONS)}`;

export async function main(argv: string[]): Promise<number> {
  const a = parseCommandArgs(argv, OPTIONS, USAGE);
  if (typeof a === 'number') return a;
  const net = a.net as string | undefined;
  if (net !== 'pnet' && net !== 'rnet' && net !== 'onet') {
    process.stderr.write(`--net must be pnet, rnet or onet${net ? `, got "${net}"` : ''}\n\n${USAGE}\n`);
    return 2;
  }
  if (!a.data && !a['export-only']) {
    process.stderr.write(`--data is required\n\n${USAGE}\n`);
    return 2;
  }
  const list = (v: unknown) => (typeof v === 'string' && v ? v.split(',').filter(Boolean) : []);
  let weights = DEFAULT_WEIGHTS[net];
  if (a['loss-weights'] !== undefined) {
    const w = String(a['loss-weights']).split(',').map(Number);
    if (w.length !== 3 || w.some((x) => !(x >= 0))) {
      process.stderr.write(`--loss-weights ${a['loss-weights']}: must be three numbers >= 0 (classification, box, landmark)\n`);
      return 2;
    }
    weights = [w[0], w[1], w[2]];
  }
  const out = a.out === 'runs/mtcnn-<net>' ? `runs/mtcnn-${net}` : (a.out as string);
  const options: Partial<MtcnnTrainOptions> & { net: NetName; data: string[] } = {
    net,
    data: list(a.data),
    val: list(a.val),
    out,
    export: a.export as string | undefined,
    arch: a.arch as MtcnnVariant,
    init: a.init as string | undefined,
    epochs: a.epochs as number,
    batch: a.batch as number,
    stepsPerEpoch: a['steps-per-epoch'] as number,
    lr: a.lr as number,
    minLrFraction: a['min-lr'] as number,
    warmupSteps: a['warmup-steps'] as number,
    weightDecay: a['weight-decay'] as number,
    weights,
    ohem: a.ohem as number,
    flip: a['no-flip'] !== true,
    resume: a.resume === true,
    seed: a.seed as number,
    keep: a.keep as number,
    verbose: a.quiet !== true,
  };
  for (const d of [...options.data, ...(options.val ?? [])]) {
    if (!existsSync(join(d, 'index.json'))) {
      process.stderr.write(`${d}: not a gen:mtcnn sample folder (no index.json)\n`);
      return 2;
    }
  }
  return runTrainingCommand(async () => {
    if (a['export-only']) {
      const dir = latestCheckpoint(out);
      if (!dir) throw new UsageError(`--export-only: ${out} has no checkpoint`);
      // The architecture the checkpoint was trained with, whatever --arch says.
      const arch = ((await loadSafetensors(join(dir, 'model.safetensors'))).metadata['mtcnn.arch'] ?? 'original') as MtcnnVariant;
      const model = createNet(net, arch);
      const opt = new Adam(model.namedParameters(), { lr: options.lr ?? DEFAULTS.lr, weightDecay: options.weightDecay ?? 0 });
      const loaded = (await loadLatestCheckpoint(out, model, opt))!;
      model.eval();
      const path = await exportNet(options.export ?? out, net, model, arch, { 'mtcnn.net': net, 'train.steps': String(loaded.state.globalStep) });
      process.stderr.write(`wrote ${path} from ${loaded.dir}\n`);
      return 0;
    }
    return trainMtcnn(options);
  });
}

if (isMain(import.meta.url)) await runMain(main);

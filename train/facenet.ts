// `npm run train:facenet -- --data DIR [options]`: trains a FaceNet
// (nets/facenet) on a folder per identity (or a list file) with the design
// document's recipe: random triplets, hard-triplet loss + classifier
// cross-entropy, Adam or SGD on a warm-up + cosine schedule.
//
// Run folder (--out): checkpoints/ and latest.json (train/lib/checkpoint.ts),
// train.jsonl (a record per step and per epoch), loss.png and accuracy.png.
// The model of the latest checkpoint is what eval:lfw reads (--model RUN_DIR).
//
// The loop can also be driven in-process through `trainFacenet` (tests do).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runtime } from '../engine/runtime.js';
import { Tensor, tidyAsync, noGrad, tidy } from '../engine/tensor.js';
import { Adam, SGD, type Optimizer } from '../engine/optim.js';
import { cosineLR, linearWarmup, type LRSchedule } from '../engine/schedule.js';
import { loadSafetensors } from '../engine/io.js';
import { seedInit } from '../engine/nn/layers.js';
import {
  FaceNet, FACENET_INPUT, BACKBONES, EVAL_CROP, minInputSize, TripletSampler, cropBoxes, colourJitter, prepareBatch, facenetLoss, embedCached,
  facenetMetadata, type Backbone,
} from '../nets/facenet/index.js';
import { progressBar } from '../tools/progress.js';
import { parseCommandArgs, formatOptions, UsageError, type OptionSpecs } from './lib/args.js';
import { loadIdentityDataset, holdOutPerIdentity, type IdentityDataset } from './lib/identity-dataset.js';
import { ImageCache } from './lib/image-cache.js';
import { loadPairSet, verifyPairs, type PairSet } from './lib/lfw-pairs.js';
import { saveCheckpoint, loadLatestCheckpoint, latestCheckpoint, type LoopState } from './lib/checkpoint.js';
import { JsonlLog } from './lib/jsonl.js';
import { LossGuard, type LossGuardOptions } from './lib/loss-guard.js';
import { StopRequest } from './lib/interrupt.js';
import { Rng } from './lib/rng.js';
import { writeLineChart, movingAverage } from './lib/charts.js';
import { isMain, runMain } from '../tools/cli.js';
import { runTrainingCommand } from './lib/command.js';

export interface TrainOptions {
  /** A folder per identity, or a list file (train/lib/identity-dataset.ts). */
  data: string;
  out: string;
  backbone: Backbone;
  epochs: number;
  /** Triplets per step (3x as many images). */
  batch: number;
  inputSize: number;
  embeddingSize: number;
  /** Centre crop of the source images (fraction of the shorter side) before caching. */
  crop: number;
  optimizer: 'adam' | 'sgd';
  lr: number;
  /** Final learning rate of the cosine schedule, as a fraction of lr. */
  minLrFraction: number;
  warmupSteps: number;
  weightDecay: number;
  momentum: number;
  margin: number;
  squaredDistance: boolean;
  ceWeight: number;
  /** Steps per epoch; 0: as many images as the training set holds, in triplets. */
  stepsPerEpoch: number;
  /** Images per identity held out to measure classifier accuracy on unseen images (0: none). */
  holdout: number;
  /** LFW-style pairs file evaluated at the end of each epoch, and its image folder. */
  pairs?: string;
  pairsData?: string;
  /** Weights (an engine FaceNet .safetensors) to start from; the classifier is skipped when its size differs. */
  init?: string;
  resume: boolean;
  seed: number;
  /** Checkpoints kept. */
  keep: number;
  /** Progress bar and messages on stderr. */
  verbose: boolean;
  /** When the loss counts as exploding (programmatic only; the defaults suit real runs). */
  lossGuard?: LossGuardOptions;
}

export const DEFAULTS: Omit<TrainOptions, 'data'> = {
  out: 'out/facenet',
  backbone: 'mobilenet',
  epochs: 30,
  batch: 8,
  inputSize: 96,
  embeddingSize: 128,
  crop: 0.6,
  optimizer: 'adam',
  lr: 1e-3,
  minLrFraction: 0.01,
  warmupSteps: 200,
  weightDecay: 0,
  momentum: 0.9,
  margin: 0.2,
  squaredDistance: false,
  ceWeight: 1,
  stepsPerEpoch: 0,
  holdout: 0,
  resume: false,
  seed: 1,
  keep: 2,
  verbose: true,
};

export interface EpochRecord {
  type: 'epoch';
  epoch: number;
  step: number;
  loss: number;
  triplet: number;
  crossEntropy: number;
  trainAccuracy: number;
  imagesPerSecond: number;
  heldoutAccuracy?: number;
  pairsAccuracy?: number;
  pairsStd?: number;
  pairsThreshold?: number;
  pairsValRate?: number;
}

export interface TrainResult {
  status: 'done' | 'interrupted' | 'diverged';
  message?: string;
  epochs: EpochRecord[];
  /** Folder of the last checkpoint written (or loaded), if any. */
  checkpoint: string | null;
  model: FaceNet;
}

/** Side of the cached squares: the evaluation crop (EVAL_CROP of it) is then the input size, with room for random crops. */
export const cacheSizeFor = (inputSize: number) => Math.ceil(inputSize / EVAL_CROP);

interface StepResult {
  loss: number;
  triplet: number;
  crossEntropy: number;
  correct: number;
  images: number;
}

function argmaxCorrect(logits: Float32Array, classes: number, labels: readonly number[]): number {
  let correct = 0;
  labels.forEach((label, r) => {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[r * classes + c] > logits[r * classes + best]) best = c;
    if (best === label) correct++;
  });
  return correct;
}

/** Top-1 accuracy of the classifier on cached images (eval mode, evaluation crop). */
async function classifierAccuracy(model: FaceNet, cache: ImageCache, labels: readonly number[], inputSize: number, batch = 32): Promise<number> {
  const classes = model.config.numClasses;
  let correct = 0;
  model.eval();
  try {
    for (let start = 0; start < cache.count; start += batch) {
      const idx = Array.from({ length: Math.min(batch, cache.count - start) }, (_, i) => start + i);
      const logits = noGrad(() =>
        tidy(() => model.forward(prepareBatch({ packed: cache.packBatch(idx), size: cache.size, boxes: cropBoxes(idx.length, cache.size, null) }, inputSize, FACENET_INPUT)).logits!),
      );
      try {
        correct += argmaxCorrect((await logits.data()) as Float32Array, classes, idx.map((i) => labels[i]));
      } finally {
        logits.dispose();
      }
    }
  } finally {
    model.train();
  }
  return correct / cache.count;
}

function makeOptimizer(model: FaceNet, o: TrainOptions): Optimizer {
  const params = model.namedParameters();
  return o.optimizer === 'sgd'
    ? new SGD(params, { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay, nesterov: o.momentum > 0 })
    : new Adam(params, { lr: o.lr, weightDecay: o.weightDecay });
}

function makeSchedule(o: TrainOptions, totalSteps: number): LRSchedule {
  const warmup = Math.min(o.warmupSteps, Math.max(0, totalSteps - 1));
  const cosine = cosineLR(o.lr, Math.max(1, totalSteps - warmup), o.lr * o.minLrFraction);
  return warmup > 0 ? linearWarmup(cosine, warmup) : cosine;
}

/** Loads weights of another run into `model`: every entry whose name and shape match (a different classifier is skipped). */
async function loadInitialWeights(model: FaceNet, path: string): Promise<string[]> {
  const file = await loadSafetensors(path);
  const saved = file.metadata['facenet.backbone'];
  if (saved !== undefined && saved !== model.config.backbone) throw new Error(`--init ${path}: weights of a ${saved}, this run trains a ${model.config.backbone}`);
  const own = model.stateDict();
  const usable = new Map([...file.tensors].filter(([name, t]) => {
    const target = own.get(name);
    return target && target.shape.length === t.shape.length && target.shape.every((d, i) => d === t.shape[i]);
  }));
  if (!usable.size) throw new Error(`${path}: no tensor matches this model's names and shapes (backbone ${model.config.backbone})`);
  model.loadStateDict(usable, { strict: false, source: path });
  return [...own.keys()].filter((k) => !usable.has(k));
}

export async function trainFacenet(options: Partial<TrainOptions> & { data: string }): Promise<TrainResult> {
  const o: TrainOptions = { ...DEFAULTS, ...options };
  checkOptions(o);
  const say = (line: string) => o.verbose && process.stderr.write(line + '\n');
  mkdirSync(o.out, { recursive: true });

  // ---- data --------------------------------------------------------------
  const all = loadIdentityDataset(o.data);
  const { train: trainSet, held } = o.holdout > 0 ? holdOutPerIdentity(all, o.holdout) : { train: all, held: null as IdentityDataset | null };
  const cacheSize = cacheSizeFor(o.inputSize);
  // Faces are taken as roughly aligned (LFW deep-funneled, CASIA-WebFace as the
  // design document prepares it, ORL) and centre-cropped by --crop.
  // TODO(alignment): for unaligned photos, give ImageCache.fromFiles a
  // `prepare` hook that detects the face with MtcnnDetector (nets/mtcnn),
  // warps its five landmarks onto the template with alignFaces (nets/align.ts)
  // and returns the aligned RGBA face (null skips an image without a face);
  // then train with --crop 1.
  const cacheImages = async (files: string[], label: string) => {
    const bar = o.verbose ? progressBar(files.length, label) : null;
    const cache = await ImageCache.fromFiles(files, { size: cacheSize, cropFraction: o.crop, onProgress: () => bar?.tick() });
    bar?.done();
    return cache;
  };
  say(`data: ${all.names.length} identities, ${trainSet.files.length} training images${held ? `, ${held.files.length} held out` : ''} (${o.data})`);
  const trainCache = await cacheImages(trainSet.files, 'decoding training images');
  const heldCache = held && held.files.length ? await cacheImages(held.files, 'decoding held-out images') : null;
  let pairSet: PairSet | null = null;
  let pairsCache: ImageCache | null = null;
  if (o.pairs) {
    pairSet = loadPairSet(o.pairs, o.pairsData ?? o.data);
    pairsCache = await cacheImages(pairSet.images, 'decoding pair images');
  }
  const sampler = new TripletSampler(trainSet.labels);

  // ---- model, optimiser, schedule ------------------------------------------
  seedInit(o.seed);
  const model = new FaceNet({ backbone: o.backbone, embeddingSize: o.embeddingSize, numClasses: all.names.length });
  const opt = makeOptimizer(model, o);
  const imagesPerStep = 3 * o.batch;
  const stepsPerEpoch = o.stepsPerEpoch > 0 ? o.stepsPerEpoch : Math.max(1, Math.floor(trainSet.files.length / imagesPerStep));
  const schedule = makeSchedule(o, o.epochs * stepsPerEpoch);
  const metadata: Record<string, string> = {
    ...facenetMetadata({
      config: { backbone: o.backbone, embeddingSize: o.embeddingSize, numClasses: all.names.length },
      inputSize: o.inputSize,
      normalization: FACENET_INPUT,
      crop: o.crop,
    }),
    'train.data': resolve(o.data),
  };

  let state: LoopState = { epoch: 0, stepInEpoch: 0, globalStep: 0, rng: o.seed };
  let checkpoint: string | null = null;
  if (o.resume) {
    const dir = latestCheckpoint(o.out);
    if (!dir) throw new Error(`--resume: ${o.out} has no checkpoint (no latest.json)`);
    // Compare what defines the model before loading, for a message that says which option differs.
    const saved = (await loadSafetensors(join(dir, 'model.safetensors'))).metadata;
    for (const key of ['facenet.backbone', 'facenet.embedding_size', 'facenet.num_classes', 'facenet.input_size'] as const) {
      if (saved[key] !== metadata[key]) throw new Error(`--resume: the checkpoint in ${dir} has ${key} = ${saved[key]}, these options give ${metadata[key]}`);
    }
    const loaded = (await loadLatestCheckpoint(o.out, model, opt))!;
    state = loaded.state;
    checkpoint = loaded.dir;
    say(`resumed from ${loaded.dir}: epoch ${state.epoch}, step ${state.globalStep}`);
  } else if (o.init) {
    const missing = await loadInitialWeights(model, o.init);
    say(`initial weights from ${o.init}${missing.length ? ` (not in the file, left random: ${missing.length} tensors, e.g. ${missing.slice(0, 3).join(', ')})` : ''}`);
  }
  writeFileSync(join(o.out, 'options.json'), JSON.stringify({ ...o, resume: undefined }, null, 2) + '\n');

  const log = new JsonlLog(join(o.out, 'train.jsonl'));
  const rng = new Rng(state.rng as number);
  const guard = new LossGuard(o.lossGuard);
  const stop = new StopRequest();
  const epochs: EpochRecord[] = [];
  say(`training ${o.backbone} (${model.parameters().reduce((a, t) => a + t.size, 0)} parameters) at ${o.inputSize}x${o.inputSize} on ${runtime().description}: ` +
    `${o.epochs} epochs x ${stepsPerEpoch} steps of ${o.batch} triplets (${imagesPerStep} images)`);

  const saveNow = async () => {
    state.rng = rng.state;
    checkpoint = await saveCheckpoint(o.out, { model, optimizer: opt, state, metadata }, o.keep);
    return checkpoint;
  };

  const runStep = async (): Promise<StepResult | string> => {
    const batch = sampler.sample(o.batch, rng);
    const input = {
      packed: trainCache.packBatch(batch.images),
      size: cacheSize,
      boxes: cropBoxes(batch.images.length, cacheSize, rng),
      colour: colourJitter(batch.images.length, rng),
    };
    const dropoutSeed = rng.u32();
    opt.lr = schedule(state.globalStep);
    const r = await tidyAsync(async () => {
      const x = prepareBatch(input, o.inputSize, FACENET_INPUT);
      const labels = Tensor.from(batch.labels, [batch.labels.length], 'i32');
      const out = model.forward(x, { dropoutSeed });
      const loss = facenetLoss(out, labels, { margin: o.margin, squaredDistance: o.squaredDistance, crossEntropyWeight: o.ceWeight });
      loss.total.backward();
      const [total, triplet, ce, logits] = await Promise.all([loss.total.item(), loss.triplet.item(), loss.crossEntropy.item(), out.logits!.data()]);
      return { loss: total, triplet, crossEntropy: ce, correct: argmaxCorrect(logits as Float32Array, all.names.length, batch.labels), images: batch.images.length };
    });
    // The update is applied only after the loss is known to be sound, so a
    // bad step never reaches the parameters (nor, then, a checkpoint).
    const problem = guard.check(r.loss);
    if (problem) {
      opt.zeroGrad();
      return problem;
    }
    opt.step();
    opt.zeroGrad();
    return r;
  };

  let status: TrainResult['status'] = 'done';
  let message: string | undefined;
  try {
    model.train();
    while (state.epoch < o.epochs && status === 'done') {
      const epoch = state.epoch + 1;
      const bar = o.verbose ? progressBar((stepsPerEpoch - state.stepInEpoch) * imagesPerStep, `epoch ${epoch}/${o.epochs}`) : null;
      const sums = { loss: 0, triplet: 0, crossEntropy: 0, correct: 0, images: 0, steps: 0 };
      const started = performance.now();
      while (state.stepInEpoch < stepsPerEpoch) {
        const t0 = performance.now();
        const r = await runStep();
        if (typeof r === 'string') {
          status = 'diverged';
          message = `training stopped at epoch ${epoch}, step ${state.globalStep + 1}: ${r}. ` +
            (checkpoint ? `The last good checkpoint is ${checkpoint}.` : 'No checkpoint was written yet.') +
            ' Try a lower --lr.';
          log.write({ type: 'stopped', reason: r, epoch, step: state.globalStep + 1, time: new Date().toISOString() });
          break;
        }
        state.stepInEpoch++;
        state.globalStep++;
        for (const k of ['loss', 'triplet', 'crossEntropy', 'correct', 'images'] as const) sums[k] += r[k];
        sums.steps++;
        const seconds = (performance.now() - t0) / 1000;
        log.write({ type: 'step', epoch, step: state.globalStep, loss: r.loss, triplet: r.triplet, crossEntropy: r.crossEntropy, accuracy: r.correct / r.images, lr: opt.lr, imagesPerSecond: r.images / seconds });
        const rate = sums.images / ((performance.now() - started) / 1000);
        bar?.tick(r.images, `loss ${(sums.loss / sums.steps).toFixed(3)} (triplet ${(sums.triplet / sums.steps).toFixed(3)}, ce ${(sums.crossEntropy / sums.steps).toFixed(3)}) acc ${((100 * sums.correct) / sums.images).toFixed(1)}% ${rate.toFixed(1)} img/s lr ${opt.lr.toExponential(1)}`);
        if (stop.requested) break;
      }
      bar?.done();
      if (status !== 'done') break;
      if (stop.requested) {
        status = 'interrupted';
        const dir = await saveNow();
        message = `interrupted at epoch ${epoch}, step ${state.stepInEpoch}/${stepsPerEpoch}; checkpoint ${dir} (continue with --resume)`;
        break;
      }

      // ---- end of epoch: evaluate, log, checkpoint, plot -------------------
      const seconds = (performance.now() - started) / 1000;
      const rec: EpochRecord = {
        type: 'epoch', epoch, step: state.globalStep,
        loss: sums.loss / sums.steps, triplet: sums.triplet / sums.steps, crossEntropy: sums.crossEntropy / sums.steps,
        trainAccuracy: sums.correct / sums.images, imagesPerSecond: sums.images / seconds,
      };
      if (heldCache && held) rec.heldoutAccuracy = await classifierAccuracy(model, heldCache, held.labels, o.inputSize);
      if (pairSet && pairsCache) {
        const cache = pairsCache;
        const emb = await embedCached(model, cache.count, (idx) => cache.packBatch(idx), cache.size, o.inputSize, FACENET_INPUT);
        const v = verifyPairs(pairSet, emb, o.embeddingSize);
        Object.assign(rec, { pairsAccuracy: v.accuracy, pairsStd: v.std, pairsThreshold: v.threshold, pairsValRate: v.valRate });
      }
      state.epoch = epoch;
      state.stepInEpoch = 0;
      const dir = await saveNow();
      log.write({ ...rec, checkpoint: dir, time: new Date().toISOString() });
      epochs.push(rec);
      say(`epoch ${epoch}: loss ${rec.loss.toFixed(4)}, train accuracy ${(100 * rec.trainAccuracy).toFixed(1)}%` +
        (rec.heldoutAccuracy !== undefined ? `, held-out accuracy ${(100 * rec.heldoutAccuracy).toFixed(1)}%` : '') +
        (rec.pairsAccuracy !== undefined ? `, pairs accuracy ${(100 * rec.pairsAccuracy).toFixed(1)}% +- ${(100 * rec.pairsStd!).toFixed(1)}` : '') +
        `; ${rec.imagesPerSecond.toFixed(1)} images/s; saved ${dir}`);
      await writePlots(o.out, log, stepsPerEpoch);
    }
  } finally {
    stop.dispose();
    opt.dispose();
  }
  if (status === 'done') await writePlots(o.out, log, stepsPerEpoch);
  return { status, message, epochs, checkpoint, model };
}

/** loss.png (per step, smoothed) and accuracy.png (per epoch) from the whole log, resumed runs included. */
async function writePlots(out: string, log: JsonlLog, stepsPerEpoch: number): Promise<void> {
  const records = log.read();
  const steps = records.filter((r) => r.type === 'step') as { step: number; loss: number; triplet: number; crossEntropy: number; accuracy: number }[];
  const ep = records.filter((r) => r.type === 'epoch') as unknown as EpochRecord[];
  if (!steps.length) return;
  const window = Math.max(1, Math.min(100, Math.floor(steps.length / 20)));
  const series = (key: 'loss' | 'triplet' | 'crossEntropy') => movingAverage(steps.map((s) => [s.step, s[key]]), window);
  await writeLineChart(join(out, 'loss.png'), {
    title: 'FaceNet training loss', xLabel: 'step', yLabel: `loss (mean of ${window} steps)`,
    series: [{ name: 'total', points: series('loss') }, { name: 'triplet', points: series('triplet') }, { name: 'cross-entropy', points: series('crossEntropy') }],
  });
  const accSeries = [{ name: 'train (classifier, per step)', points: movingAverage(steps.map((s) => [s.step / stepsPerEpoch, s.accuracy]), window) }];
  if (ep.length) {
    if (ep.some((e) => e.heldoutAccuracy !== undefined)) accSeries.push({ name: 'held-out (classifier)', points: ep.map((e) => [e.epoch, e.heldoutAccuracy ?? NaN]) });
    if (ep.some((e) => e.pairsAccuracy !== undefined)) accSeries.push({ name: 'pairs (verification)', points: ep.map((e) => [e.epoch, e.pairsAccuracy ?? NaN]) });
  }
  await writeLineChart(join(out, 'accuracy.png'), { title: 'FaceNet accuracy', xLabel: 'epoch', yLabel: 'accuracy', yRange: [0, 1], series: accSeries });
}

function checkOptions(o: TrainOptions): void {
  const bad: string[] = [];
  if (!BACKBONES.includes(o.backbone)) bad.push(`--backbone must be one of ${BACKBONES.join(', ')}, got "${o.backbone}"`);
  if (o.optimizer !== 'adam' && o.optimizer !== 'sgd') bad.push(`--optimizer must be adam or sgd, got "${o.optimizer}"`);
  for (const [k, v, min] of [['epochs', o.epochs, 1], ['batch', o.batch, 1], ['input-size', o.inputSize, 16], ['embedding-size', o.embeddingSize, 1], ['keep', o.keep, 1]] as const) {
    if (!Number.isInteger(v) || v < min) bad.push(`--${k} must be an integer >= ${min}, got ${v}`);
  }
  if (BACKBONES.includes(o.backbone) && o.inputSize < minInputSize(o.backbone)) bad.push(`--input-size ${o.inputSize} is too small for ${o.backbone} (at least ${minInputSize(o.backbone)})`);
  if (!(o.crop > 0 && o.crop <= 1)) bad.push(`--crop must be in (0, 1], got ${o.crop}`);
  if (!(o.lr > 0)) bad.push(`--lr must be > 0, got ${o.lr}`);
  if (o.pairs && !o.pairsData) bad.push('--pairs needs --pairs-data (the folder of the pairs\' images)');
  if (bad.length) throw new UsageError(bad.join('\n'));
}

// ---- command line ------------------------------------------------------------------

const OPTIONS: OptionSpecs = {
  data: { kind: 'string', value: 'DIR|FILE', help: 'training images: a folder per identity, or a list file (`label;path` or `path` lines)' },
  out: { kind: 'string', value: 'DIR', help: 'run folder: checkpoints, train.jsonl, loss.png, accuracy.png', default: DEFAULTS.out },
  backbone: { kind: 'string', value: 'NAME', help: 'mobilenet or inception_resnetv1', default: DEFAULTS.backbone },
  epochs: { kind: 'int', help: 'epochs to train', default: DEFAULTS.epochs },
  batch: { kind: 'int', help: 'triplets per step (3x as many images)', default: DEFAULTS.batch },
  'input-size': { kind: 'int', value: 'PX', help: 'side of the square input; the nets are convolutional, so 96 or 112 train much faster than 160', default: DEFAULTS.inputSize },
  'embedding-size': { kind: 'int', help: 'embedding length', default: DEFAULTS.embeddingSize },
  crop: { kind: 'number', value: 'F', help: 'centre crop of each image (fraction of its shorter side): 0.6 suits LFW deep-funneled 250x250, ~0.9 ORL', default: DEFAULTS.crop },
  optimizer: { kind: 'string', value: 'NAME', help: 'adam or sgd (Nesterov momentum)', default: DEFAULTS.optimizer },
  lr: { kind: 'number', help: 'peak learning rate', default: DEFAULTS.lr },
  'min-lr': { kind: 'number', value: 'F', help: 'final learning rate of the cosine decay, as a fraction of --lr', default: DEFAULTS.minLrFraction },
  'warmup-steps': { kind: 'int', help: 'linear warm-up steps', default: DEFAULTS.warmupSteps },
  'weight-decay': { kind: 'number', help: 'L2 weight decay', default: DEFAULTS.weightDecay },
  momentum: { kind: 'number', help: 'SGD momentum', default: DEFAULTS.momentum },
  margin: { kind: 'number', help: 'triplet margin', default: DEFAULTS.margin },
  'squared-distance': { kind: 'boolean', help: 'triplet loss on squared distances (the FaceNet paper) instead of plain ones (the design document)' },
  'ce-weight': { kind: 'number', help: 'weight of the classifier cross-entropy', default: DEFAULTS.ceWeight },
  'steps-per-epoch': { kind: 'int', help: 'steps per epoch; 0: one pass over the images', default: 0 },
  holdout: { kind: 'int', value: 'K', help: 'hold out K images per identity and report classifier accuracy on them each epoch', default: 0 },
  pairs: { kind: 'string', value: 'FILE', help: 'LFW pairs file to evaluate each epoch (with --pairs-data)' },
  'pairs-data': { kind: 'string', value: 'DIR', help: 'images of the pairs file (<DIR>/<name>/<name>_0001.jpg, or <DIR>/images/...)' },
  init: { kind: 'string', value: 'FILE', help: 'start from these weights (a FaceNet .safetensors of this engine; see convertTorchFacenet for PyTorch ones)' },
  resume: { kind: 'boolean', help: 'continue the run in --out from its latest checkpoint' },
  seed: { kind: 'int', help: 'seed of initialisation and sampling', default: DEFAULTS.seed },
  keep: { kind: 'int', help: 'checkpoints kept', default: DEFAULTS.keep },
  quiet: { kind: 'boolean', help: 'no progress output' },
  help: { kind: 'boolean', help: 'show this help' },
};

const USAGE = `usage: npm run train:facenet -- --data DIR [options]

Trains a FaceNet embedding (nets/facenet) with triplet + cross-entropy loss.
Images are decoded once into memory, centre-cropped (--crop) and augmented on
the GPU (random crop/scale, mirror, colour jitter). A checkpoint is written
after every epoch and on Ctrl-C; --resume continues. A NaN or exploding loss
stops the run before the bad step is applied, keeping the last checkpoint.

example (LFW, evaluated on the pairs of fold 1 each epoch):
  npm run train:facenet -- --data /work/shared/data/lfw_train \\
    --pairs /work/shared/data/lfw_pairs_fold01/pairs_fold01.txt --pairs-data /work/shared/data/lfw_pairs_fold01

options:
${formatOptions(OPTIONS)}`;

async function main(argv: string[]): Promise<number> {
  const a = parseCommandArgs(argv, OPTIONS, USAGE);
  if (typeof a === 'number') return a;
  if (!a.data) {
    process.stderr.write(`--data is required\n\n${USAGE}\n`);
    return 2;
  }
  const options: Partial<TrainOptions> & { data: string } = {
    data: a.data as string,
    out: a.out as string,
    backbone: a.backbone as Backbone,
    epochs: a.epochs as number,
    batch: a.batch as number,
    inputSize: a['input-size'] as number,
    embeddingSize: a['embedding-size'] as number,
    crop: a.crop as number,
    optimizer: a.optimizer as 'adam' | 'sgd',
    lr: a.lr as number,
    minLrFraction: a['min-lr'] as number,
    warmupSteps: a['warmup-steps'] as number,
    weightDecay: a['weight-decay'] as number,
    momentum: a.momentum as number,
    margin: a.margin as number,
    squaredDistance: a['squared-distance'] === true,
    ceWeight: a['ce-weight'] as number,
    stepsPerEpoch: a['steps-per-epoch'] as number,
    holdout: a.holdout as number,
    pairs: a.pairs as string | undefined,
    pairsData: a['pairs-data'] as string | undefined,
    init: a.init as string | undefined,
    resume: a.resume === true,
    seed: a.seed as number,
    keep: a.keep as number,
    verbose: a.quiet !== true,
  };
  return runTrainingCommand(() => trainFacenet(options));
}

if (isMain(import.meta.url)) await runMain(main);

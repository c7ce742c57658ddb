// `npm run eval:lfw -- --data DIR --pairs FILE [--model FILE|RUN_DIR] [--json]`:
// face verification accuracy of a FaceNet with the LFW protocol
// (train/lib/verification.ts): k-fold accuracy at the threshold chosen on the
// other folds, mean +- std, the threshold, VAL at FAR = 1e-3, and an ROC
// plot. With --json the last line of stdout is
//   {"accuracy": a, "std": s, "threshold": t, "pairs": n}
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { init, shutdown } from '../engine/runtime.js';
import { embedCached, type FaceNetFileInfo } from '../nets/facenet/index.js';
import { loadFacenetModel } from '../tools/facenet-model.js';
import { progressBar } from '../tools/progress.js';
import { parseCommandArgs, formatOptions, type OptionSpecs } from './lib/args.js';
import { ImageCache } from './lib/image-cache.js';
import { loadPairSet, verifyPairs } from './lib/lfw-pairs.js';
import { writeLineChart } from './lib/charts.js';
import { cacheSizeFor } from './facenet.js';
import type { VerificationResult } from './lib/verification.js';
import { isMain, runMain } from '../tools/cli.js';

export interface EvalOptions {
  data: string;
  pairs: string;
  /** A weights file, or a training run folder (its latest checkpoint's model); default: the installed default model. */
  model?: string;
  folds?: number;
  /** Overrides the model file's crop (fraction of the shorter side). */
  crop?: number;
  batch?: number;
  verbose?: boolean;
}

export async function evaluateLfw(o: EvalOptions): Promise<{ result: VerificationResult; modelPath: string; info: FaceNetFileInfo }> {
  // A .safetensors file or a training run folder (its latest checkpoint).
  const { path: modelPath, net: model, info } = await loadFacenetModel(o.model);
  const set = loadPairSet(o.pairs, o.data, o.folds ?? 10);
  const size = cacheSizeFor(info.inputSize);
  const bar = o.verbose ? progressBar(set.images.length, 'decoding images') : null;
  const cache = await ImageCache.fromFiles(set.images, { size, cropFraction: o.crop ?? info.crop ?? 1, onProgress: () => bar?.tick() });
  bar?.done();
  const emb = await embedCached(model, cache.count, (idx) => cache.packBatch(idx), size, info.inputSize, info.normalization, o.batch ?? 32);
  model.dispose();
  return { result: verifyPairs(set, emb, info.config.embeddingSize), modelPath, info };
}

export async function writeRocPlot(path: string, r: VerificationResult, title: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  await writeLineChart(path, {
    title,
    xLabel: 'false positive rate',
    yLabel: 'true positive rate',
    xRange: [0, 1],
    yRange: [0, 1],
    series: [
      { name: `ROC (AUC ${r.roc.auc.toFixed(3)})`, points: r.roc.fpr.map((f, i) => [f, r.roc.tpr[i]] as const) },
      { name: 'chance', points: [[0, 0], [1, 1]] },
    ],
  });
}

const OPTIONS: OptionSpecs = {
  data: { kind: 'string', value: 'DIR', help: 'image folder: <DIR>/<name>/<name>_0001.jpg (or <DIR>/images/...)' },
  pairs: { kind: 'string', value: 'FILE', help: "pairs file in LFW's pairs.txt format" },
  model: { kind: 'string', value: 'FILE|DIR', help: 'FaceNet weights (.safetensors from train:facenet) or a training run folder; default: the default model, models/facenet/facenet.safetensors' },
  folds: { kind: 'int', help: 'folds of the cross-validation (the file\'s own sets when it has this many)', default: 10 },
  crop: { kind: 'number', value: 'F', help: 'centre crop of each image (fraction of the shorter side); default: the one the model was trained with' },
  roc: { kind: 'string', value: 'FILE', help: 'where to write the ROC plot (PNG)', default: 'out/lfw-roc.png' },
  batch: { kind: 'int', help: 'images per forward pass', default: 32 },
  json: { kind: 'boolean', help: 'end stdout with one JSON line {"accuracy", "std", "threshold", "pairs"}' },
  help: { kind: 'boolean', help: 'show this help' },
};

const USAGE = `usage: npm run eval:lfw -- --data DIR --pairs FILE [--model FILE|DIR] [--json]

LFW verification protocol: for each of k folds, the distance threshold with
the best accuracy on the other folds is applied to the fold; reports the mean
accuracy +- std over folds, the mean threshold, the validation rate at
FAR = 1e-3 and writes an ROC plot.

options:
${formatOptions(OPTIONS)}`;

async function main(argv: string[]): Promise<number> {
  const a = parseCommandArgs(argv, OPTIONS, USAGE);
  if (typeof a === 'number') return a;
  if (!a.data || !a.pairs) {
    process.stderr.write(`--data and --pairs are required\n\n${USAGE}\n`);
    return 2;
  }
  const json = a.json === true;
  await init();
  try {
    const { result: r, modelPath, info } = await evaluateLfw({
      data: a.data as string,
      pairs: a.pairs as string,
      model: a.model as string | undefined,
      folds: a.folds as number,
      crop: a.crop as number | undefined,
      batch: a.batch as number,
      verbose: !json,
    });
    const pct = (v: number) => (100 * v).toFixed(2);
    const lines = [
      `model: ${modelPath} (${info.config.backbone}, ${info.config.embeddingSize}-d, ${info.inputSize}x${info.inputSize})`,
      `pairs: ${r.pairs} (${r.folds} folds)`,
      `accuracy: ${pct(r.accuracy)}% +- ${pct(r.std)}%`,
      `threshold: ${r.threshold.toFixed(3)} (per fold: ${r.foldThresholds.map((t) => t.toFixed(2)).join(' ')})`,
      `validation rate: ${pct(r.valRate)}% +- ${pct(r.valStd)}% at FAR ${r.far.toExponential(2)} (target ${r.farTarget})`,
      `ROC AUC: ${r.roc.auc.toFixed(4)}`,
    ];
    await writeRocPlot(a.roc as string, r, `ROC: ${info.config.backbone} on ${r.pairs} pairs`);
    lines.push(`ROC plot: ${a.roc}`);
    process.stdout.write(lines.join('\n') + '\n');
    if (json) process.stdout.write(JSON.stringify({ accuracy: r.accuracy, std: r.std, threshold: r.threshold, pairs: r.pairs }) + '\n');
    return 0;
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await shutdown();
  }
}

if (isMain(import.meta.url)) await runMain(main);

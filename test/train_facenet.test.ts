// train:facenet end to end on ORL faces (test/data/orl, 10 people x 10
// images): a short run must lower the loss and recognise held-out images far
// above chance; Ctrl-C saves a checkpoint, --resume continues it, and a loss
// that blows up stops the run before the bad step, keeping the checkpoint.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { trainFacenet, cacheSizeFor } from '../train/facenet.js';
import { latestCheckpoint } from '../train/lib/checkpoint.js';
import { JsonlLog } from '../train/lib/jsonl.js';
import { ImageCache } from '../train/lib/image-cache.js';
import { holdOutPerIdentity, scanIdentityFolders } from '../train/lib/identity-dataset.js';
import { rocCurve, pairDistances } from '../train/lib/verification.js';
import { embedCached, FACENET_INPUT } from '../nets/facenet/index.js';

const ROOT = new URL('..', import.meta.url).pathname;
const ORL = join(ROOT, 'test/data/orl');

describe('train:facenet on ORL', () => {
  it('lowers the loss and recognises held-out faces far above chance', async () => {
    const out = mkdtempSync(join(tmpdir(), 'facenet-orl-'));
    // 80 steps of 6 triplets at 32x32 (MobileNet's last map is then 1x1):
    // about 35 s on the 2-core software adapter.
    const r = await trainFacenet({
      data: ORL, out, epochs: 4, stepsPerEpoch: 20, batch: 6, inputSize: 32, crop: 0.9,
      holdout: 2, warmupSteps: 10, lr: 3e-3, seed: 1, verbose: false,
    });
    expect(r.status).toBe('done');
    expect(r.epochs).toHaveLength(4);
    const [first, last] = [r.epochs[0], r.epochs[3]];
    expect(last.loss).toBeLessThan(0.85 * first.loss);
    // 20 held-out images (2 per person, never trained on); chance is 10%.
    expect(last.heldoutAccuracy!).toBeGreaterThanOrEqual(0.35);

    // The embedding itself separates the people: ROC AUC of all held-out pairs.
    const held = holdOutPerIdentity(scanIdentityFolders(ORL), 2).held;
    const cache = await ImageCache.fromFiles(held.files, { size: cacheSizeFor(32), cropFraction: 0.9 });
    const emb = await embedCached(r.model, cache.count, (idx) => cache.packBatch(idx), cache.size, 32, FACENET_INPUT);
    const a: number[] = [], b: number[] = [], same: boolean[] = [];
    for (let i = 0; i < cache.count; i++) for (let j = i + 1; j < cache.count; j++) {
      a.push(...emb.subarray(i * 128, (i + 1) * 128));
      b.push(...emb.subarray(j * 128, (j + 1) * 128));
      same.push(held.labels[i] === held.labels[j]);
    }
    const auc = rocCurve(pairDistances(a, b, 128), same).auc;
    expect(auc).toBeGreaterThan(0.75);

    // Run folder: log lines, plots, two checkpoints kept, latest.json on the last.
    const log = new JsonlLog(join(out, 'train.jsonl')).read();
    expect(log.filter((l) => l.type === 'step')).toHaveLength(80);
    expect(log.filter((l) => l.type === 'epoch')).toHaveLength(4);
    for (const f of ['loss.png', 'accuracy.png', 'options.json']) expect(statSync(join(out, f)).size).toBeGreaterThan(0);
    expect(readdirSync(join(out, 'checkpoints')).sort()).toEqual(['step-00000060', 'step-00000080']);
    expect(latestCheckpoint(out)).toBe(join(out, 'checkpoints/step-00000080'));
    r.model.dispose();
  }, 150_000);

  it('Ctrl-C saves a checkpoint, --resume continues mid-epoch, and an exploding loss stops before its step', async () => {
    const out = mkdtempSync(join(tmpdir(), 'facenet-stop-'));
    const args = ['--data', ORL, '--out', out, '--steps-per-epoch', '3', '--batch', '2', '--input-size', '32', '--crop', '0.9', '--warmup-steps', '1'];
    // `node --import tsx` rather than npx, so the signal reaches the trainer itself.
    const child = spawn(process.execPath, ['--import', 'tsx', 'train/facenet.ts', ...args, '--epochs', '3'], { cwd: ROOT });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/epoch 1: loss/.test(stderr) && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(130);
    expect(stderr).toMatch(/interrupted at epoch 2, step 1\/3; checkpoint .*step-00000004 \(continue with --resume\)/);
    expect(latestCheckpoint(out)).toBe(join(out, 'checkpoints/step-00000004'));

    const resumed = await trainFacenet({ data: ORL, out, epochs: 2, stepsPerEpoch: 3, batch: 2, inputSize: 32, crop: 0.9, warmupSteps: 1, resume: true, verbose: false });
    expect(resumed.status).toBe('done');
    expect(resumed.epochs.map((e) => [e.epoch, e.step])).toEqual([[2, 6]]);
    const steps = new JsonlLog(join(out, 'train.jsonl')).read().filter((l) => l.type === 'step').map((l) => l.step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6]);
    resumed.model.dispose();

    // An absurd learning rate: the first step's update wrecks the weights, the
    // next loss is caught before its update and nothing is saved.
    const good = join(out, 'checkpoints/step-00000006/model.safetensors');
    const before = readFileSync(good);
    const blown = await trainFacenet({
      data: ORL, out, epochs: 3, stepsPerEpoch: 3, batch: 2, inputSize: 32, crop: 0.9, warmupSteps: 1, resume: true, verbose: false,
      lr: 1e30, lossGuard: { warmup: 0 },
    });
    expect(blown.status).toBe('diverged');
    expect(blown.message).toMatch(/training stopped at epoch 3, step 8: the loss (is (NaN|Infinity)|exploded).*last good checkpoint is .*step-00000006/);
    expect(latestCheckpoint(out)).toBe(join(out, 'checkpoints/step-00000006'));
    expect(readFileSync(good).equals(before)).toBe(true);
    expect(existsSync(join(out, 'checkpoints/step-00000008'))).toBe(false);
    blown.model.dispose();
  }, 150_000);

  it('--help exits 0 and lists the options', async () => {
    const { stdout } = await promisify(execFile)('npx', ['tsx', 'train/facenet.ts', '--help'], { cwd: ROOT });
    for (const opt of ['--data', '--backbone', '--epochs', '--batch', '--input-size', '--resume', '--pairs']) expect(stdout).toContain(opt);
  });
});

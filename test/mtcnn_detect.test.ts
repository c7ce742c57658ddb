// The whole MTCNN cascade against facenet-pytorch's detections on real photos.
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { readImage } from '../tools/image.js';
import { loadMtcnnDetector } from '../tools/models.js';
import { pyramidScales, type MtcnnDetector, type Face } from '../nets/mtcnn/detector.js';

const data = (p: string) => new URL(`./data/${p}`, import.meta.url).pathname;
const reference = JSON.parse(readFileSync(data('mtcnn/mtcnn_reference.json'), 'utf8'));
const stages = JSON.parse(readFileSync(data('mtcnn/mtcnn_stages.json'), 'utf8'));

function iou(a: number[], b: number[]): number {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

let detector: MtcnnDetector;
beforeAll(async () => {
  detector = await loadMtcnnDetector();
});

describe('MTCNN detection matches facenet-pytorch', () => {
  const portraits: [string, any][] = reference.images.map((im: any) => [im.image.split('/')[1], im]);
  it.each(portraits)('%s', async (name, im) => {
    const img = await readImage(data(`portraits/${name}.jpg`));
    expect([img.width, img.height]).toEqual([im.width, im.height]);
    const faces = await detector.detect(img);

    // Same pyramid and the same count at every stage of the cascade.
    const st = stages.images.find((s: any) => s.image === im.image);
    const scales = pyramidScales(img.width, img.height, 20, 0.709);
    expect(scales.length).toBe(st.scales.length);
    scales.forEach((s, i) => expect(s).toBeCloseTo(st.scales[i].scale, 12));
    const c = detector.lastCounts!;
    expect(c.pnetCandidates).toBe(st.pnet_total_candidates);
    expect(c.afterCrossScaleNms).toBe(st['pnet_after_cross_scale_nms_0.7']);
    expect(c.rnetPassed).toBe(st['rnet_pass_thresh_0.7']);
    expect(c.afterRnetNms).toBe(st['rnet_after_nms_0.7']);
    expect(c.onetPassed).toBe(st['onet_pass_thresh_0.7']);
    expect(c.final).toBe(im.faces.length);

    // The criterion: same faces scored > 0.95, box IoU >= 0.95, landmarks within 2 px.
    const confident = (fs: { score?: number; prob?: number }[]) => fs.filter((f) => (f.score ?? f.prob)! > 0.95);
    const ours = confident(faces) as Face[];
    const theirs = confident(im.faces) as any[];
    expect(ours.length).toBe(theirs.length);
    for (const ref of theirs) {
      const best = ours.reduce((a, f) => (iou(f.box, ref.box) > iou(a.box, ref.box) ? f : a));
      expect(iou(best.box, ref.box)).toBeGreaterThanOrEqual(0.95);
      best.landmarks.forEach(([x, y], k) => {
        expect(Math.hypot(x - ref.landmarks[k][0], y - ref.landmarks[k][1])).toBeLessThan(2);
      });
      expect(best.score).toBeCloseTo(ref.prob, 4);
    }
  });

  it('multiface.jpg feeds R-Net and O-Net the same batches as PyTorch (606 and 49 boxes)', async () => {
    const img = await readImage(new URL('../examples/multiface.jpg', import.meta.url).pathname);
    const faces = await detector.detect(img);
    expect(detector.lastCounts!.afterCrossScaleNms).toBe(606);
    expect(detector.lastCounts!.afterRnetNms).toBe(49);
    expect(faces.length).toBe(6);
    expect(faces.every((f) => f.score > 0.99)).toBe(true);
  });

  it('returns no faces for an image with none, and rejects bad options', async () => {
    const grey = { width: 64, height: 48, data: new Uint8Array(64 * 48 * 4).fill(128) };
    expect(await detector.detect(grey)).toEqual([]);
    await expect(detector.detect(grey, { factor: 1.5 })).rejects.toThrow(/factor must be in \(0, 1\)/);
    await expect(detector.detect(grey, { thresholds: [0.6, 2, 0.7] })).rejects.toThrow(/thresholds/);
  });

  it('does not grow GPU memory over repeated detections', async () => {
    const { poolStats } = await import('../engine/runtime.js');
    const img = await readImage(new URL('../examples/multiface.jpg', import.meta.url).pathname);
    await detector.detect(img);
    const before = poolStats();
    for (let i = 0; i < 5; i++) await detector.detect(img);
    const after = poolStats();
    // <=, not ==: the GC may release tensors an earlier test dropped while this one runs.
    expect(after.liveBytes).toBeLessThanOrEqual(before.liveBytes);
    expect(after.allocations).toBe(before.allocations);
  });
});

// Regenerates the small JPEGs in this folder (test/data/jpeg/) and their libjpeg-turbo
// decodings (*.libjpeg.png), the repo-local stand-in for the MTCNN reference's
// decoded portraits. Dev-only; needs libjpeg-turbo's command-line tools
// (Debian: apt-get install libjpeg-turbo-progs, 2.1.5 = the reference's
// libjpeg62-turbo) and ../shared/data/facenet_pytorch_samples.
//
//   node test/data/jpeg/make-refs.mjs
//
// Crops are lossless (jpegtran -crop on block boundaries), so for the 4:4:4
// file libjpeg's decoding equals the same crop of the reference PNG (checked
// by test/image_io.test.ts when ../shared is present).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pngjs from 'pngjs';

const here = dirname(fileURLToPath(import.meta.url));
const out = here;
const samples = join(here, '../../../../shared/data/facenet_pytorch_samples');

const run = (cmd, args, input) => execFileSync(cmd, args, { input, maxBuffer: 1 << 28 });

/** Parses djpeg's binary PPM/PGM output. */
function readPnm(bytes) {
  const text = bytes.subarray(0, 32).toString('latin1');
  const m = /^(P[56])\s+(\d+)\s+(\d+)\s+255\s/.exec(text);
  if (!m) throw new Error('unexpected djpeg output');
  const channels = m[1] === 'P6' ? 3 : 1;
  return { width: +m[2], height: +m[3], channels, pixels: bytes.subarray(m[0].length) };
}

function writePng(path, { width, height, channels, pixels }) {
  const png = new pngjs.PNG({ width, height });
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) png.data[4 * i + c] = pixels[i * channels + (channels === 3 ? c : 0)];
    png.data[4 * i + 3] = 255;
  }
  writeFileSync(path, pngjs.PNG.sync.write(png, { colorType: channels === 3 ? 2 : 0 }));
}

const manifest = [];
function addJpeg(file, jpegBytes, source, how, cropAt = null) {
  writeFileSync(join(out, file), jpegBytes);
  const ref = readPnm(run('djpeg', ['-pnm'], jpegBytes));
  writePng(join(out, file.replace(/\.jpg$/, '.libjpeg.png')), ref);
  // cropAt: [x, y] of a lossless crop in the source photo.
  // MD5 of the decoded pixels as RGB (grey repeated), the form the MTCNN reference uses.
  const rgb = Buffer.alloc(ref.width * ref.height * 3);
  for (let i = 0; i < ref.width * ref.height; i++) {
    for (let c = 0; c < 3; c++) rgb[3 * i + c] = ref.pixels[i * ref.channels + (ref.channels === 3 ? c : 0)];
  }
  manifest.push({ file, source, how, cropAt, width: ref.width, height: ref.height, libjpegRgbMd5: createHash('md5').update(rgb).digest('hex') });
}

const crop = (file, geometry, extra = []) =>
  run('jpegtran', ['-copy', 'none', ...extra, '-crop', geometry, join(samples, file)]);

addJpeg('kate_siegel_444_96.jpg', crop('kate_siegel.jpg', '96x96+592+192'), 'kate_siegel.jpg', 'jpegtran -crop 96x96+592+192 (baseline 4:4:4)', [592, 192]);
addJpeg('paul_rudd_420_96.jpg', crop('paul_rudd.jpg', '96x96+736+896'), 'paul_rudd.jpg', 'jpegtran -crop 96x96+736+896 (baseline 4:2:0)', [736, 896]);
addJpeg('multiface_progressive_96.jpg', crop('multiface.jpg', '96x96+544+160', ['-progressive']), 'multiface.jpg', 'jpegtran -progressive -crop 96x96+544+160 (progressive 4:4:4)', [544, 160]);

// Odd-sized re-encodes exercise the edges of chroma upsampling, restart
// markers, greyscale and RGB (Adobe marker, no JFIF) files.
const kate = readPnm(run('djpeg', ['-pnm'], crop('kate_siegel.jpg', '96x96+592+192')));
const [w, h, x0, y0] = [61, 47, 10, 20];
const odd = Buffer.alloc(w * h * 3);
for (let y = 0; y < h; y++) kate.pixels.copy(odd, y * w * 3, ((y0 + y) * kate.width + x0) * 3, ((y0 + y) * kate.width + x0 + w) * 3);
const oddPpm = Buffer.concat([Buffer.from(`P6\n${w} ${h}\n255\n`), odd]);
const variants = [
  ['odd_422_61x47.jpg', ['-sample', '2x1']],
  ['odd_440_61x47.jpg', ['-sample', '1x2']],
  ['odd_420_restart_61x47.jpg', ['-sample', '2x2', '-restart', '1']],
  ['odd_grey_progressive_61x47.jpg', ['-grayscale', '-progressive']],
  ['odd_rgb_61x47.jpg', ['-rgb']],
];
for (const [file, args] of variants) {
  addJpeg(file, run('cjpeg', ['-quality', '85', ...args], oddPpm), 'kate_siegel.jpg', `61x47 piece re-encoded: cjpeg -quality 85 ${args.join(' ')}`);
}

writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
console.log(`wrote ${manifest.length} JPEGs and references to ${out}`);

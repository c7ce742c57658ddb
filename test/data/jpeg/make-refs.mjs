// Regenerates the small JPEGs in this folder (test/data/jpeg/) and their libjpeg-turbo
// decodings (*.libjpeg.png), the repo-local stand-in for the MTCNN reference's
// decoded portraits. Dev-only; needs libjpeg-turbo's command-line tools
// (Debian: apt-get install libjpeg-turbo-progs, 2.1.5 = the reference's
// libjpeg62-turbo; it brings libturbojpeg0, used through python3 for the
// CMYK file) and ../shared/data/facenet_pytorch_samples.
//
//   node test/data/jpeg/make-refs.mjs
//
// Crops are lossless (jpegtran -crop on block boundaries), so for the 4:4:4
// file libjpeg's decoding equals the same crop of the reference PNG (checked
// by test/image_io.test.ts when ../shared is present).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
function addJpeg(file, jpegBytes, source, how, cropAt = null, decode = (bytes) => run('djpeg', ['-pnm'], bytes)) {
  writeFileSync(join(out, file), jpegBytes);
  const ref = readPnm(decode(jpegBytes));
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
// A scan script for a sequential file with one scan per component (not interleaved).
const scansDir = mkdtempSync(join(tmpdir(), 'make-refs-'));
const perComponentScans = join(scansDir, 'per-component.txt');
writeFileSync(perComponentScans, '0;\n1;\n2;\n');
const variants = [
  ['odd_422_61x47.jpg', ['-sample', '2x1']],
  ['odd_440_61x47.jpg', ['-sample', '1x2']],
  ['odd_420_restart_61x47.jpg', ['-sample', '2x2', '-restart', '1']],
  ['odd_grey_progressive_61x47.jpg', ['-grayscale', '-progressive']],
  ['odd_rgb_61x47.jpg', ['-rgb']],
  // 4:1:1: upsampled by repetition (libjpeg's fancy filter only does 2x).
  ['odd_411_61x47.jpg', ['-sample', '4x1']],
  // Progressive with successive approximation and a restart every 2 MCUs:
  // end-of-band runs are cut by restarts.
  ['odd_420_progressive_restart_61x47.jpg', ['-sample', '2x2', '-progressive', '-restart', '2B']],
  ['odd_420_per_component_scans_61x47.jpg', ['-sample', '2x2', '-scans', perComponentScans]],
  // Chroma sampled more finely than luma: luma is the upsampled component.
  ['odd_chroma_above_luma_61x47.jpg', ['-sample', '1x1,2x2,2x2']],
];
for (const [file, args] of variants) {
  addJpeg(file, run('cjpeg', ['-quality', '85', ...args], oddPpm), 'kate_siegel.jpg', `61x47 piece re-encoded: cjpeg -quality 85 ${args.join(' ').replace(perComponentScans, '"0;1;2;"')}`);
}
rmSync(scansDir, { recursive: true });

// Heavy quantisation (large table entries, ringing that the IDCT clamps).
addJpeg('odd_420_q5_61x47.jpg', run('cjpeg', ['-quality', '5'], oddPpm), 'kate_siegel.jpg', '61x47 piece re-encoded: cjpeg -quality 5 -sample 2x2');
// 3x5 pixels, 4:2:0: chroma rows of 2 samples, which libjpeg repeats instead of filtering.
const tiny = Buffer.alloc(3 * 5 * 3);
for (let y = 0; y < 5; y++) odd.copy(tiny, y * 9, y * w * 3, y * w * 3 + 9);
addJpeg('tiny_420_3x5.jpg', run('cjpeg', ['-quality', '85'], Buffer.concat([Buffer.from('P6\n3 5\n255\n'), tiny])), 'kate_siegel.jpg', 'top-left 3x5 of the 61x47 piece: cjpeg -quality 85 -sample 2x2');

// CMYK: djpeg cannot write CMYK, and PIL converts CMYK to RGB itself, so the
// reference is libjpeg-turbo's CMYK output (through the TurboJPEG library,
// same defaults as djpeg) converted the way Pillow 9.4 does: JPEG CMYK is
// read as Adobe-inverted ("CMYK;I"), then cmyk2rgb gives
// nk - MULDIV255(c, nk) per channel with nk = 255 - k.
const cmykToPpm = `
import ctypes, sys
tj = ctypes.CDLL('libturbojpeg.so.0')
tj.tjInitDecompress.restype = ctypes.c_void_p
handle = ctypes.c_void_p(tj.tjInitDecompress())
data = sys.stdin.buffer.read()
w, h, subsamp, colorspace = (ctypes.c_int() for _ in range(4))
assert tj.tjDecompressHeader3(handle, data, ctypes.c_ulong(len(data)), ctypes.byref(w), ctypes.byref(h), ctypes.byref(subsamp), ctypes.byref(colorspace)) == 0
W, H = w.value, h.value
cmyk = (ctypes.c_ubyte * (W * H * 4))()
TJPF_CMYK = 11
assert tj.tjDecompress2(handle, data, ctypes.c_ulong(len(data)), cmyk, W, 0, H, TJPF_CMYK, 0) == 0
rgb = bytearray(W * H * 3)
for i in range(W * H):
    nk = cmyk[4 * i + 3]  # 255 - inverted k
    for j in range(3):
        t = (255 - cmyk[4 * i + j]) * nk + 128
        rgb[3 * i + j] = nk - (((t >> 8) + t) >> 8)
sys.stdout.buffer.write(b'P6\\n%d %d\\n255\\n' % (W, H) + bytes(rgb))
`;
const tjDir = mkdtempSync(join(tmpdir(), 'make-refs-'));
writeFileSync(join(tjDir, 'piece.ppm'), oddPpm);
// tjbench -cmyk converts RGB to CMYK and writes a YCCK JPEG (Adobe transform 2) named after the input.
run('tjbench', [join(tjDir, 'piece.ppm'), '85', '-cmyk', '-subsamp', '420', '-benchtime', '0.01', '-warmup', '0']);
const ycck = readFileSync(join(tjDir, 'piece_420_Q85.jpg'));
rmSync(tjDir, { recursive: true });
addJpeg('odd_ycck_420_61x47.jpg', ycck, 'kate_siegel.jpg', '61x47 piece as CMYK: tjbench -cmyk -subsamp 420 (YCCK JPEG); reference: libjpeg-turbo CMYK output converted as Pillow does', null, (bytes) => run('python3', ['-c', cmykToPpm], bytes));

writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
console.log(`wrote ${manifest.length} JPEGs and references to ${out}`);

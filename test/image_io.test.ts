// tools/image.ts: JPEG/PNG decoding, EXIF orientation, errors, PNG writing.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import jpegJs from 'jpeg-js';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_PIXELS, decodeImage, encodePng, readImage, writePngAtomic, type RgbaImage } from '../tools/image.js';

const testDir = dirname(fileURLToPath(import.meta.url));
const jpegDir = join(testDir, 'data/jpeg');
const shared = join(testDir, '../../shared');
const hasShared = existsSync(join(shared, 'reference/mtcnn/mtcnn_reference.json'));

interface ManifestEntry {
  file: string;
  cropAt: [number, number] | null;
  width: number;
  height: number;
  libjpegRgbMd5: string;
}
const manifest: ManifestEntry[] = JSON.parse(readFileSync(join(jpegDir, 'manifest.json'), 'utf8'));

function rgbBytes(img: RgbaImage): Uint8Array {
  const n = img.width * img.height;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) rgb.set(img.data.subarray(4 * i, 4 * i + 3), 3 * i);
  return rgb;
}
const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

/** Per-channel sums of the RGB bytes, as in the MTCNN reference JSON. */
function channelSums(img: RgbaImage): number[] {
  const sums = [0, 0, 0];
  for (let i = 0; i < img.data.length; i++) if (i % 4 < 3) sums[i % 4] += img.data[i];
  return sums;
}

describe('JPEG decoding is bit-exact with libjpeg-turbo (repo-local files)', () => {
  for (const entry of manifest) {
    it(`${entry.file}`, async () => {
      const reference = await readImage(join(jpegDir, entry.file.replace(/\.jpg$/, '.libjpeg.png')));
      expect(md5(rgbBytes(reference))).toBe(entry.libjpegRgbMd5);
      const ours = await readImage(join(jpegDir, entry.file));
      expect([ours.width, ours.height]).toEqual([entry.width, entry.height]);
      expect(md5(rgbBytes(ours))).toBe(entry.libjpegRgbMd5);
      expect(ours.data.every((v, i) => i % 4 !== 3 || v === 255)).toBe(true);
    });
  }

  it('an Adobe APP14 marker saying YCbCr decodes like the same file with a JFIF marker', async () => {
    const jfif = await readFile(join(jpegDir, 'odd_422_61x47.jpg'));
    expect([...jfif.subarray(2, 4)]).toEqual([0xff, 0xe0]);
    const app0Length = (jfif[4] << 8) | jfif[5];
    // APP14: 'Adobe', version 100, flags0, flags1, transform 1 (= YCbCr)
    const adobe = Uint8Array.from([0xff, 0xee, 0, 14, ...Buffer.from('Adobe'), 0, 100, 0, 0, 0, 0, 1]);
    const withAdobe = Buffer.concat([jfif.subarray(0, 2), adobe, jfif.subarray(4 + app0Length)]);
    expect(decodeImage(withAdobe).data).toEqual(decodeImage(jfif).data);
  });

  it('scan data cut short (but ending in EOI) decodes like libjpeg: missing data reads as zeros', async () => {
    // A single scan and no restarts: the blocks before the cut are intact.
    const whole = await readFile(join(jpegDir, 'kate_siegel_444_96.jpg'));
    const full = decodeImage(whole);
    const cut = Buffer.concat([whole.subarray(0, whole.length - 2000), Buffer.from([0xff, 0xd9])]);
    const partial = decodeImage(cut, 'cut.jpg');
    expect([partial.width, partial.height]).toEqual([96, 96]);
    const firstRows = 16 * 96 * 4;
    expect(partial.data.subarray(0, firstRows)).toEqual(full.data.subarray(0, firstRows));
    expect(partial.data).not.toEqual(full.data);
  });
});

describe.skipIf(!hasShared)('JPEG decoding of the MTCNN reference portraits (needs ../shared)', () => {
  interface RefImage {
    image: string;
    width: number;
    height: number;
    decoded_rgb_md5: string;
    decoded_rgb_channel_sums: number[];
  }
  const refs: RefImage[] = hasShared
    ? JSON.parse(readFileSync(join(shared, 'reference/mtcnn/mtcnn_reference.json'), 'utf8')).images
    : [];

  for (const ref of refs) {
    const person = ref.image.split('/')[1];
    it(`${person} decodes to exactly the pixels PIL saw`, async () => {
      const ours = await readImage(join(shared, `data/facenet_pytorch_samples/${person}.jpg`));
      expect([ours.width, ours.height]).toEqual([ref.width, ref.height]);
      expect(md5(rgbBytes(ours))).toBe(ref.decoded_rgb_md5);
      expect(channelSums(ours)).toEqual(ref.decoded_rgb_channel_sums);
    });
  }

  it('the repo-local lossless 4:4:4 crop is exactly the same crop of the reference PNG', async () => {
    const entry = manifest.find((e) => e.file === 'kate_siegel_444_96.jpg')!;
    const full = await readImage(join(shared, 'reference/mtcnn/decoded/test_images__kate_siegel__1.png'));
    const [x0, y0] = entry.cropAt!;
    const crop = new Uint8Array(entry.width * entry.height * 4);
    for (let y = 0; y < entry.height; y++) {
      crop.set(full.data.subarray(((y0 + y) * full.width + x0) * 4, ((y0 + y) * full.width + x0 + entry.width) * 4), y * entry.width * 4);
    }
    expect(md5(rgbBytes({ width: entry.width, height: entry.height, data: crop }))).toBe(entry.libjpegRgbMd5);
  });

  it('decodes every sample JPEG and aligned PNG', async () => {
    const dir = join(shared, 'data/facenet_pytorch_samples');
    const multiface = await readImage(join(dir, 'multiface.jpg'));
    expect([multiface.width, multiface.height]).toEqual([1200, 630]);
    for (const file of await readdir(join(dir, 'aligned'))) {
      const img = await readImage(join(dir, 'aligned', file));
      expect([img.width, img.height]).toEqual([160, 160]);
    }
  });
});

// ---------------------------------------------------------------------------
// EXIF orientation

/** A 48x32 picture of six 16x16 blocks in distinct colours, as the viewer should see it. */
const BLOCK_COLOURS = [
  [[230, 30, 30], [30, 200, 30], [30, 30, 230]],
  [[240, 230, 40], [220, 40, 220], [240, 240, 240]],
];
function uprightPicture(): RgbaImage {
  const width = 48;
  const height = 32;
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      data.set([...BLOCK_COLOURS[y >> 4][x >> 4], 255], (y * width + x) * 4);
    }
  }
  return { width, height, data };
}

function pixelAt(img: RgbaImage, x: number, y: number): number[] {
  return [...img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4)];
}
function mapPixels(img: RgbaImage, width: number, height: number, from: (x: number, y: number) => [number, number]): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(pixelAt(img, ...from(x, y)), (y * width + x) * 4);
  return { width, height, data };
}
const rotateCW = (img: RgbaImage) => mapPixels(img, img.height, img.width, (x, y) => [y, img.height - 1 - x]);
const mirror = (img: RgbaImage) => mapPixels(img, img.width, img.height, (x, y) => [img.width - 1 - x, y]);
const times = (n: number, f: (i: RgbaImage) => RgbaImage) => (img: RgbaImage) => {
  for (let i = 0; i < n; i++) img = f(img);
  return img;
};

/**
 * How a camera would store the upright picture for each EXIF orientation:
 * the inverse of the transform a viewer applies (EXIF 6 = "rotate 90 CW to
 * view", so the stored pixels are the picture rotated 90 CCW).
 */
const storeAs: Record<number, (img: RgbaImage) => RgbaImage> = {
  1: (img) => img,
  2: mirror,
  3: times(2, rotateCW),
  4: (img) => mirror(times(2, rotateCW)(img)),
  5: (img) => mirror(rotateCW(img)),
  6: times(3, rotateCW),
  7: (img) => mirror(times(3, rotateCW)(img)),
  8: rotateCW,
};

/** An APP1 Exif segment whose IFD0 holds a dummy tag and then Orientation. */
function exifSegment(orientation: number, littleEndian: boolean): Uint8Array {
  const tiff = new DataView(new ArrayBuffer(8 + 2 + 2 * 12 + 4));
  tiff.setUint16(0, littleEndian ? 0x4949 : 0x4d4d);
  tiff.setUint16(2, 42, littleEndian);
  tiff.setUint32(4, 8, littleEndian);
  tiff.setUint16(8, 2, littleEndian);
  const entry = (at: number, tag: number, value: number) => {
    tiff.setUint16(at, tag, littleEndian);
    tiff.setUint16(at + 2, 3, littleEndian); // SHORT
    tiff.setUint32(at + 4, 1, littleEndian);
    tiff.setUint16(at + 8, value, littleEndian);
  };
  entry(10, 0x0100, 999); // ImageWidth, to make the parser walk past an entry
  entry(22, 0x0112, orientation);
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), new Uint8Array(tiff.buffer)]);
  const length = payload.length + 2;
  return Buffer.concat([Uint8Array.from([0xff, 0xe1, length >> 8, length & 255]), payload]);
}

function jpegWithOrientation(stored: RgbaImage, orientation: number, littleEndian: boolean): Uint8Array {
  const encoded = jpegJs.encode({ width: stored.width, height: stored.height, data: stored.data }, 95).data;
  return Buffer.concat([encoded.subarray(0, 2), exifSegment(orientation, littleEndian), encoded.subarray(2)]);
}

/** Mean colour of the 8x8 centre of the 16x16 block at (bx, by). */
function blockColour(img: RgbaImage, bx: number, by: number): number[] {
  const sum = [0, 0, 0];
  for (let y = by * 16 + 4; y < by * 16 + 12; y++) {
    for (let x = bx * 16 + 4; x < bx * 16 + 12; x++) {
      for (let c = 0; c < 3; c++) sum[c] += img.data[(y * img.width + x) * 4 + c];
    }
  }
  return sum.map((s) => s / 64);
}

describe('EXIF orientation', () => {
  for (let orientation = 1; orientation <= 8; orientation++) {
    for (const littleEndian of [true, false]) {
      it(`orientation ${orientation} (${littleEndian ? 'II' : 'MM'}) comes out upright`, () => {
        const stored = storeAs[orientation](uprightPicture());
        if (orientation >= 5) expect([stored.width, stored.height]).toEqual([32, 48]);
        const img = decodeImage(jpegWithOrientation(stored, orientation, littleEndian), 'exif.jpg');
        expect([img.width, img.height]).toEqual([48, 32]);
        for (let by = 0; by < 2; by++) {
          for (let bx = 0; bx < 3; bx++) {
            const got = blockColour(img, bx, by);
            BLOCK_COLOURS[by][bx].forEach((want, c) => expect(Math.abs(got[c] - want)).toBeLessThan(12));
          }
        }
      });
    }
  }

  it('leaves the stored pixels alone with applyExifOrientation: false', () => {
    const stored = storeAs[6](uprightPicture());
    const img = decodeImage(jpegWithOrientation(stored, 6, true), 'exif.jpg', { applyExifOrientation: false });
    expect([img.width, img.height]).toEqual([32, 48]);
  });

  it('ignores a broken EXIF block (orientation treated as 1)', () => {
    const stored = uprightPicture();
    const bytes = jpegWithOrientation(stored, 6, true);
    bytes[4 + 2 + 6 + 4] = 0xff; // TIFF IFD0 offset now points far outside the segment
    const img = decodeImage(bytes, 'broken-exif.jpg');
    expect([img.width, img.height]).toEqual([48, 32]);
  });
});

// ---------------------------------------------------------------------------
// PNG colour types and bit depths (hand-built files)

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(Buffer.from(type, 'latin1'), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

interface PngSpec {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  /** Unfiltered scanlines, without the filter byte. */
  rows: number[][];
  plte?: number[];
  trns?: number[];
}
function buildPng(spec: PngSpec): Uint8Array {
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, spec.width);
  view.setUint32(4, spec.height);
  ihdr.set([spec.bitDepth, spec.colorType, 0, 0, 0], 8);
  const raw = Uint8Array.from(spec.rows.flatMap((row) => [0, ...row]));
  return Buffer.concat([
    Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...(spec.plte ? [chunk('PLTE', Uint8Array.from(spec.plte))] : []),
    ...(spec.trns ? [chunk('tRNS', Uint8Array.from(spec.trns))] : []),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

describe('PNG colour types and bit depths', () => {
  const cases: { name: string; spec: PngSpec; rgba: number[][] }[] = [
    {
      name: 'grey 8-bit',
      spec: { width: 4, height: 1, bitDepth: 8, colorType: 0, rows: [[0, 7, 128, 255]] },
      rgba: [[0, 0, 0, 255], [7, 7, 7, 255], [128, 128, 128, 255], [255, 255, 255, 255]],
    },
    {
      name: 'grey 1-bit',
      spec: { width: 4, height: 1, bitDepth: 1, colorType: 0, rows: [[0b1010_0000]] },
      rgba: [[255, 255, 255, 255], [0, 0, 0, 255], [255, 255, 255, 255], [0, 0, 0, 255]],
    },
    {
      name: 'grey 4-bit (scaled by 17)',
      spec: { width: 2, height: 1, bitDepth: 4, colorType: 0, rows: [[0x3f]] },
      rgba: [[51, 51, 51, 255], [255, 255, 255, 255]],
    },
    {
      name: 'grey 16-bit (rounded to 8 bits)',
      spec: { width: 3, height: 1, bitDepth: 16, colorType: 0, rows: [[0x80, 0x80, 0x01, 0x01, 0xff, 0xff]] },
      rgba: [[128, 128, 128, 255], [1, 1, 1, 255], [255, 255, 255, 255]],
    },
    {
      name: 'grey 8-bit with tRNS (pngjs blanks the matching pixels)',
      spec: { width: 2, height: 1, bitDepth: 8, colorType: 0, rows: [[9, 10]], trns: [0, 9] },
      rgba: [[0, 0, 0, 0], [10, 10, 10, 255]],
    },
    {
      name: 'grey+alpha 8-bit',
      spec: { width: 2, height: 1, bitDepth: 8, colorType: 4, rows: [[50, 0, 200, 128]] },
      rgba: [[50, 50, 50, 0], [200, 200, 200, 128]],
    },
    {
      name: 'grey+alpha 16-bit',
      spec: { width: 1, height: 1, bitDepth: 16, colorType: 4, rows: [[0x40, 0x00, 0xff, 0xff]] },
      rgba: [[64, 64, 64, 255]],
    },
    {
      name: 'RGB 8-bit, 2 rows',
      spec: { width: 2, height: 2, bitDepth: 8, colorType: 2, rows: [[1, 2, 3, 4, 5, 6], [7, 8, 9, 250, 251, 252]] },
      rgba: [[1, 2, 3, 255], [4, 5, 6, 255], [7, 8, 9, 255], [250, 251, 252, 255]],
    },
    {
      name: 'RGB 16-bit',
      spec: { width: 1, height: 1, bitDepth: 16, colorType: 2, rows: [[0xff, 0xff, 0x00, 0x00, 0x33, 0x33]] },
      rgba: [[255, 0, 51, 255]],
    },
    {
      name: 'RGBA 8-bit',
      spec: { width: 2, height: 1, bitDepth: 8, colorType: 6, rows: [[10, 20, 30, 40, 50, 60, 70, 80]] },
      rgba: [[10, 20, 30, 40], [50, 60, 70, 80]],
    },
    {
      name: 'RGBA 16-bit',
      spec: { width: 1, height: 1, bitDepth: 16, colorType: 6, rows: [[0x12, 0x00, 0x34, 0x00, 0x56, 0x00, 0x80, 0x00]] },
      rgba: [[0x12, 0x34, 0x56, 0x80]],
    },
    {
      name: 'palette 8-bit with partial tRNS',
      spec: {
        width: 3, height: 1, bitDepth: 8, colorType: 3, rows: [[2, 0, 1]],
        plte: [255, 0, 0, 0, 255, 0, 0, 0, 255], trns: [0, 128],
      },
      rgba: [[0, 0, 255, 255], [255, 0, 0, 0], [0, 255, 0, 128]],
    },
    {
      name: 'palette 2-bit',
      spec: { width: 4, height: 1, bitDepth: 2, colorType: 3, rows: [[0b11_10_01_00]], plte: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] },
      rgba: [[10, 11, 12, 255], [7, 8, 9, 255], [4, 5, 6, 255], [1, 2, 3, 255]],
    },
  ];
  for (const { name, spec, rgba } of cases) {
    it(name, () => {
      const img = decodeImage(buildPng(spec), `${name}.png`);
      expect([img.width, img.height]).toEqual([spec.width, spec.height]);
      expect(img.data).toBeInstanceOf(Uint8Array);
      expect([...img.data]).toEqual(rgba.flat());
    });
  }

  it('round-trips through encodePng, and writePngAtomic leaves no temporary file', async () => {
    const img = uprightPicture();
    expect(decodeImage(encodePng(img.data, img.width, img.height)).data).toEqual(img.data);
    const dir = await mkdtemp(join(tmpdir(), 'image-io-'));
    try {
      await writePngAtomic(join(dir, 'out.png'), img.data, img.width, img.height);
      expect(await readdir(dir)).toEqual(['out.png']);
      expect((await readImage(join(dir, 'out.png'))).data).toEqual(img.data);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('encodePng rejects a buffer of the wrong size', () => {
    expect(() => encodePng(new Uint8Array(10), 2, 2)).toThrow(/2x2 RGBA needs 16 bytes, got 10/);
  });
});

// ---------------------------------------------------------------------------
// Errors

describe('errors name the file and the problem', () => {
  const goodJpeg = readFileSync(join(jpegDir, 'odd_422_61x47.jpg'));
  const goodPng = buildPng({ width: 2, height: 1, bitDepth: 8, colorType: 0, rows: [[1, 2]] });

  it('empty file', () => {
    expect(() => decodeImage(new Uint8Array(0), 'empty.jpg')).toThrow(/^empty\.jpg: empty file .*supported formats: JPEG .*PNG/);
  });

  it.each([
    ['GIF', Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1')],
    ['BMP', Buffer.from('BM\x3a\x00\x00\x00\x00\x00', 'latin1')],
    ['WebP', Buffer.from('RIFF\x24\x00\x00\x00WEBPVP8 ', 'latin1')],
    ['TIFF', Buffer.from('II*\x00\x08\x00\x00\x00', 'latin1')],
    ['HEIC/HEIF', Buffer.from('\x00\x00\x00\x18ftypheic\x00\x00\x00\x00', 'latin1')],
  ])('refuses %s by name', (format, bytes) => {
    expect(() => decodeImage(bytes, 'photo.jpg')).toThrow(`photo.jpg: ${format} images are not supported; supported formats: JPEG`);
  });

  it('unknown bytes', () => {
    expect(() => decodeImage(Buffer.from('hello world'), 'notes.png')).toThrow(/^notes\.png: not a recognised image format \(first bytes: 68 65 6c/);
  });

  it('truncated JPEG (cut in the image data)', () => {
    expect(() => decodeImage(goodJpeg.subarray(0, goodJpeg.length - 300), 'cut.jpg')).toThrow(/^cut\.jpg: truncated JPEG: no end-of-image marker/);
  });

  it('truncated JPEG (cut in the headers)', () => {
    expect(() => decodeImage(goodJpeg.subarray(0, 100), 'cut.jpg')).toThrow(/^cut\.jpg: truncated JPEG/);
  });

  it('unsupported JPEG precision', () => {
    const bad = Buffer.from(goodJpeg);
    const sof = bad.indexOf(Buffer.from([0xff, 0xc0]));
    bad[sof + 4] = 12; // 12-bit precision
    expect(() => decodeImage(bad, 'deep.jpg')).toThrow(/^deep\.jpg: 12-bit JPEGs are not supported/);
  });

  it('arithmetic-coded JPEG', () => {
    const bad = Buffer.from(goodJpeg);
    bad[bad.indexOf(Buffer.from([0xff, 0xc0])) + 1] = 0xc9; // SOF9
    expect(() => decodeImage(bad, 'arith.jpg')).toThrow(/^arith\.jpg: arithmetic-coded JPEGs are not supported; supported formats: JPEG/);
  });

  it('corrupt JPEG scan headers', () => {
    const sos = goodJpeg.indexOf(Buffer.from([0xff, 0xda]));
    const unknownComponent = Buffer.from(goodJpeg);
    unknownComponent[sos + 5] = 9; // the scan's first component id
    expect(() => decodeImage(unknownComponent, 'bad.jpg')).toThrow('bad.jpg: corrupt JPEG: bad component id 9 in a scan');
    const missingTable = Buffer.from(goodJpeg);
    missingTable[sos + 6] = 0x33; // Huffman tables 3, never defined
    expect(() => decodeImage(missingTable, 'bad.jpg')).toThrow('bad.jpg: corrupt JPEG: scan uses an undefined DC Huffman table');
  });

  it('truncated PNG', () => {
    expect(() => decodeImage(goodPng.subarray(0, goodPng.length - 20), 'cut.png')).toThrow(/^cut\.png: truncated PNG: file ends inside the IDAT chunk/);
    expect(() => decodeImage(goodPng.subarray(0, goodPng.length - 12), 'cut.png')).toThrow(/^cut\.png: truncated PNG: no IEND chunk/);
  });

  it('corrupt PNG (bad CRC)', () => {
    const bad = Buffer.from(goodPng);
    bad[bad.indexOf(Buffer.from('IDAT')) + 6] ^= 0xff;
    expect(() => decodeImage(bad, 'bad.png')).toThrow(/^bad\.png: corrupt PNG \(/);
  });

  it('zero-size PNG and JPEG', () => {
    expect(() => decodeImage(buildPng({ width: 0, height: 1, bitDepth: 8, colorType: 0, rows: [[]] }), 'zero.png')).toThrow(
      'zero.png: image has zero size (0x1)',
    );
    const bad = Buffer.from(goodJpeg);
    const sof = bad.indexOf(Buffer.from([0xff, 0xc0]));
    bad[sof + 5] = 0;
    bad[sof + 6] = 0; // height 0
    expect(() => decodeImage(bad, 'zero.jpg')).toThrow('zero.jpg: image has zero size (61x0)');
  });

  it('over the pixel limit, checked before decoding', () => {
    expect(() => decodeImage(goodJpeg, 'big.jpg', { maxPixels: 1000 })).toThrow(
      'big.jpg: image is 61x47 = 2867 pixels, over the limit of 1000 (option maxPixels)',
    );
    expect(() => decodeImage(goodPng, 'big.png', { maxPixels: 1 })).toThrow(/^big\.png: image is 2x1 = 2 pixels, over the limit of 1 /);
    // A header claiming 60000x60000 is refused by the default limit without allocating.
    const huge = Buffer.from(goodJpeg);
    const sof = huge.indexOf(Buffer.from([0xff, 0xc0]));
    huge.writeUInt16BE(60000, sof + 5);
    huge.writeUInt16BE(60000, sof + 7);
    expect(DEFAULT_MAX_PIXELS).toBe(50_000_000);
    expect(() => decodeImage(huge, 'huge.jpg')).toThrow(/^huge\.jpg: image is 60000x60000 = 3600000000 pixels, over the limit of 50000000/);
  });

  it('readImage names the path of a missing file', async () => {
    await expect(readImage('/no/such/dir/face.jpg')).rejects.toThrow(/^\/no\/such\/dir\/face\.jpg: cannot read file \(ENOENT/);
  });

  it('readImage names the path of a corrupt file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'image-io-'));
    try {
      const path = join(dir, 'cut.jpg');
      await writeFile(path, goodJpeg.subarray(0, 400));
      await expect(readImage(path)).rejects.toThrow(`${path}: truncated JPEG`);
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});

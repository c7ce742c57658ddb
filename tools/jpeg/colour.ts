// Full-size component planes to RGBA, with libjpeg's colour conversion
// (jdcolor.c) and, for CMYK files, the conversion PIL applies on top.

import type { ColourSpace } from './header.js';
import type { Plane } from './upsample.js';

/**
 * Converts full-size planes (in frame order) to RGBA8. YCbCr uses libjpeg's
 * 16-bit fixed-point tables; grey is repeated into R, G and B; CMYK and
 * YCCK come out as PIL's `Image.convert('RGB')` gives them.
 */
export function toRgba(planes: Plane[], colourSpace: ColourSpace, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height * 4);
  const { crToR, cbToB, crToG, cbToG } = YCC_TABLES;
  for (let y = 0; y < height; y++) {
    const rows = planes.map((p) => y * p.stride);
    let o = y * width * 4;
    if (colourSpace === 'grey') {
      const [g] = planes;
      for (let x = 0; x < width; x++, o += 4) {
        const v = g.data[rows[0] + x];
        out[o] = v;
        out[o + 1] = v;
        out[o + 2] = v;
        out[o + 3] = 255;
      }
    } else if (colourSpace === 'RGB') {
      const [r, g, b] = planes;
      for (let x = 0; x < width; x++, o += 4) {
        out[o] = r.data[rows[0] + x];
        out[o + 1] = g.data[rows[1] + x];
        out[o + 2] = b.data[rows[2] + x];
        out[o + 3] = 255;
      }
    } else if (colourSpace === 'YCbCr') {
      const [py, pcb, pcr] = planes;
      for (let x = 0; x < width; x++, o += 4) {
        const lum = py.data[rows[0] + x];
        const cb = pcb.data[rows[1] + x];
        const cr = pcr.data[rows[2] + x];
        out[o] = clamp255(lum + crToR[cr]);
        out[o + 1] = clamp255(lum + ((cbToG[cb] + crToG[cr]) >> 16));
        out[o + 2] = clamp255(lum + cbToB[cb]);
        out[o + 3] = 255;
      }
    } else {
      // CMYK, or YCCK: YCbCr-coded inverted C, M, Y plus plain K (ycck_cmyk_convert).
      const [p0, p1, p2, pk] = planes;
      for (let x = 0; x < width; x++, o += 4) {
        const s0 = p0.data[rows[0] + x];
        const s1 = p1.data[rows[1] + x];
        const s2 = p2.data[rows[2] + x];
        let c = s0;
        let m = s1;
        let ye = s2;
        if (colourSpace === 'YCCK') {
          // s0, s1, s2 are Y, Cb, Cr of the inverted C, M, Y.
          c = clamp255(255 - (s0 + crToR[s2]));
          m = clamp255(255 - (s0 + ((cbToG[s1] + crToG[s2]) >> 16)));
          ye = clamp255(255 - (s0 + cbToB[s1]));
        }
        const k = pk.data[rows[3] + x];
        out[o] = cmykToRgb(c, k);
        out[o + 1] = cmykToRgb(m, k);
        out[o + 2] = cmykToRgb(ye, k);
        out[o + 3] = 255;
      }
    }
  }
  return out;
}

function clamp255(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * One RGB channel from a libjpeg CMYK sample pair. PIL reads JPEG CMYK as
 * Adobe-inverted (ink = 255 - sample) and converts with
 * nk - round(ink * nk / 255), nk = 255 - black ink, i.e. here the K sample
 * (Pillow's cmyk2rgb, with its MULDIV255 rounding).
 */
function cmykToRgb(sample: number, kSample: number): number {
  const ink = 255 - sample;
  const t = ink * kSample + 128;
  return kSample - (((t >> 8) + t) >> 8);
}

/**
 * libjpeg's YCbCr -> RGB tables (jdcolor.c, build_ycc_rgb_table): the
 * BT.601 coefficients in 16-bit fixed point, R and B offsets rounded,
 * G's two terms summed before one rounding shift.
 */
const YCC_TABLES = (() => {
  const fix = (x: number) => Math.floor(x * 65536 + 0.5);
  const half = 1 << 15;
  const crToR = new Int32Array(256);
  const cbToB = new Int32Array(256);
  const crToG = new Int32Array(256);
  const cbToG = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    const x = i - 128;
    crToR[i] = (fix(1.402) * x + half) >> 16;
    cbToB[i] = (fix(1.772) * x + half) >> 16;
    crToG[i] = -fix(0.71414) * x;
    cbToG[i] = -fix(0.34414) * x + half;
  }
  return { crToR, cbToB, crToG, cbToG };
})();

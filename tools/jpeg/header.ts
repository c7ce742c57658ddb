// The marker segments of a JPEG up to its first scan: frame size and
// sampling, coding tables, the markers that decide the colour space, and
// the EXIF orientation.

import { JpegError, UnsupportedCodingError } from './errors.js';
import { DHT, DQT, DRI, emptyTables, readTableSegment, type CodingTables } from './tables.js';

export interface FrameComponent {
  id: number;
  /** Horizontal and vertical sampling factors (1-4). */
  h: number;
  v: number;
  /** Slot of the quantisation table used by this component. */
  quantSlot: number;
}

/** How the components are to be turned into RGB (libjpeg's jpeg_color_space). */
export type ColourSpace = 'grey' | 'YCbCr' | 'RGB' | 'CMYK' | 'YCCK';

export interface JpegHeader {
  width: number;
  height: number;
  progressive: boolean;
  components: FrameComponent[];
  colourSpace: ColourSpace;
  /** EXIF orientation 1-8; 1 when absent. */
  orientation: number;
  /** Tables defined before the first scan (later segments update them). */
  tables: CodingTables;
  /** Byte offset of the first scan's SOS marker. */
  firstScanAt: number;
}

const SOF_NAMES: Record<number, string> = {
  0xc3: 'lossless',
  0xc5: 'hierarchical',
  0xc6: 'hierarchical progressive',
  0xc7: 'hierarchical lossless',
  0xc9: 'arithmetic-coded',
  0xca: 'arithmetic-coded progressive',
  0xcb: 'arithmetic-coded lossless',
  0xcd: 'arithmetic-coded hierarchical',
  0xce: 'arithmetic-coded hierarchical progressive',
  0xcf: 'arithmetic-coded hierarchical lossless',
};

/** SOF0 (baseline), SOF1 (extended sequential, Huffman), SOF2 (progressive). */
const SOF_BASELINE = 0xc0;
const SOF_EXTENDED = 0xc1;
const SOF_PROGRESSIVE = 0xc2;
export const SOS = 0xda;
export const EOI = 0xd9;

/** Markers without a length field: TEM, SOI, RST0-7. */
export function isStandalone(marker: number): boolean {
  return marker === 0x01 || marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7);
}

/**
 * Walks the marker segments up to the first scan. Also checks that the file
 * is not cut off (it must end with an EOI marker after that scan's header),
 * since the scan decoder fills missing data with zeros, as libjpeg does.
 */
export function readJpegHeader(b: Uint8Array): JpegHeader {
  let width = 0;
  let height = 0;
  let progressive = false;
  const components: FrameComponent[] = [];
  const tables = emptyTables();
  let sawJfif = false;
  let adobeTransform = -1; // the Adobe APP14 colour-transform flag, -1 without that marker
  let orientation = 1;
  let sawExif = false;
  let sawFrame = false;
  let pos = 2;
  for (;;) {
    if (pos >= b.length) throw new JpegError('truncated JPEG: file ends before the image data');
    if (b[pos] !== 0xff) throw new JpegError(`corrupt JPEG: no marker at byte ${pos}`);
    while (b[pos] === 0xff) pos++; // fill bytes
    if (pos >= b.length) throw new JpegError('truncated JPEG: file ends before the image data');
    const markerAt = pos - 1;
    const marker = b[pos++];
    if (isStandalone(marker)) continue;
    if (marker === EOI) throw new JpegError('corrupt JPEG: end-of-image marker before any image data');
    if (pos + 2 > b.length) throw new JpegError('truncated JPEG: file ends inside a marker');
    const length = (b[pos] << 8) | b[pos + 1];
    const start = pos + 2;
    const end = pos + length;
    if (length < 2) throw new JpegError(`corrupt JPEG: bad segment length at byte ${pos}`);
    if (end > b.length) throw new JpegError('truncated JPEG: file ends inside a marker segment');

    // libjpeg only takes APP0/APP14 as JFIF/Adobe markers when they are
    // long enough to hold the fields it reads (14 and 12 bytes).
    if (marker === 0xe0 && length >= 16 && ascii(b, start, 5) === 'JFIF\0') sawJfif = true;
    if (marker === 0xe1 && !sawExif && ascii(b, start, 6) === 'Exif\0\0') {
      sawExif = true;
      orientation = exifOrientation(b, start + 6, end);
    }
    if (marker === 0xee && length >= 14 && ascii(b, start, 5) === 'Adobe') adobeTransform = b[start + 11];
    if (marker === DQT || marker === DHT || marker === DRI) readTableSegment(marker, b, start, end, tables);
    if (marker in SOF_NAMES) throw new UnsupportedCodingError(SOF_NAMES[marker]);
    if (marker === SOF_BASELINE || marker === SOF_EXTENDED || marker === SOF_PROGRESSIVE) {
      if (sawFrame) throw new JpegError('corrupt JPEG: two frame headers');
      sawFrame = true;
      progressive = marker === SOF_PROGRESSIVE;
      if (length < 8) throw new JpegError('corrupt JPEG: frame header too short');
      const precision = b[start];
      if (precision !== 8) throw new JpegError(`${precision}-bit JPEGs are not supported (only 8-bit)`);
      height = (b[start + 1] << 8) | b[start + 2];
      width = (b[start + 3] << 8) | b[start + 4];
      const count = b[start + 5];
      if (length < 8 + 3 * count) throw new JpegError('corrupt JPEG: frame header too short');
      for (let i = 0; i < count; i++) {
        const p = start + 6 + 3 * i;
        const h = b[p + 1] >> 4;
        const v = b[p + 1] & 15;
        if (h < 1 || h > 4 || v < 1 || v > 4) throw new JpegError(`corrupt JPEG: sampling factors ${h}x${v}`);
        if (b[p + 2] > 3) throw new JpegError(`corrupt JPEG: quantisation table ${b[p + 2]} (0-3 allowed)`);
        components.push({ id: b[p], h, v, quantSlot: b[p + 2] });
      }
      if (count !== 1 && count !== 3 && count !== 4) {
        throw new JpegError(`JPEGs with ${count} colour components are not supported (1, 3 or 4)`);
      }
      // Each component is upsampled by a whole factor; libjpeg refuses other files too.
      const maxH = Math.max(...components.map((c) => c.h));
      const maxV = Math.max(...components.map((c) => c.v));
      if (components.some((c) => maxH % c.h !== 0 || maxV % c.v !== 0)) {
        const factors = components.map((c) => `${c.h}x${c.v}`).join(', ');
        throw new JpegError(`JPEGs with sampling factors ${factors} are not supported (fractional upsampling)`);
      }
    }
    if (marker === SOS) {
      if (!sawFrame) throw new JpegError('corrupt JPEG: image data before the frame header');
      if (lastEndOfImage(b) < end) throw new JpegError('truncated JPEG: no end-of-image marker');
      const colourSpace = colourSpaceOf(components, sawJfif, adobeTransform);
      return { width, height, progressive, components, colourSpace, orientation, tables, firstScanAt: markerAt };
    }
    pos = end;
  }
}

function ascii(b: Uint8Array, start: number, length: number): string {
  return String.fromCharCode(...b.subarray(start, start + length));
}

/** Offset of the last FF D9 (end of image); files often carry junk after it. */
function lastEndOfImage(b: Uint8Array): number {
  for (let i = b.length - 2; i >= 0; i--) if (b[i] === 0xff && b[i + 1] === EOI) return i;
  return -1;
}

/** libjpeg's rule (jdapimin.c, default_decompress_parms) for the colour space. */
function colourSpaceOf(components: FrameComponent[], sawJfif: boolean, adobeTransform: number): ColourSpace {
  if (components.length === 1) return 'grey';
  if (components.length === 4) {
    // Adobe transform 0 means plain CMYK; 2 (and, with a warning, anything else) YCCK.
    return adobeTransform === -1 || adobeTransform === 0 ? 'CMYK' : 'YCCK';
  }
  if (sawJfif) return 'YCbCr';
  if (adobeTransform >= 0) return adobeTransform === 0 ? 'RGB' : 'YCbCr';
  const ids = components.map((c) => c.id).join(',');
  return ids === '82,71,66' ? 'RGB' : 'YCbCr'; // ASCII "RGB" component ids mean RGB; anything else is taken as YCbCr
}

/**
 * The Orientation tag (0x0112) of IFD0 in an EXIF block whose TIFF header
 * starts at `tiff`. Broken EXIF gives 1 (as browsers do): metadata damage
 * should not make the picture unreadable.
 */
function exifOrientation(b: Uint8Array, tiff: number, end: number): number {
  if (tiff + 8 > end) return 1;
  const little = b[tiff] === 0x49 && b[tiff + 1] === 0x49; // "II"
  const big = b[tiff] === 0x4d && b[tiff + 1] === 0x4d; // "MM"
  if (!little && !big) return 1;
  const u16 = (p: number) => (little ? b[p] | (b[p + 1] << 8) : (b[p] << 8) | b[p + 1]);
  const u32 = (p: number) =>
    little
      ? (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0
      : ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
  if (u16(tiff + 2) !== 42) return 1;
  const ifd = tiff + u32(tiff + 4);
  if (ifd + 2 > end) return 1;
  const entries = u16(ifd);
  for (let i = 0; i < entries; i++) {
    const entry = ifd + 2 + 12 * i;
    if (entry + 12 > end) return 1;
    if (u16(entry) !== 0x0112) continue;
    const isShort = u16(entry + 2) === 3;
    const value = u16(entry + 8);
    return isShort && value >= 1 && value <= 8 ? value : 1;
  }
  return 1;
}

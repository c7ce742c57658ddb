// JPEG decoding after the header: the scans, then per component the inverse
// DCT of every block, then upsampling and colour conversion. Each step is
// done as libjpeg-turbo does it with PIL's settings (islow IDCT, fancy
// upsampling), so the pixels are the ones PIL gives, bit for bit.
//
// All coefficients are kept until the last scan (progressive files refine
// them scan by scan), 2 bytes per sample.

import { toRgba } from './colour.js';
import { JpegError } from './errors.js';
import { EOI, SOS, isStandalone, type JpegHeader } from './header.js';
import { nextMarker } from './huffman.js';
import { idctBlock } from './idct.js';
import { decodeScan, type ComponentCoefficients, type McuGrid, type ScanComponent } from './scan.js';
import { DHT, DQT, DRI, readTableSegment, type CodingTables } from './tables.js';
import { upsample, type Plane } from './upsample.js';

export { JpegError, UnsupportedCodingError } from './errors.js';
export { readJpegHeader, type JpegHeader } from './header.js';

/** Decodes the image data of a JPEG whose header `readJpegHeader` has read, to RGBA8. */
export function decodeJpegPixels(data: Uint8Array, header: JpegHeader): Uint8Array {
  const { width, height } = header;
  const maxH = Math.max(...header.components.map((c) => c.h));
  const maxV = Math.max(...header.components.map((c) => c.v));
  const grid: McuGrid = { mcusX: Math.ceil(width / (8 * maxH)), mcusY: Math.ceil(height / (8 * maxV)) };
  const components = header.components.map((c): ComponentCoefficients => {
    const blocksPerLine = grid.mcusX * c.h;
    const blocksPerColumn = grid.mcusY * c.v;
    return {
      h: c.h,
      v: c.v,
      blocksPerLine,
      blocksPerColumn,
      blocksWide: Math.ceil(Math.ceil((width * c.h) / maxH) / 8),
      blocksHigh: Math.ceil(Math.ceil((height * c.v) / maxV) / 8),
      coefs: new Int16Array(blocksPerLine * blocksPerColumn * 64),
    };
  });
  const quant = readScans(data, header, components, grid);

  const planes = components.map((c, i): Plane => {
    // libjpeg's downsampled_width/height: the samples that upsampling reads.
    const plane = inverseDct(c, quant[i], Math.ceil((width * c.h) / maxH), Math.ceil((height * c.v) / maxV));
    return upsample(plane, maxH / c.h, maxV / c.v, width, height);
  });
  return toRgba(planes, header.colourSpace, width, height);
}

/**
 * Decodes every scan, applying the table segments between them, up to EOI
 * (or the end of the data). Returns each component's quantisation table as
 * it was at the component's first scan: libjpeg latches it there, so a
 * later DQT for the same slot does not change that component. A component
 * that is in no scan gets all zeros (libjpeg's default).
 */
function readScans(data: Uint8Array, header: JpegHeader, components: ComponentCoefficients[], grid: McuGrid): Uint16Array[] {
  // Copies, so that table segments between scans leave `header` as it was.
  const tables: CodingTables = { ...header.tables, quant: [...header.tables.quant], dc: [...header.tables.dc], ac: [...header.tables.ac] };
  const latched: (Uint16Array | undefined)[] = components.map(() => undefined);
  let pos = header.firstScanAt;
  for (;;) {
    // Like libjpeg, skip any stray bytes before a marker.
    pos = nextMarker(data, pos);
    if (pos >= data.length) break;
    const marker = data[pos + 1];
    pos += 2;
    if (marker === EOI) break;
    if (isStandalone(marker)) continue;
    const length = (data[pos] << 8) | data[pos + 1];
    const start = pos + 2;
    const end = pos + length;
    if (length < 2 || end > data.length) throw new JpegError('truncated JPEG: file ends inside a marker segment');
    if (marker === DQT || marker === DHT || marker === DRI) readTableSegment(marker, data, start, end, tables);
    else if (marker >= 0xc0 && marker <= 0xcf && marker !== DHT && marker !== 0xc8 && marker !== 0xcc) {
      throw new JpegError('corrupt JPEG: two frame headers');
    }
    if (marker !== SOS) {
      pos = end;
      continue;
    }
    const scanComponents = readScanHeader(data, start, end, header, components, tables);
    for (const { index } of scanComponents) {
      if (latched[index]) continue;
      const slot = header.components[index].quantSlot;
      const table = tables.quant[slot];
      if (!table) throw new JpegError(`corrupt JPEG: quantisation table ${slot} is not defined`);
      latched[index] = table.slice();
    }
    const ssAt = start + 1 + 2 * scanComponents.length;
    const scan = {
      components: scanComponents,
      progressive: header.progressive,
      start: data[ssAt],
      end: data[ssAt + 1],
      previousBit: data[ssAt + 2] >> 4,
      bit: data[ssAt + 2] & 15,
    };
    pos = decodeScan(data, end, scan, grid, tables.restartInterval);
  }
  return latched.map((q) => q ?? new Uint16Array(64));
}

/** The components of an SOS header with their Huffman tables. */
function readScanHeader(
  data: Uint8Array,
  start: number,
  end: number,
  header: JpegHeader,
  components: ComponentCoefficients[],
  tables: CodingTables,
): (ScanComponent & { index: number })[] {
  const count = data[start];
  if (count < 1 || count > 4 || end - start < 1 + 2 * count + 3) throw new JpegError('corrupt JPEG: bad scan header');
  const result: (ScanComponent & { index: number })[] = [];
  for (let i = 0; i < count; i++) {
    const id = data[start + 1 + 2 * i];
    const selectors = data[start + 2 + 2 * i];
    const index = header.components.findIndex((c) => c.id === id);
    if (index < 0 || result.some((c) => c.index === index)) throw new JpegError(`corrupt JPEG: bad component id ${id} in a scan`);
    result.push({
      index,
      coefficients: components[index],
      dcTable: tables.dc[selectors >> 4],
      acTable: tables.ac[selectors & 15],
    });
  }
  return result;
}

/**
 * Inverse-transforms a component's blocks into a plane whose rows and
 * columns are whole blocks; only the top-left width x height is image.
 */
function inverseDct(c: ComponentCoefficients, quant: Uint16Array, width: number, height: number): Plane {
  const stride = c.blocksWide * 8;
  const rows = c.blocksHigh * 8;
  const data = new Uint8Array(stride * rows);
  const work = new Int32Array(64);
  for (let by = 0; by < c.blocksHigh; by++) {
    for (let bx = 0; bx < c.blocksWide; bx++) {
      idctBlock(c.coefs, (by * c.blocksPerLine + bx) * 64, quant, data, by * 8 * stride + bx * 8, stride, work);
    }
  }
  return { data, width, height, stride };
}

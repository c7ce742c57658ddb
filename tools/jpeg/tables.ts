// The coding tables a JPEG defines in marker segments (DQT, DHT, DRI). They
// may appear before the first scan and again between scans, and a later
// segment replaces a table with the same slot number.

import { buildHuffmanTable, type HuffmanTable } from './huffman.js';
import { JpegError } from './errors.js';
import { ZIGZAG_TO_NATURAL } from './zigzag.js';

export interface CodingTables {
  /** Quantisation tables by slot (0-3), in natural (row-major) order. */
  quant: (Uint16Array | undefined)[];
  /** Huffman tables by slot (0-3) for DC and AC coefficients. */
  dc: (HuffmanTable | undefined)[];
  ac: (HuffmanTable | undefined)[];
  /** MCUs between restart markers; 0 for none. */
  restartInterval: number;
}

export const DQT = 0xdb;
export const DHT = 0xc4;
export const DRI = 0xdd;

export function emptyTables(): CodingTables {
  return { quant: [], dc: [], ac: [], restartInterval: 0 };
}

/** Reads a DQT, DHT or DRI segment whose payload is b[start, end). */
export function readTableSegment(marker: number, b: Uint8Array, start: number, end: number, tables: CodingTables): void {
  if (marker === DQT) readQuantTables(b, start, end, tables);
  else if (marker === DHT) readHuffmanTables(b, start, end, tables);
  else if (marker === DRI) {
    if (end - start < 2) throw new JpegError('corrupt JPEG: restart interval segment too short');
    tables.restartInterval = (b[start] << 8) | b[start + 1];
  }
}

function readQuantTables(b: Uint8Array, start: number, end: number, tables: CodingTables): void {
  let pos = start;
  while (pos < end) {
    const sixteenBit = b[pos] >> 4;
    const slot = b[pos] & 15;
    if (sixteenBit > 1 || slot > 3) throw new JpegError(`corrupt JPEG: bad quantisation table header ${b[pos]}`);
    const size = sixteenBit ? 2 : 1;
    if (pos + 1 + 64 * size > end) throw new JpegError('corrupt JPEG: quantisation table segment too short');
    const table = new Uint16Array(64);
    for (let k = 0; k < 64; k++) {
      const at = pos + 1 + k * size;
      table[ZIGZAG_TO_NATURAL[k]] = sixteenBit ? (b[at] << 8) | b[at + 1] : b[at];
    }
    tables.quant[slot] = table;
    pos += 1 + 64 * size;
  }
}

function readHuffmanTables(b: Uint8Array, start: number, end: number, tables: CodingTables): void {
  let pos = start;
  while (pos < end) {
    const isAc = b[pos] >> 4;
    const slot = b[pos] & 15;
    if (isAc > 1 || slot > 3) throw new JpegError(`corrupt JPEG: bad Huffman table header ${b[pos]}`);
    if (pos + 17 > end) throw new JpegError('corrupt JPEG: Huffman table segment too short');
    const counts = b.subarray(pos + 1, pos + 17);
    const total = counts.reduce((sum, n) => sum + n, 0);
    if (total > 256 || pos + 17 + total > end) throw new JpegError('corrupt JPEG: Huffman table segment too short');
    const symbols = b.subarray(pos + 17, pos + 17 + total);
    // A DC symbol is the bit length of a difference; libjpeg refuses tables with lengths over 15.
    if (!isAc && symbols.some((s) => s > 15)) throw new JpegError('corrupt JPEG: bad DC Huffman table (length over 15)');
    const table = buildHuffmanTable(counts, symbols);
    (isAc ? tables.ac : tables.dc)[slot] = table;
    pos += 17 + total;
  }
}

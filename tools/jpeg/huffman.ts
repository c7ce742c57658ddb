// Huffman decoding of JPEG entropy-coded data (ITU T.81, Annex C and F.2.2).

import { JpegError } from './errors.js';

/** Codes up to this many bits are decoded with one table look-up. */
const LOOKUP_BITS = 9;

export interface HuffmanTable {
  /**
   * Indexed by the next LOOKUP_BITS bits of the stream: (code length << 8) |
   * symbol for codes that short, 0 where the code is longer.
   */
  lookup: Uint16Array;
  /** maxCode[n]: the largest code of length n (1-16), -1 if there is none. */
  maxCode: Int32Array;
  /** symbols[codeOffset[n] + code] is the symbol of an n-bit code. */
  codeOffset: Int32Array;
  symbols: Uint8Array;
}

/**
 * Builds the decoding table of a DHT entry: counts[n - 1] codes of length n,
 * whose symbols are listed in code order. Codes are canonical: each length's
 * codes follow on from the previous length's, shifted left by one bit.
 */
export function buildHuffmanTable(counts: Uint8Array, symbols: Uint8Array): HuffmanTable {
  const lookup = new Uint16Array(1 << LOOKUP_BITS);
  const maxCode = new Int32Array(18).fill(-1);
  const codeOffset = new Int32Array(18);
  let code = 0;
  let index = 0;
  for (let length = 1; length <= 16; length++) {
    const count = counts[length - 1];
    codeOffset[length] = index - code;
    for (let i = 0; i < count; i++, code++, index++) {
      if (length <= LOOKUP_BITS) {
        // Every LOOKUP_BITS-bit pattern that starts with this code.
        const shift = LOOKUP_BITS - length;
        const entry = (length << 8) | symbols[index];
        lookup.fill(entry, code << shift, (code + 1) << shift);
      }
    }
    if (count > 0) maxCode[length] = code - 1;
    if (code > 1 << length) throw new JpegError('corrupt JPEG: bad Huffman table (too many codes)');
    code <<= 1;
  }
  return { lookup, maxCode, codeOffset, symbols: symbols.slice() };
}

/**
 * Reads bits, most significant first, from the entropy-coded data of a scan.
 * A 0xFF data byte is stored as FF 00; FF followed by anything else is a
 * marker, which ends the data. Past a marker (or the end of the file) the
 * reader supplies zero bits, as libjpeg does for data cut short.
 */
export class BitReader {
  /** Offset of the next byte to load. */
  pos: number;
  private acc = 0; // the low `count` bits are the next bits of the stream
  private count = 0;
  private atMarker = false;

  constructor(private readonly data: Uint8Array, start: number) {
    this.pos = start;
  }

  /** Loads bytes until at least 25 bits are buffered. */
  private fill(): void {
    const data = this.data;
    while (this.count <= 24) {
      let byte = 0;
      if (!this.atMarker && this.pos < data.length) {
        byte = data[this.pos];
        if (byte !== 0xff) this.pos++;
        else if (data[this.pos + 1] === 0) this.pos += 2;
        else {
          this.atMarker = true;
          byte = 0;
        }
      }
      this.acc = (this.acc << 8) | byte;
      this.count += 8;
    }
  }

  bit(): number {
    if (this.count < 1) this.fill();
    this.count--;
    return (this.acc >>> this.count) & 1;
  }

  /** The next n bits (0 <= n <= 16) as an unsigned number. */
  bits(n: number): number {
    if (this.count < n) this.fill();
    this.count -= n;
    return (this.acc >>> this.count) & ((1 << n) - 1);
  }

  /**
   * An n-bit magnitude category value (F.2.2.1, EXTEND): values whose top
   * bit is 0 stand for the negative half of the range.
   */
  signed(n: number): number {
    if (n === 0) return 0;
    const v = this.bits(n);
    return v < 1 << (n - 1) ? v - (1 << n) + 1 : v;
  }

  /**
   * Decodes one symbol. A bit pattern that is no code of the table decodes
   * as 0 after 16 bits, libjpeg's "fake a zero" for corrupt data.
   */
  decode(table: HuffmanTable): number {
    if (this.count < 16) this.fill();
    const entry = table.lookup[(this.acc >>> (this.count - LOOKUP_BITS)) & ((1 << LOOKUP_BITS) - 1)];
    if (entry !== 0) {
      this.count -= entry >> 8;
      return entry & 255;
    }
    for (let length = LOOKUP_BITS + 1; length <= 16; length++) {
      const code = (this.acc >>> (this.count - length)) & ((1 << length) - 1);
      if (code <= table.maxCode[length]) {
        this.count -= length;
        return table.symbols[table.codeOffset[length] + code];
      }
    }
    this.count -= 16;
    return 0;
  }

  /**
   * Moves past the restart marker (RSTn) that should come next: buffered
   * bits are padding and are dropped, and the reader reads data again.
   * Bytes before the marker that were not needed are skipped; if some other
   * marker comes first, the reader stays there and supplies zeros.
   */
  restart(): void {
    this.acc = 0;
    this.count = 0;
    this.atMarker = false;
    this.pos = nextMarker(this.data, this.pos);
    const code = this.data[this.pos + 1];
    if (code >= 0xd0 && code <= 0xd7) this.pos += 2;
  }
}

/**
 * Offset of the next marker (FF followed by a byte other than 00 and FF) at
 * or after `pos`, skipping any entropy-coded bytes; data.length if none.
 * Fill bytes (extra FFs before a marker) are skipped too.
 */
export function nextMarker(data: Uint8Array, pos: number): number {
  for (let i = pos; i + 1 < data.length; i++) {
    if (data[i] === 0xff && data[i + 1] !== 0 && data[i + 1] !== 0xff) return i;
  }
  return data.length;
}

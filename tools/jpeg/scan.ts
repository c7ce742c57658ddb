// Entropy decoding of one scan into quantised DCT coefficients: sequential
// (baseline) Huffman scans and the four kinds of progressive scan
// (ITU T.81, Annex F.2 and G.2), with restart intervals.

import { JpegError } from './errors.js';
import { BitReader, nextMarker, type HuffmanTable } from './huffman.js';
import { ZIGZAG_TO_NATURAL } from './zigzag.js';

/** The quantised DCT coefficients of one component, for all its blocks. */
export interface ComponentCoefficients {
  /** Sampling factors: the component has h x v blocks in each MCU. */
  h: number;
  v: number;
  /** Blocks per row and per column, padded to whole MCUs. */
  blocksPerLine: number;
  blocksPerColumn: number;
  /**
   * Blocks that hold image samples, ceil(component size / 8). A scan of
   * this component alone covers just these (no MCU padding).
   */
  blocksWide: number;
  blocksHigh: number;
  /** 64 coefficients per block in natural order, blocks row by row. */
  coefs: Int16Array;
}

export interface ScanComponent {
  coefficients: ComponentCoefficients;
  dcTable: HuffmanTable | undefined;
  acTable: HuffmanTable | undefined;
}

export interface Scan {
  components: ScanComponent[];
  progressive: boolean;
  /** Spectral selection: first and last coefficient, in zigzag order. */
  start: number;
  end: number;
  /** Successive approximation: the bit position of the previous pass (0 on the first) and of this one. */
  previousBit: number;
  bit: number;
}

/** MCUs per row and per column of an interleaved scan. */
export interface McuGrid {
  mcusX: number;
  mcusY: number;
}

/** Decoding state shared by the blocks of a scan; reset at each restart marker. */
interface ScanState {
  reader: BitReader;
  /** DC predictions, one per scan component. */
  dcPred: number[];
  /** Blocks still to skip in a progressive AC band (an end-of-band run). */
  eobRun: number;
}

type BlockDecoder = (s: ScanState, scan: Scan, k: number, coefs: Int16Array, at: number) => void;

/**
 * Decodes the entropy-coded data of `scan` starting at `pos`, adding to the
 * components' coefficients. Returns the offset of the marker after the data.
 */
export function decodeScan(data: Uint8Array, pos: number, scan: Scan, grid: McuGrid, restartInterval: number): number {
  const decodeBlock = blockDecoderFor(scan);
  const state: ScanState = { reader: new BitReader(data, pos), dcPred: scan.components.map(() => 0), eobRun: 0 };
  const single = scan.components.length === 1;
  // A scan of one component has one block per MCU and covers only the
  // blocks holding samples; an interleaved scan covers whole MCUs.
  const first = scan.components[0].coefficients;
  const mcusX = single ? first.blocksWide : grid.mcusX;
  const mcusY = single ? first.blocksHigh : grid.mcusY;
  const mcuCount = mcusX * mcusY;

  for (let mcu = 0; mcu < mcuCount; mcu++) {
    if (restartInterval > 0 && mcu > 0 && mcu % restartInterval === 0) {
      state.reader.restart();
      state.dcPred.fill(0);
      state.eobRun = 0;
    }
    const mx = mcu % mcusX;
    const my = (mcu - mx) / mcusX;
    if (single) {
      decodeBlock(state, scan, 0, first.coefs, (my * first.blocksPerLine + mx) * 64);
      continue;
    }
    for (let k = 0; k < scan.components.length; k++) {
      const c = scan.components[k].coefficients;
      for (let by = 0; by < c.v; by++) {
        for (let bx = 0; bx < c.h; bx++) {
          const block = (my * c.v + by) * c.blocksPerLine + mx * c.h + bx;
          decodeBlock(state, scan, k, c.coefs, block * 64);
        }
      }
    }
  }
  return nextMarker(data, state.reader.pos);
}

/** Checks the scan's parameters and picks how its blocks are coded. */
function blockDecoderFor(scan: Scan): BlockDecoder {
  const { start, end, previousBit, bit } = scan;
  const needDc = !scan.progressive || (start === 0 && previousBit === 0);
  const needAc = !scan.progressive || start > 0;
  for (const c of scan.components) {
    if (needDc && !c.dcTable) throw new JpegError('corrupt JPEG: scan uses an undefined DC Huffman table');
    if (needAc && !c.acTable) throw new JpegError('corrupt JPEG: scan uses an undefined AC Huffman table');
  }
  if (!scan.progressive) return decodeSequentialBlock;

  const badProgression =
    start === 0
      ? end !== 0
      : end < start || end > 63 || scan.components.length !== 1;
  if (badProgression || (previousBit !== 0 && bit !== previousBit - 1) || bit > 13) {
    throw new JpegError(`corrupt JPEG: bad progressive scan (Ss=${start}, Se=${end}, Ah=${previousBit}, Al=${bit})`);
  }
  if (start === 0) return previousBit === 0 ? decodeDcFirst : decodeDcRefine;
  return previousBit === 0 ? decodeAcFirst : decodeAcRefine;
}

/** A whole block of a sequential scan: DC difference, then run/size-coded AC terms. */
function decodeSequentialBlock(s: ScanState, scan: Scan, k: number, coefs: Int16Array, at: number): void {
  const { reader } = s;
  const component = scan.components[k];
  s.dcPred[k] += reader.signed(reader.decode(component.dcTable!));
  coefs[at] = s.dcPred[k];
  const ac = component.acTable!;
  for (let i = 1; i < 64; i++) {
    const runSize = reader.decode(ac);
    const size = runSize & 15;
    const run = runSize >> 4;
    if (size === 0) {
      if (run !== 15) break; // end of block
      i += 15; // 16 zeros
      continue;
    }
    i += run;
    coefs[at + ZIGZAG_TO_NATURAL[i]] = reader.signed(size);
  }
}

/** First pass over the DC terms: the difference, scaled up to its bit position. */
function decodeDcFirst(s: ScanState, scan: Scan, k: number, coefs: Int16Array, at: number): void {
  const { reader } = s;
  s.dcPred[k] += reader.signed(reader.decode(scan.components[k].dcTable!));
  coefs[at] = s.dcPred[k] * (1 << scan.bit);
}

/** A later pass over the DC terms: one more bit, uncoded. */
function decodeDcRefine(s: ScanState, scan: Scan, _k: number, coefs: Int16Array, at: number): void {
  if (s.reader.bit()) coefs[at] |= 1 << scan.bit;
}

/** First pass over a band of AC terms (G.1.2.2): runs of zeros, values, end-of-band runs. */
function decodeAcFirst(s: ScanState, scan: Scan, _k: number, coefs: Int16Array, at: number): void {
  if (s.eobRun > 0) {
    s.eobRun--;
    return;
  }
  const { reader } = s;
  const ac = scan.components[0].acTable!;
  for (let i = scan.start; i <= scan.end; i++) {
    const runSize = reader.decode(ac);
    const size = runSize & 15;
    const run = runSize >> 4;
    if (size === 0) {
      if (run === 15) {
        i += 15; // 16 zeros
        continue;
      }
      // End of band here and in the next 2^run - 1 + (run more bits) blocks.
      s.eobRun = (1 << run) - 1 + reader.bits(run);
      return;
    }
    i += run;
    coefs[at + ZIGZAG_TO_NATURAL[i]] = reader.signed(size) * (1 << scan.bit);
  }
}

/**
 * A later pass over a band of AC terms (G.1.2.3). Terms that are already
 * nonzero get one correction bit each (1: add 2^bit to the magnitude), in
 * band order, interleaved with the coded run/size symbols, which place newly
 * nonzero terms of magnitude 2^bit among the terms that are still zero.
 */
function decodeAcRefine(s: ScanState, scan: Scan, _k: number, coefs: Int16Array, at: number): void {
  const { reader } = s;
  const ac = scan.components[0].acTable!;
  const plus = 1 << scan.bit;
  const minus = -1 << scan.bit;
  let i = scan.start;

  if (s.eobRun === 0) {
    for (; i <= scan.end; i++) {
      const runSize = reader.decode(ac);
      let zerosToSkip = runSize >> 4;
      let newValue = 0;
      if ((runSize & 15) !== 0) {
        // The size is always 1 here: the new term is +-2^bit.
        newValue = reader.bit() ? plus : minus;
      } else if (zerosToSkip !== 15) {
        // End of band: the rest of this block (and more) only has corrections.
        s.eobRun = (1 << zerosToSkip) + reader.bits(zerosToSkip);
        break;
      }
      // Walk past `zerosToSkip` zero terms (or 16 for a ZRL, newValue 0),
      // correcting nonzero terms on the way, and stop on the next zero one.
      for (; i <= scan.end; i++) {
        const z = at + ZIGZAG_TO_NATURAL[i];
        if (coefs[z] !== 0) refine(reader, coefs, z, plus, minus);
        else if (zerosToSkip-- === 0) break;
      }
      if (newValue !== 0) coefs[at + ZIGZAG_TO_NATURAL[i]] = newValue;
    }
  }

  if (s.eobRun > 0) {
    // Inside an end-of-band run: only corrections for this block's nonzero terms.
    for (; i <= scan.end; i++) {
      const z = at + ZIGZAG_TO_NATURAL[i];
      if (coefs[z] !== 0) refine(reader, coefs, z, plus, minus);
    }
    s.eobRun--;
  }
}

/** Applies one correction bit to the nonzero term coefs[z]. */
function refine(reader: BitReader, coefs: Int16Array, z: number, plus: number, minus: number): void {
  if (reader.bit() && (coefs[z] & plus) === 0) coefs[z] += coefs[z] >= 0 ? plus : minus;
}

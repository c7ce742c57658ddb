// A tiny bitmap font for chart titles, tick labels and photo annotations, so
// plots need no font files or native text rendering.
//
// Each glyph is 5 pixels wide and 8 rows tall: rows 0-6 hold capitals and
// digits (row 6 is the baseline row), row 7 is for descenders (g j p q y , _).
// A glyph is written as 8 two-digit hex numbers, one per row from the top;
// bit 4 (0x10) is the leftmost pixel, bit 0 (0x01) the rightmost. For
// example '0' is 0e 11 13 15 19 11 0e 00:
//   .###.   #...#   #..##   #.#.#   ##..#   #...#   .###.   .....
// Characters are laid out on a 6x9 cell (1 pixel of space right and below).

/** Width and height in pixels of a glyph's bitmap. */
export const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 8;
/** Advance per character and per line (glyph plus 1 pixel of spacing). */
export const CELL_WIDTH = 6;
export const CELL_HEIGHT = 9;

const FIRST_CODE = 32;
const LAST_CODE = 126;

// ASCII 32 (space) to 126 (~), in order.
const GLYPHS: readonly string[] = [
  '0000000000000000', // space
  '0404040404000400', // !
  '0a0a0a0000000000', // "
  '0a0a1f0a1f0a0a00', // #
  '040f140e051e0400', // $
  '1819020408130300', // %
  '0c12140815120d00', // &
  '0404080000000000', // '
  '0204080808040200', // (
  '0804020202040800', // )
  '0004150e15040000', // *
  '0004041f04040000', // +
  '00000000000c0408', // ,
  '0000001f00000000', // -
  '00000000000c0c00', // .
  '0001020408100000', // /
  '0e11131519110e00', // 0
  '040c040404040e00', // 1
  '0e11010204081f00', // 2
  '1f02040201110e00', // 3
  '02060a121f020200', // 4
  '1f101e0101110e00', // 5
  '0608101e11110e00', // 6
  '1f01020408080800', // 7
  '0e11110e11110e00', // 8
  '0e11110f01020c00', // 9
  '000c0c000c0c0000', // :
  '000c0c000c040800', // ;
  '0204081008040200', // <
  '00001f001f000000', // =
  '0804020102040800', // >
  '0e11010204000400', // ?
  '0e11010d15150e00', // @
  '0e1111111f111100', // A
  '1e11111e11111e00', // B
  '0e11101010110e00', // C
  '1c12111111121c00', // D
  '1f10101e10101f00', // E
  '1f10101e10101000', // F
  '0e11101711110f00', // G
  '1111111f11111100', // H
  '0e04040404040e00', // I
  '0702020202120c00', // J
  '1112141814121100', // K
  '1010101010101f00', // L
  '111b151511111100', // M
  '1111191513111100', // N
  '0e11111111110e00', // O
  '1e11111e10101000', // P
  '0e11111115120d00', // Q
  '1e11111e14121100', // R
  '0f10100e01011e00', // S
  '1f04040404040400', // T
  '1111111111110e00', // U
  '11111111110a0400', // V
  '1111111515150a00', // W
  '11110a040a111100', // X
  '1111110a04040400', // Y
  '1f01020408101f00', // Z
  '0e08080808080e00', // [
  '0010080402010000', // backslash
  '0e02020202020e00', // ]
  '040a110000000000', // ^
  '000000000000001f', // _
  '0804020000000000', // `
  '00000e010f110f00', // a
  '1010161911111e00', // b
  '00000e1010110e00', // c
  '01010d1311110f00', // d
  '00000e111f100e00', // e
  '0609081c08080800', // f
  '00000f11110f010e', // g
  '1010161911111100', // h
  '04000c0404040e00', // i
  '020006020202120c', // j
  '1010121418141200', // k
  '0c04040404040e00', // l
  '00001a1515111100', // m
  '0000161911111100', // n
  '00000e1111110e00', // o
  '00001e11111e1010', // p
  '00000f11110f0101', // q
  '0000161910101000', // r
  '00000e100e011e00', // s
  '08081c0808090600', // t
  '0000111111130d00', // u
  '00001111110a0400', // v
  '0000111115150a00', // w
  '0000110a040a1100', // x
  '00001111110f010e', // y
  '00001f0204081f00', // z
  '0204040804040200', // {
  '0404040404040404', // |
  '0804040204040800', // }
  '0000081502000000', // ~
];

/** Characters outside printable ASCII are drawn as '?'. */
const FALLBACK = '?'.charCodeAt(0);

/**
 * The 8 row bitmaps (bit 4 = leftmost pixel) of the glyph for one character.
 * Characters with no glyph come back as '?'.
 */
export function glyphRows(char: string): readonly number[] {
  let code = char.codePointAt(0) ?? FALLBACK;
  if (code < FIRST_CODE || code > LAST_CODE) code = FALLBACK;
  return decodedGlyphs[code - FIRST_CODE];
}

/** Whether the glyph has the pixel at column x (0-4), row y (0-7) set. */
export function glyphPixel(rows: readonly number[], x: number, y: number): boolean {
  return ((rows[y] >> (GLYPH_WIDTH - 1 - x)) & 1) === 1;
}

const decodedGlyphs: readonly number[][] = GLYPHS.map((hex) => {
  const rows: number[] = [];
  for (let r = 0; r < GLYPH_HEIGHT; r++) rows.push(parseInt(hex.slice(2 * r, 2 * r + 2), 16));
  return rows;
});

// Dequantisation and inverse DCT of one 8x8 block, computed the way
// libjpeg's default "islow" method does (jidctint.c, JDCT_ISLOW).
//
// Why integer, and why this particular algorithm: the IDCT is where JPEG
// decoders legitimately differ (the standard only bounds the error), and our
// reference pixels come from PIL, i.e. libjpeg-turbo's islow IDCT. Any other
// IDCT, even a more accurate float one, rounds a few percent of samples the
// other way. To be bit-exact we use the same factorisation, the same 13-bit
// fixed-point constants and the same rounding points.
//
// The factorisation is the one of Loeffler, Ligtenberg and Moschytz
// ("Practical fast 1-D DCT algorithms with 11 multiplications", ICASSP 1989):
// a 1-D 8-point IDCT as an even part (inputs 0, 2, 4, 6: a 4-point IDCT with
// one rotation) and an odd part (inputs 1, 3, 5, 7: four rotations sharing
// multiplications), with every cosine scaled by sqrt(2). It is applied to
// columns (pass 1), then to rows (pass 2).
//
// Scaling: constants are round(x * 2^13). Pass 1 keeps 2 extra bits of
// precision in its results (PASS1_BITS), so pass 2 removes 13 + 2 bits plus
// 3 more: the 2-D IDCT's 1/8 normalisation. Each removal rounds half up
// (add half, arithmetic shift right).
//
// Arithmetic is plain JS numbers, exact like libjpeg's 64-bit intermediates;
// only the final shifts go through 32 bits, which any block of a valid JPEG
// fits with a wide margin. (libjpeg-turbo's SIMD version, which PIL runs,
// keeps dequantised values and pass-1 results in 16 bits. That only shows
// for coefficients far beyond what an 8-bit image can produce: in tests,
// quantisation tables scaled up 8x after encoding.)

const CONST_BITS = 13;
const PASS1_BITS = 2;
const PASS1_SHIFT = CONST_BITS - PASS1_BITS; // 11
const PASS2_SHIFT = CONST_BITS + PASS1_BITS + 3; // 18
const PASS1_ROUND = 1 << (PASS1_SHIFT - 1);
const PASS2_ROUND = 1 << (PASS2_SHIFT - 1);

/** cos(k * pi / 16), the DCT basis cosines. */
const c = (k: number) => Math.cos((k * Math.PI) / 16);
/** A real constant in 13-bit fixed point. */
const fix = (x: number) => Math.round(x * (1 << CONST_BITS));
const r2 = Math.SQRT2;

// Even part: one rotation by 6*pi/16.
const EVEN_ROT = fix(r2 * c(6)); // 4433 (0.541196100)
const EVEN_ROT_MINUS = fix(r2 * (c(2) + c(6))); // 15137 (1.847759065)
const EVEN_ROT_PLUS = fix(r2 * (c(2) - c(6))); // 6270 (0.765366865)
// Odd part.
const ODD_Z5 = fix(r2 * c(3)); // 9633 (1.175875602)
const ODD_7 = fix(r2 * (-c(1) + c(3) + c(5) - c(7))); // 2446 (0.298631336)
const ODD_5 = fix(r2 * (c(1) + c(3) - c(5) + c(7))); // 16819 (2.053119869)
const ODD_3 = fix(r2 * (c(1) + c(3) + c(5) - c(7))); // 25172 (3.072711026)
const ODD_1 = fix(r2 * (c(1) + c(3) - c(5) - c(7))); // 12299 (1.501321110)
const ODD_Z1 = fix(r2 * (c(3) - c(7))); // 7373 (0.899976223), used negated
const ODD_Z2 = fix(r2 * (c(1) + c(3))); // 20995 (2.562915447), used negated
const ODD_Z3 = fix(r2 * (c(3) + c(5))); // 16069 (1.961570560), used negated
const ODD_Z4 = fix(r2 * (c(3) - c(5))); // 3196 (0.390180644), used negated

/**
 * A sample from a pass-2 result (centred on 0). libjpeg-turbo's SIMD code,
 * which PIL runs on x86 and Arm, saturates here, so out-of-range values are
 * clamped. (Its plain C code, used without SIMD, wraps values beyond +-512
 * instead; ringing in real images stays well inside that.)
 */
function toSample(x: number): number {
  return x < -128 ? 0 : x > 127 ? 255 : x + 128;
}

/**
 * Dequantises and inverse-transforms the block coefs[at, at + 64) (natural
 * order) with `quant` (natural order), writing 8 rows of 8 samples at
 * out[outAt], rows `stride` apart. `work` is 64 ints of scratch space.
 */
export function idctBlock(
  coefs: Int16Array,
  at: number,
  quant: Uint16Array,
  out: Uint8Array,
  outAt: number,
  stride: number,
  work: Int32Array,
): void {
  // Pass 1: columns, from coefficients into `work`.
  for (let col = 0; col < 8; col++) {
    const p = at + col;
    if (
      coefs[p + 8] === 0 && coefs[p + 16] === 0 && coefs[p + 24] === 0 && coefs[p + 32] === 0 &&
      coefs[p + 40] === 0 && coefs[p + 48] === 0 && coefs[p + 56] === 0
    ) {
      // Only the DC term: the full computation reduces to this exactly.
      const dc = coefs[p] * quant[col] * (1 << PASS1_BITS);
      for (let row = 0; row < 8; row++) work[row * 8 + col] = dc;
      continue;
    }
    transform(
      coefs[p] * quant[col], coefs[p + 8] * quant[col + 8], coefs[p + 16] * quant[col + 16], coefs[p + 24] * quant[col + 24],
      coefs[p + 32] * quant[col + 32], coefs[p + 40] * quant[col + 40], coefs[p + 48] * quant[col + 48], coefs[p + 56] * quant[col + 56],
    );
    for (let row = 0; row < 8; row++) work[row * 8 + col] = (result[row] + PASS1_ROUND) >> PASS1_SHIFT;
  }

  // Pass 2: rows, from `work` into samples.
  for (let row = 0; row < 8; row++) {
    const w = row * 8;
    const o = outAt + row * stride;
    if (
      work[w + 1] === 0 && work[w + 2] === 0 && work[w + 3] === 0 && work[w + 4] === 0 &&
      work[w + 5] === 0 && work[w + 6] === 0 && work[w + 7] === 0
    ) {
      const s = toSample((work[w] + (1 << (PASS1_BITS + 2))) >> (PASS1_BITS + 3));
      for (let x = 0; x < 8; x++) out[o + x] = s;
      continue;
    }
    transform(work[w], work[w + 1], work[w + 2], work[w + 3], work[w + 4], work[w + 5], work[w + 6], work[w + 7]);
    for (let x = 0; x < 8; x++) out[o + x] = toSample((result[x] + PASS2_ROUND) >> PASS2_SHIFT);
  }
}

/** Output of `transform`: exact integers, before descaling. */
const result = new Float64Array(8);

/** The 1-D 8-point IDCT of x0..x7 into `result`, in fixed point (scaled by 2^13). */
function transform(x0: number, x1: number, x2: number, x3: number, x4: number, x5: number, x6: number, x7: number): void {
  // Even part.
  const rot = (x2 + x6) * EVEN_ROT;
  const even2 = rot - x6 * EVEN_ROT_MINUS;
  const even3 = rot + x2 * EVEN_ROT_PLUS;
  const sum04 = (x0 + x4) * (1 << CONST_BITS);
  const diff04 = (x0 - x4) * (1 << CONST_BITS);
  const e0 = sum04 + even3;
  const e3 = sum04 - even3;
  const e1 = diff04 + even2;
  const e2 = diff04 - even2;

  // Odd part.
  const z5 = (x7 + x5 + x3 + x1) * ODD_Z5;
  const z1 = -(x7 + x1) * ODD_Z1;
  const z2 = -(x5 + x3) * ODD_Z2;
  const z3 = -(x7 + x3) * ODD_Z3 + z5;
  const z4 = -(x5 + x1) * ODD_Z4 + z5;
  const o0 = x7 * ODD_7 + z1 + z3;
  const o1 = x5 * ODD_5 + z2 + z4;
  const o2 = x3 * ODD_3 + z2 + z3;
  const o3 = x1 * ODD_1 + z1 + z4;

  result[0] = e0 + o3;
  result[7] = e0 - o3;
  result[1] = e1 + o2;
  result[6] = e1 - o2;
  result[2] = e2 + o1;
  result[5] = e2 - o1;
  result[3] = e3 + o0;
  result[4] = e3 - o0;
}

// Chroma upsampling as libjpeg does it by default (jdsample.c, "fancy"
// upsampling): a triangle filter for 2x horizontal, 2x vertical or both
// (4:2:2, 4:4:0, 4:2:0), plain repetition for any other integer ratio.

/** 8-bit samples, row-major; rows are `stride` apart (stride >= width). */
export interface Plane {
  data: Uint8Array;
  width: number;
  height: number;
  stride: number;
}

/**
 * Upsamples a component plane by rx horizontally and ry vertically to
 * width x height. Only the plane's own width x height samples are read: at
 * the image edges the outermost sample stands in for its missing neighbour,
 * as in libjpeg.
 */
export function upsample(src: Plane, rx: number, ry: number, width: number, height: number): Plane {
  if (rx === 1 && ry === 1) return src;
  // libjpeg repeats samples when a row has only 1-2 of them (no neighbours to blend).
  const fancyH2 = rx === 2 && src.width > 2;
  if (rx === 2 && ry === 1 && fancyH2) return fancyH2V1(src, width, height);
  if (rx === 1 && ry === 2) return fancyH1V2(src, width, height);
  if (rx === 2 && ry === 2 && fancyH2) return fancyH2V2(src, width, height);
  return repeat(src, rx, ry, width, height);
}

function repeat(src: Plane, rx: number, ry: number, width: number, height: number): Plane {
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const from = Math.floor(y / ry) * src.stride;
    for (let x = 0; x < width; x++) out[y * width + x] = src.data[from + Math.floor(x / rx)];
  }
  return { data: out, width, height, stride: width };
}

/**
 * 2x horizontally: each output sample is (3 * nearer + 1 * farther) / 4 of
 * the two closest input samples, rounding alternately down and up (biases
 * 1 and 2) so that the rounding errors cancel along a row.
 */
function fancyH2V1(src: Plane, width: number, height: number): Plane {
  const n = src.width;
  const out = new Uint8Array(width * height);
  const row = new Uint8Array(2 * n); // one output row before cropping to `width`
  const s = src.data;
  for (let y = 0; y < height; y++) {
    const at = y * src.stride;
    row[0] = s[at];
    row[1] = (s[at] * 3 + s[at + 1] + 2) >> 2;
    for (let x = 1; x < n - 1; x++) {
      const near = s[at + x] * 3;
      row[2 * x] = (near + s[at + x - 1] + 1) >> 2;
      row[2 * x + 1] = (near + s[at + x + 1] + 2) >> 2;
    }
    row[2 * n - 2] = (s[at + n - 1] * 3 + s[at + n - 2] + 1) >> 2;
    row[2 * n - 1] = s[at + n - 1];
    out.set(row.subarray(0, width), y * width);
  }
  return { data: out, width, height, stride: width };
}

/**
 * 2x vertically: the upper output row of each pair blends 3:1 with the
 * input row above, the lower one with the row below (biases 1 and 2).
 */
function fancyH1V2(src: Plane, width: number, height: number): Plane {
  const out = new Uint8Array(width * height);
  const s = src.data;
  for (let oy = 0; oy < height; oy++) {
    const y = oy >> 1;
    const upper = (oy & 1) === 0;
    const near = y * src.stride;
    const far = neighbourRow(y, upper, src.height) * src.stride;
    const bias = upper ? 1 : 2;
    for (let x = 0; x < width; x++) out[oy * width + x] = (s[near + x] * 3 + s[far + x] + bias) >> 2;
  }
  return { data: out, width, height, stride: width };
}

/**
 * 2x both ways: first the vertical 3:1 blend of two rows (kept at 4x scale,
 * no rounding), then the horizontal 3:1 blend of those column sums, divided
 * by 16 with biases 8 and 7.
 */
function fancyH2V2(src: Plane, width: number, height: number): Plane {
  const n = src.width;
  const out = new Uint8Array(width * height);
  const row = new Uint8Array(2 * n);
  const colSum = new Int32Array(n);
  const s = src.data;
  for (let oy = 0; oy < height; oy++) {
    const y = oy >> 1;
    const near = y * src.stride;
    const far = neighbourRow(y, (oy & 1) === 0, src.height) * src.stride;
    for (let x = 0; x < n; x++) colSum[x] = s[near + x] * 3 + s[far + x];
    row[0] = (colSum[0] * 4 + 8) >> 4;
    row[1] = (colSum[0] * 3 + colSum[1] + 7) >> 4;
    for (let x = 1; x < n - 1; x++) {
      const c = colSum[x] * 3;
      row[2 * x] = (c + colSum[x - 1] + 8) >> 4;
      row[2 * x + 1] = (c + colSum[x + 1] + 7) >> 4;
    }
    row[2 * n - 2] = (colSum[n - 1] * 3 + colSum[n - 2] + 8) >> 4;
    row[2 * n - 1] = (colSum[n - 1] * 4 + 7) >> 4;
    out.set(row.subarray(0, width), oy * width);
  }
  return { data: out, width, height, stride: width };
}

/** The input row an upper (or lower) output row blends with; edge rows stand in for missing ones. */
function neighbourRow(y: number, upper: boolean, rows: number): number {
  return upper ? Math.max(y - 1, 0) : Math.min(y + 1, rows - 1);
}

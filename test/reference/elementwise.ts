// CPU references for broadcasting elementwise ops and reductions (tests and benchmarks only).

export function broadcastBinary(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], f: (x: number, y: number) => number): { data: Float64Array; shape: number[] } {
  const rank = Math.max(aShape.length, bShape.length);
  const A = [...Array(rank - aShape.length).fill(1), ...aShape];
  const B = [...Array(rank - bShape.length).fill(1), ...bShape];
  const shape = A.map((d, i) => Math.max(d, B[i]));
  const n = shape.reduce((x, d) => x * d, 1);
  const out = new Float64Array(n);
  const idx = new Array(rank).fill(0);
  for (let i = 0; i < n; i++) {
    let rest = i;
    for (let d = rank - 1; d >= 0; d--) { idx[d] = rest % shape[d]; rest = Math.floor(rest / shape[d]); }
    let ia = 0, ib = 0;
    for (let d = 0; d < rank; d++) {
      ia = ia * A[d] + (A[d] === 1 ? 0 : idx[d]);
      ib = ib * B[d] + (B[d] === 1 ? 0 : idx[d]);
    }
    out[i] = f(a[ia], b[ib]);
  }
  return { data: out, shape };
}

/** Sum over the listed axes (keepDims layout: the result is row-major over the kept axes). */
export function sumAxes(x: Float32Array, shape: number[], axes: number[]): Float64Array {
  const red = shape.map((_, i) => axes.includes(i));
  const outShape = shape.map((d, i) => (red[i] ? 1 : d));
  const out = new Float64Array(outShape.reduce((a, d) => a * d, 1));
  const idx = new Array(shape.length).fill(0);
  for (let i = 0; i < x.length; i++) {
    let rest = i;
    for (let d = shape.length - 1; d >= 0; d--) { idx[d] = rest % shape[d]; rest = Math.floor(rest / shape[d]); }
    let o = 0;
    for (let d = 0; d < shape.length; d++) o = o * outShape[d] + (red[d] ? 0 : idx[d]);
    out[o] += x[i];
  }
  return out;
}

// CPU references for matmul and linear (tests and benchmarks only), in float64.

export interface MatmulRefOptions {
  transposeA?: boolean;
  transposeB?: boolean;
}

/**
 * Same contract as engine/ops/matmul.ts `matmul`: 2-D or 3-D operands (a 2-D
 * one shared by the batch), optional transposes. Returns the row-major result
 * and its shape.
 */
export function matmulRef(a: ArrayLike<number>, aShape: number[], b: ArrayLike<number>, bShape: number[], opts: MatmulRefOptions = {}): { data: Float64Array; shape: number[] } {
  const tA = opts.transposeA ?? false;
  const tB = opts.transposeB ?? false;
  const [ar, ac] = aShape.slice(-2);
  const [br, bc] = bShape.slice(-2);
  const [M, K] = tA ? [ac, ar] : [ar, ac];
  const [K2, N] = tB ? [bc, br] : [br, bc];
  if (K !== K2) throw new Error(`matmulRef: K ${K} != ${K2}`);
  const batched = aShape.length === 3 || bShape.length === 3;
  const batch = aShape.length === 3 ? aShape[0] : bShape.length === 3 ? bShape[0] : 1;
  const aStride = aShape.length === 3 ? M * K : 0;
  const bStride = bShape.length === 3 ? K * N : 0;
  const out = new Float64Array(batch * M * N);
  for (let p = 0; p < batch; p++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let q = 0; q < K; q++) {
          const av = a[p * aStride + (tA ? q * M + i : i * K + q)];
          const bv = b[p * bStride + (tB ? j * K + q : q * N + j)];
          s += av * bv;
        }
        out[(p * M + i) * N + j] = s;
      }
    }
  }
  return { data: out, shape: batched ? [batch, M, N] : [M, N] };
}

/** y = x w + bias for x [..., in], w [in, out], bias [out]. */
export function linearRef(x: ArrayLike<number>, xShape: number[], w: ArrayLike<number>, wShape: number[], bias?: ArrayLike<number>): Float64Array {
  const [inF, outF] = wShape;
  const rows = xShape.slice(0, -1).reduce((p, d) => p * d, 1);
  const y = matmulRef(x, [rows, inF], w, wShape).data;
  if (bias) for (let r = 0; r < rows; r++) for (let j = 0; j < outF; j++) y[r * outF + j] += bias[j];
  return y;
}

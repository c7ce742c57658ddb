// Shared by every matmul kernel: C[batch] = op(A[batch]) * op(B[batch]) (+ bias)
// where op(A) is [M, K] and op(B) is [K, N]. Operands are dense row-major;
// a transposed operand is read through its index math, never copied.

// A is stored [K, M] (op(A) = A^T); otherwise [M, K].
override A_T: bool = false;
// B is stored [N, K] (op(B) = B^T); otherwise [K, N].
override B_T: bool = false;
// Add bias[n] to every row of C. Without it `bias` is bound to some other
// read-only buffer and never read (a binding can't be left out).
override HAS_BIAS: bool = false;

struct MatmulParams {
  m: u32,
  n: u32,
  k: u32,
  // Elements between consecutive batch entries; 0 = shared by the whole batch.
  a_batch_stride: u32,
  b_batch_stride: u32,
  // First row block / batch entry of this dispatch (grids are capped at 65535 per axis).
  row_block_base: u32,
  batch_base: u32,
}
// Each kernel declares A and B itself (@binding(1) `a`, @binding(2) `b`),
// as scalars or as vec4s.
@group(0) @binding(0) var<uniform> u: MatmulParams;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// Flat index of op(A)[row, col] (col runs over K) within one batch entry.
fn a_index(row: u32, col: u32) -> u32 {
  return select(row * u.k + col, col * u.m + row, A_T);
}

// Flat index of op(B)[row, col] (row runs over K) within one batch entry.
fn b_index(row: u32, col: u32) -> u32 {
  return select(row * u.n + col, col * u.k + row, B_T);
}

fn bias_at(col: u32) -> f32 {
  if (HAS_BIAS) { return bias[col]; }
  return 0.0;
}

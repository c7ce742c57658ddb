// Loads shared by the register-blocked matmul kernels (blocked, subgroup):
// operands are read four consecutive elements at a time along their
// contiguous axis, and B in 4x4 blocks.
//!include matmul_common.wgsl

// A and B as vec4s: on llvmpipe a vec4 load (one loop over the lanes) is ~20%
// cheaper than four scalar ones. The host binds sizes rounded up to 16 bytes.
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;

// K, N and (for A^T) M are multiples of 4: every four-element load is one
// aligned vec4 and K comes in whole steps of 4. Otherwise loads straddle two
// vec4s and are masked, and steps past K read as 0.
override ALIGNED: bool = true;

// Elements i..i+3 of A's storage; those from `avail` on read as 0.
fn a4(i: u32, avail: u32) -> vec4<f32> {
  // Aligned, i is a multiple of 4, or (a clamped index past an edge) inside
  // the last vec4 of its row: either way i/4 is the vec4 wanted.
  if (ALIGNED) { return a[i / 4u]; }
  return straddle(a[i / 4u], a[min(i / 4u + 1u, arrayLength(&a) - 1u)], i % 4u, avail);
}

// Elements i..i+3 of B's storage; those from `avail` on read as 0.
fn b4(i: u32, avail: u32) -> vec4<f32> {
  if (ALIGNED) { return b[i / 4u]; }
  return straddle(b[i / 4u], b[min(i / 4u + 1u, arrayLength(&b) - 1u)], i % 4u, avail);
}

// Four consecutive elements starting `shift` into lo and running on into hi,
// those from `avail` on replaced by 0.
fn straddle(lo: vec4<f32>, hi: vec4<f32>, shift: u32, avail: u32) -> vec4<f32> {
  var v = lo;
  v = select(v, vec4(lo.yzw, hi.x), shift == 1u);
  v = select(v, vec4(lo.zw, hi.xy), shift == 2u);
  v = select(v, vec4(lo.w, hi.xyz), shift == 3u);
  return select(vec4(0.0), v, vec4(0u, 1u, 2u, 3u) < vec4(avail));
}

// Whether step j (0..3) of a 4-step of K starting at k is inside K. Always
// true when aligned, so the check folds away there.
fn k_live(k: u32, j: u32) -> bool {
  return ALIGNED || k + j < u.k;
}

// op(B)[k + j, col + t] as bk[j][t], for the 4x4 block at (k, col) of
// batch entry starting at b0. Columns past N are clamped (their results are
// never stored); steps past K read as 0.
fn load_b_block(b0: u32, k: u32, col: u32) -> array<vec4<f32>, 4> {
  var bk: array<vec4<f32>, 4>;
  if (B_T) {
    // B^T is contiguous along K: one load per column, transposed in registers
    // (free: on a SIMD-across-lanes adapter a vec4 is four registers anyway).
    let avail = u.k - k;
    let c0 = b4(b0 + b_index(k, min(col, u.n - 1u)), avail);
    let c1 = b4(b0 + b_index(k, min(col + 1u, u.n - 1u)), avail);
    let c2 = b4(b0 + b_index(k, min(col + 2u, u.n - 1u)), avail);
    let c3 = b4(b0 + b_index(k, min(col + 3u, u.n - 1u)), avail);
    bk[0] = vec4(c0.x, c1.x, c2.x, c3.x);
    bk[1] = vec4(c0.y, c1.y, c2.y, c3.y);
    bk[2] = vec4(c0.z, c1.z, c2.z, c3.z);
    bk[3] = vec4(c0.w, c1.w, c2.w, c3.w);
  } else {
    let cc = min(col, u.n - 1u);
    for (var j = 0u; j < 4u; j++) {
      if (k_live(k, j)) { bk[j] = b4(b0 + b_index(k + j, cc), u.n - cc); }
    }
  }
  return bk;
}

// Writes four consecutive elements of a row of C (plus bias), dropping those past N.
fn store_c4(row_start: u32, col: u32, v: vec4<f32>) {
  if (ALIGNED) {
    if (col < u.n) {
      let i = row_start + col;
      let w = v + vec4(bias_at(col), bias_at(col + 1u), bias_at(col + 2u), bias_at(col + 3u));
      c[i] = w.x;
      c[i + 1u] = w.y;
      c[i + 2u] = w.z;
      c[i + 3u] = w.w;
    }
    return;
  }
  for (var t = 0u; t < 4u; t++) {
    if (col + t < u.n) { c[row_start + col + t] = v[t] + bias_at(col + t); }
  }
}

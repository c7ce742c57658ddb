// The obviously-correct matmul: one invocation per element of C, a dot
// product along K. Any shapes, any layout; the reference the fast kernels are
// tested against, and the fallback where their layout rules don't hold.
//!include matmul_common.wgsl

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let col = wg.x * 8u + lid.x;
  let row = (u.row_block_base + wg.y) * 8u + lid.y;
  let batch = u.batch_base + wg.z;
  if (row >= u.m || col >= u.n) { return; }
  let a0 = batch * u.a_batch_stride;
  let b0 = batch * u.b_batch_stride;
  var s = 0.0;
  for (var i = 0u; i < u.k; i++) {
    s = fma(a[a0 + a_index(row, i)], b[b0 + b_index(i, col)], s);
  }
  c[(batch * u.m + row) * u.n + col] = s + bias_at(col);
}

// C = op(A) op(B) by register blocking, without workgroup memory or
// subgroups: each invocation computes a 4x4 block of C from 4x4 blocks of A
// and B loaded as vec4s, 16 vec4 fma per 8 loads. The software-adapter kernel
// for adapters without subgroups (on lavapipe the subgroup kernel is faster).
//!include matmul_vec4.wgsl

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let batch = u.batch_base + wg.z;
  let row0 = ((u.row_block_base + wg.y) * 8u + lid.y) * 4u;
  let col = (wg.x * 8u + lid.x) * 4u;
  let a0 = batch * u.a_batch_stride;
  let b0 = batch * u.b_batch_stride;

  var acc: array<vec4<f32>, 4>;
  for (var k = 0u; k < u.k; k += 4u) {
    let bk = load_b_block(b0, k, col);
    // ak[i] = op(A)[row0 + i, k .. k+3]; rows past M clamped, steps past K zero.
    var ak: array<vec4<f32>, 4>;
    if (A_T) {
      // A^T is contiguous along M: one load per step of K, transposed in registers.
      let m = min(row0, u.m - 1u);
      var s: array<vec4<f32>, 4>;
      for (var j = 0u; j < 4u; j++) {
        if (k_live(k, j)) { s[j] = a4(a0 + a_index(m, k + j), u.m - m); }
      }
      ak[0] = vec4(s[0].x, s[1].x, s[2].x, s[3].x);
      ak[1] = vec4(s[0].y, s[1].y, s[2].y, s[3].y);
      ak[2] = vec4(s[0].z, s[1].z, s[2].z, s[3].z);
      ak[3] = vec4(s[0].w, s[1].w, s[2].w, s[3].w);
    } else {
      for (var i = 0u; i < 4u; i++) {
        let m = min(row0 + i, u.m - 1u);
        ak[i] = a4(a0 + a_index(m, k), u.k - k);
      }
    }
    for (var i = 0u; i < 4u; i++) {
      acc[i] = fma(vec4(ak[i].x), bk[0], acc[i]);
      acc[i] = fma(vec4(ak[i].y), bk[1], acc[i]);
      acc[i] = fma(vec4(ak[i].z), bk[2], acc[i]);
      acc[i] = fma(vec4(ak[i].w), bk[3], acc[i]);
    }
  }

  for (var i = 0u; i < 4u; i++) {
    let row = row0 + i;
    if (row < u.m) { store_c4((batch * u.m + row) * u.n, col, acc[i]); }
  }
}

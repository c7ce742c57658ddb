// C = op(A) op(B) the classic way for real GPUs: a workgroup of 16x16
// invocations computes a 64x64 tile of C, staging 16-deep slices of A and B
// through workgroup memory so each global element is read once per tile;
// each invocation accumulates a 4x4 block in registers. Any shapes (loads
// past an edge read 0). On software adapters barriers are slow and the
// blocked/subgroup kernels win.
//!include matmul_common.wgsl

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;

const TILE = 64u;
const DEPTH = 16u;

// Stored [k][m] and [k][n], so the inner loop reads along rows.
var<workgroup> a_tile: array<array<f32, TILE>, DEPTH>;
var<workgroup> b_tile: array<array<f32, TILE>, DEPTH>;

@compute @workgroup_size(16, 16)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) tid: u32,
) {
  let batch = u.batch_base + wg.z;
  let row0 = (u.row_block_base + wg.y) * TILE;
  let col0 = wg.x * TILE;
  let a0 = batch * u.a_batch_stride;
  let b0 = batch * u.b_batch_stride;

  // Invocation (x, y) owns rows y + 16i and columns x + 16j of the tile:
  // neighbours read neighbouring tile entries and write neighbouring columns.
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < u.k; k0 += DEPTH) {
    // 256 invocations stage 64x16 elements of each operand, 4 each. Which
    // index varies fastest between neighbours follows the operand's
    // contiguous axis, so global reads coalesce in either layout.
    for (var e = tid; e < TILE * DEPTH; e += 256u) {
      var m: u32;
      var ka: u32;
      if (A_T) { m = e % TILE; ka = e / TILE; } else { ka = e % DEPTH; m = e / DEPTH; }
      var va = 0.0;
      if (row0 + m < u.m && k0 + ka < u.k) { va = a[a0 + a_index(row0 + m, k0 + ka)]; }
      a_tile[ka][m] = va;

      var n: u32;
      var kb: u32;
      if (B_T) { kb = e % DEPTH; n = e / DEPTH; } else { n = e % TILE; kb = e / TILE; }
      var vb = 0.0;
      if (k0 + kb < u.k && col0 + n < u.n) { vb = b[b0 + b_index(k0 + kb, col0 + n)]; }
      b_tile[kb][n] = vb;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < DEPTH; kk++) {
      let av = vec4(a_tile[kk][lid.y], a_tile[kk][lid.y + 16u], a_tile[kk][lid.y + 32u], a_tile[kk][lid.y + 48u]);
      let bv = vec4(b_tile[kk][lid.x], b_tile[kk][lid.x + 16u], b_tile[kk][lid.x + 32u], b_tile[kk][lid.x + 48u]);
      acc[0] = fma(vec4(av.x), bv, acc[0]);
      acc[1] = fma(vec4(av.y), bv, acc[1]);
      acc[2] = fma(vec4(av.z), bv, acc[2]);
      acc[3] = fma(vec4(av.w), bv, acc[3]);
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let row = row0 + lid.y + 16u * i;
    if (row >= u.m) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + lid.x + 16u * j;
      if (col < u.n) { c[(batch * u.m + row) * u.n + col] = acc[i][j] + bias_at(col); }
    }
  }
}

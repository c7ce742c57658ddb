// C = op(A) op(B) for software adapters (lavapipe) with subgroups of 8.
//
// On llvmpipe a subgroup is one 8-lane SIMD thread: arithmetic across the
// lanes is cheap and `subgroupShuffle` is a single vpermd, but every storage
// load is a loop over the lanes with a bounds check per element, several
// times the cost of the fma it feeds. So the kernel is built around loads per
// fma. A subgroup owns a tile of 8 x ROW_GROUPS rows and 32 columns of C, each
// lane one vec4 of columns. Per 4-step of K a lane loads one 4x4 block of B
// (its columns) and, for each of the tile's groups of 8 rows, one vec4 of A
// (its own row of the group); shuffles then hand every lane's A values to the
// others, so no lane loads rows it does not own: with 64 rows, 64 x 4 steps x
// 4 columns = 1024 fma per lane for 12 vec4 loads. Measured on lavapipe
// (1024^3, interleaved A/B): 64 rows ~11% faster than 24 and 24 5-10% faster
// than 16 (96 rows slower again, 128 ~40% slower: the accumulators spill);
// 8 rows ~35% slower, and unrolling K by 8 ~45% slower (longer loop bodies
// spill and miss the instruction cache); subgroupBroadcast from constant
// lanes instead of shuffles, no faster.
enable subgroups;
//!include matmul_vec4.wgsl

// Groups of 8 rows per tile, 1 to 8: the host picks (engine/ops/matmul.ts,
// rowGroups) by how much of the last row block M would leave empty.
override ROW_GROUPS: u32 = 3u;

// acc[r] += op(A)[row r of the group, k .. k+3] x bk, for the 8 rows of one
// group. `held` is this lane's share of the group's A values, laid out as
// `load_a_group` returns them.
fn accumulate_group(acc: ptr<function, array<vec4<f32>, 8>>, held: vec4<f32>, bk: array<vec4<f32>, 4>) {
  if (A_T) {
    // Lane 4h + j holds op(A)[4h .. 4h+3, k + j].
    for (var h = 0u; h < 2u; h++) {
      let s0 = subgroupShuffle(held, 4u * h);
      let s1 = subgroupShuffle(held, 4u * h + 1u);
      let s2 = subgroupShuffle(held, 4u * h + 2u);
      let s3 = subgroupShuffle(held, 4u * h + 3u);
      for (var t = 0u; t < 4u; t++) {
        let r = 4u * h + t;
        (*acc)[r] = fma(vec4(s0[t]), bk[0], (*acc)[r]);
        (*acc)[r] = fma(vec4(s1[t]), bk[1], (*acc)[r]);
        (*acc)[r] = fma(vec4(s2[t]), bk[2], (*acc)[r]);
        (*acc)[r] = fma(vec4(s3[t]), bk[3], (*acc)[r]);
      }
    }
  } else {
    // Lane l holds op(A)[l, k .. k+3].
    for (var l = 0u; l < 8u; l++) {
      let x = subgroupShuffle(held, l);
      (*acc)[l] = fma(vec4(x.x), bk[0], (*acc)[l]);
      (*acc)[l] = fma(vec4(x.y), bk[1], (*acc)[l]);
      (*acc)[l] = fma(vec4(x.z), bk[2], (*acc)[l]);
      (*acc)[l] = fma(vec4(x.w), bk[3], (*acc)[l]);
    }
  }
}

// This lane's share of op(A)[first .. first+7, k .. k+3] (see
// accumulate_group). Rows past M are clamped (never stored); steps past K
// read as 0.
fn load_a_group(a0: u32, first: u32, k: u32, lane: u32) -> vec4<f32> {
  if (A_T) {
    // A^T is contiguous along M: lane 4h + j loads rows 4h .. 4h+3 at step j.
    let step = lane % 4u;
    let m = min(first + 4u * (lane / 4u), u.m - 1u);
    if (!k_live(k, step)) { return vec4(0.0); }
    return a4(a0 + a_index(m, k + step), u.m - m);
  }
  let m = min(first + lane, u.m - 1u);
  return a4(a0 + a_index(m, k), u.k - k);
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let batch = u.batch_base + wg.z;
  let row0 = (u.row_block_base + wg.y) * 8u * ROW_GROUPS;
  let col = (wg.x * 8u + lane) * 4u;
  let a0 = batch * u.a_batch_stride;
  let b0 = batch * u.b_batch_stride;

  // One accumulator array per group of 8 rows keeps every loop short enough
  // for the shader compiler to unroll (an array indexed by a loop counter it
  // did not unroll would live in memory: ~10x slower). Groups past
  // ROW_GROUPS are compiled out.
  var acc0: array<vec4<f32>, 8>;
  var acc1: array<vec4<f32>, 8>;
  var acc2: array<vec4<f32>, 8>;
  var acc3: array<vec4<f32>, 8>;
  var acc4: array<vec4<f32>, 8>;
  var acc5: array<vec4<f32>, 8>;
  var acc6: array<vec4<f32>, 8>;
  var acc7: array<vec4<f32>, 8>;
  for (var k = 0u; k < u.k; k += 4u) {
    // Every load of the step before any fma: on lavapipe each load is a loop
    // over the lanes with branches, which the compiler does not move past the
    // arithmetic, so loads interleaved with the groups' fmas ran ~10% slower
    // (1024^3, interleaved A/B).
    let bk = load_b_block(b0, k, col);
    var held: array<vec4<f32>, 8>;
    for (var g = 0u; g < ROW_GROUPS; g++) { held[g] = load_a_group(a0, row0 + 8u * g, k, lane); }
    accumulate_group(&acc0, held[0], bk);
    if (ROW_GROUPS > 1u) { accumulate_group(&acc1, held[1], bk); }
    if (ROW_GROUPS > 2u) { accumulate_group(&acc2, held[2], bk); }
    if (ROW_GROUPS > 3u) { accumulate_group(&acc3, held[3], bk); }
    if (ROW_GROUPS > 4u) { accumulate_group(&acc4, held[4], bk); }
    if (ROW_GROUPS > 5u) { accumulate_group(&acc5, held[5], bk); }
    if (ROW_GROUPS > 6u) { accumulate_group(&acc6, held[6], bk); }
    if (ROW_GROUPS > 7u) { accumulate_group(&acc7, held[7], bk); }
  }

  store_group(batch, row0, col, acc0);
  if (ROW_GROUPS > 1u) { store_group(batch, row0 + 8u, col, acc1); }
  if (ROW_GROUPS > 2u) { store_group(batch, row0 + 16u, col, acc2); }
  if (ROW_GROUPS > 3u) { store_group(batch, row0 + 24u, col, acc3); }
  if (ROW_GROUPS > 4u) { store_group(batch, row0 + 32u, col, acc4); }
  if (ROW_GROUPS > 5u) { store_group(batch, row0 + 40u, col, acc5); }
  if (ROW_GROUPS > 6u) { store_group(batch, row0 + 48u, col, acc6); }
  if (ROW_GROUPS > 7u) { store_group(batch, row0 + 56u, col, acc7); }
}

fn store_group(batch: u32, first: u32, col: u32, acc: array<vec4<f32>, 8>) {
  for (var r = 0u; r < 8u; r++) {
    let row = first + r;
    if (row < u.m) { store_c4((batch * u.m + row) * u.n, col, acc[r]); }
  }
}

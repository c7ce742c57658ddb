// Convolution as implicit GEMMs, register-blocked: the fast path, for any
// channel counts on adapters with subgroups (engine/ops/conv.ts decides).
//
// All three kernels share one tile shape. A lane group of 8 invocations
// computes 8 * ROW_GROUPS rows (forward: 24 or 64; grad_input: 24;
// grad_weight: 16) x 32 columns: each lane owns one vec4 column (4 channels)
// and a vec4 accumulator per row. The row operand is loaded once per lane
// group, spread over its lanes (each lane loads 4 values of one row per group
// of 8), and handed to every lane with subgroupShuffle; each lane loads only
// its own column operand. On the software adapter a load whose address
// differs between lanes costs a bounds check and a scalar load per lane and
// component, while a shuffle from a uniform lane is a register broadcast, so
// loads per FMA fall as rows grow. Measured on lavapipe (forward): 24 rows ran
// ~10-20% faster than 16 and 64 rows (in accumulator arrays of 8, see
// accumulate_group) 4-10% faster than 24. x is read as vec4s where channels
// allow (X_VEC4): one load per 4 channels instead of four.
// Workgroup-memory tiling, the usual GPU answer, is slow there (barriers are).
//
//            rows (shuffled)               columns (per lane)      reduction
// forward    output pixels                 output channels         ky, kx, ci
// grad_input input pixels of one phase     input channels          ky, kx, co
// grad_weight taps (ky, kx, ci)            output channels         output pixels
//
// A lane group must be 8 consecutive invocations of one subgroup. Workgroups
// are 8 x GROUPS lanes; LANE_GROUP_MASK is 0 when a subgroup is exactly one
// lane group (the software adapter, 8 lanes) and ~7 when it holds several
// (subgroup sizes 16..64, lanes assumed numbered in invocation order).
// Lanes past the last column or row keep computing (they feed the shuffles)
// with clamped indices and store nothing.
//
// Column operands are read as vec4s of channels. For forward and grad_input
// they are weights, their column channels padded with zeros to a multiple of 4
// per group where needed (the host packs them; weights are small), and rows and
// outputs are f32 arrays read and written per channel, so any channel count
// works. grad_weight's columns are gy itself, so it needs cout_g % 4 == 0 (the
// host uses the plain kernel otherwise).
//
// The outputs of forward (y) and grad_input (dx) are declared by the file
// that includes this body: conv2d_subgroup_f32.wgsl writes them a channel at
// a time (any channel count), conv2d_subgroup_vec4.wgsl a vec4 of channels at
// a time, for outputs whose every group's channels and whole rows are
// multiples of 4. On lavapipe a vec4 store is one loop over the lanes
// instead of four: the 1x1 conv N8 56x56 128->128 ran ~10% faster with it.
enable subgroups;

// ACT, the forward's fused activation (PReLU slopes in alpha), and activate():
//!include fused_activation.wgsl
override GROUPS: u32 = 1u;
override LANE_GROUP_MASK: u32 = 0u;

const LOADS = 3u; // rows each lane loads per step
const ROWS = 8u * LOADS; // rows per lane group
const COLS = 32u; // channels per lane group: a vec4 per lane

// How many of the 4 channels from `col` on exist in a group of `count`: 0..4.
fn lane_channels(col: u32, count: u32) -> u32 {
  return min(count - min(col, count), 4u);
}

// Row blocks can pass 65535 workgroups; they spill from y into z.
fn row_block(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
  return (wid.y + wid.z * nwg.y) * GROUPS + lid.y;
}

// acc[8h + l] += s.x * c0 + s.y * c1 + s.z * c2 + s.w * c3, s = lane l's rows[h]:
// row 8h + l of the tile times a 4-deep slice of this lane's column.
fn accumulate(acc: ptr<function, array<vec4<f32>, ROWS>>, rows: array<vec4<f32>, LOADS>, shuffle_base: u32, c0: vec4<f32>, c1: vec4<f32>, c2: vec4<f32>, c3: vec4<f32>) {
  for (var h = 0u; h < LOADS; h++) {
    for (var l = 0u; l < 8u; l++) {
      let s = subgroupShuffle(rows[h], shuffle_base + l);
      let r = 8u * h + l;
      (*acc)[r] = fma(vec4(s.w), c3, fma(vec4(s.z), c2, fma(vec4(s.y), c1, fma(vec4(s.x), c0, (*acc)[r]))));
    }
  }
}

// The forward's tile is ROW_GROUPS groups of 8 rows, each group with an
// accumulator array of its own: one array of more than 24 rows was not kept
// in registers by the shader compiler (32 rows ran ~3x slower), separate
// arrays of 8 are, and taller tiles load less per fma (conv 3x3 64->128
// interleaved on lavapipe: 24 rows 78-81 ms, 64 rows 74-75).
//
// acc[l] += s.x * c0 + s.y * c1 + s.z * c2 + s.w * c3, s = lane l's rows[g]:
// row 8g + l of the tile times a 4-deep slice of this lane's column. In the
// split tile (SPLIT) a column block of only 16 channels (the last one of 48,
// say), which would waste half a 32-wide tile, is shared: lanes 0-3 take its
// 16 columns for the upper ROW_GROUPS groups of rows and lanes 4-7 the same
// columns for the lower ones. Each lane then loads 2 * ROW_GROUPS rows; lane
// l's rows g and g + ROW_GROUPS go out in two shuffles and each half keeps
// its own.
fn accumulate_group(acc: ptr<function, array<vec4<f32>, 8>>, rows: array<vec4<f32>, MAX_ROW_LOADS>, g: u32, shuffle_base: u32, lower: bool, c0: vec4<f32>, c1: vec4<f32>, c2: vec4<f32>, c3: vec4<f32>) {
  for (var l = 0u; l < 8u; l++) {
    var s = subgroupShuffle(rows[g], shuffle_base + l);
    if (SPLIT) { s = select(s, subgroupShuffle(rows[g + ROW_GROUPS], shuffle_base + l), lower); }
    (*acc)[l] = fma(vec4(s.w), c3, fma(vec4(s.z), c2, fma(vec4(s.y), c1, fma(vec4(s.x), c0, (*acc)[l]))));
  }
}

// Stores accumulator group `acc` (tile rows first .. first + 7), activated.
fn store_group(acc: array<vec4<f32>, 8>, first: u32, npix: u32, co: u32, valid: u32, slopes: vec4<f32>) {
  for (var r = 0u; r < 8u; r++) {
    if (first + r < npix) { store_y((first + r) * fu.out_c + co, activate(acc[r], slopes), valid); }
  }
}

// ---- forward ----------------------------------------------------------------------
// y[p, co] = act(bias[co] + sum over ky, kx, c of x[p shifted by (ky, kx), g*cin_g + c] * w[ky, kx, c, co])

struct Forward {
  batch: u32, in_h: u32, in_w: u32, in_c: u32,
  out_h: u32, out_w: u32, out_c: u32, cin_g: u32,
  k_h: u32, k_w: u32, stride_y: u32, stride_x: u32,
  pad_y: i32, pad_x: i32, cout_g: u32, col_blocks: u32, // column blocks per group
  has_bias: u32, w_c4: u32, // vec4s per row of w: groups * ceil(cout_g / 4)
  alpha_last: u32, // prelu: alpha's last index (out_c - 1, or 0 for one shared slope)
  first_col_block: u32, // the column block of workgroup x = 0 (a SPLIT dispatch takes the last)
}
@group(0) @binding(0) var<uniform> fu: Forward;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>; // [kh, kw, cin_g, w_c4] (padded)
// Bound to w when has_bias is 0 (every binding needs a buffer; it is not read then).
@group(0) @binding(3) var<storage, read> bias: array<f32>;
// y: @binding(4), declared by the including file (see the top).
// PReLU slopes when ACT is 3; bound to w otherwise.
@group(0) @binding(5) var<storage, read> alpha: array<f32>;
// x again, as vec4s: read instead of x when X_VEC4 (every group's channels
// start and end on a multiple of 4), one load per 4 channels.
@group(0) @binding(6) var<storage, read> x4: array<vec4<f32>>;
override X_VEC4: bool = false;
// Groups of 8 rows in a tile (per half with SPLIT): 1..8, and at most 4 with
// SPLIT (a lane loads 2 * ROW_GROUPS rows then). engine/ops/conv.ts picks.
override ROW_GROUPS: u32 = 3u;
const MAX_ROW_LOADS = 8u;
// A tile of 16 columns in two halves of 8 * ROW_GROUPS rows (see
// accumulate_group) instead of 32 columns.
override SPLIT: bool = false;
// The kernel's size as pipeline constants, or 0 to read the uniforms' k_h
// and k_w. Constant, the tap loops unroll around the channel loop: lavapipe
// blends every value carried around a loop with its exec mask once per
// iteration, and a loop nested in others pays that per level. Measured
// (interleaved): conv 1x1 N8 56x56 128->128 18.0 against 19.2 ms, R-Net conv2
// 28->48 12.0 against 13.0, P-Net conv3 16->32 ~3% and conv 3x3 64->128 ~1.5%
// faster; 5x5 and 7x7 unchanged. Each constant size is a pipeline of its own
// (~2 s to compile cold on lavapipe), so the host fixes small kernels only.
override KH: u32 = 0u;
override KW: u32 = 0u;
// A 1x1 kernel, stride 1, no padding: output pixel p reads input pixel p, so
// the coordinate arithmetic and bounds tests go as well.
override POINTWISE: bool = false;

// Channels c..c+3 of x from `at` (channel 0 of the group at a pixel); channels
// at or past `count`, and everything when `inside` is false (padding), are 0.
fn x_channels(at: u32, c: u32, count: u32, inside: bool) -> vec4<f32> {
  let i = at + c;
  if (X_VEC4) { return select(vec4(0.0), x4[i / 4u], inside); }
  return vec4(
    select(0.0, x[i], inside),
    select(0.0, x[i + 1u], inside && c + 1u < count),
    select(0.0, x[i + 2u], inside && c + 2u < count),
    select(0.0, x[i + 3u], inside && c + 3u < count));
}

@compute @workgroup_size(8, GROUPS)
fn forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(subgroup_invocation_id) sg_lane: u32,
) {
  let lane = lid.x;
  let shuffle_base = sg_lane & LANE_GROUP_MASK;
  let g = wid.x / fu.col_blocks;
  // SPLIT: lanes 4-7 are the lower half, on the same columns as lanes 0-3.
  let lower = SPLIT && lane >= 4u;
  let col = (fu.first_col_block + wid.x % fu.col_blocks) * COLS + 4u * select(lane, lane % 4u, SPLIT);
  let wc4 = g * ((fu.cout_g + 3u) / 4u) + min(col, fu.cout_g - 1u) / 4u;
  let co = g * fu.cout_g + col;
  let valid = lane_channels(col, fu.cout_g);
  let npix = fu.batch * fu.out_h * fu.out_w;
  let half_rows = 8u * ROW_GROUPS;
  let loads = select(ROW_GROUPS, 2u * ROW_GROUPS, SPLIT);
  let tile0 = row_block(wid, nwg, lid) * 8u * loads;
  let p0 = tile0 + select(0u, half_rows, lower); // this lane's first row of C

  // The pixels whose input this lane loads: rows lane + 8h of the tile.
  var iy0: array<i32, MAX_ROW_LOADS>;
  var ix0: array<i32, MAX_ROW_LOADS>;
  var image: array<u32, MAX_ROW_LOADS>;
  for (var h = 0u; h < loads; h++) {
    let p = min(tile0 + lane + 8u * h, npix - 1u);
    if (POINTWISE) {
      image[h] = p * fu.in_c + g * fu.cin_g; // iy0, ix0 stay 0
    } else {
      // Two divisions, not three: on a CPU adapter each is a scalar divide per lane.
      let line = p / fu.out_w; // n * out_h + oy
      let ox = p - line * fu.out_w;
      let n = line / fu.out_h;
      let oy = line - n * fu.out_h;
      iy0[h] = i32(oy * fu.stride_y) - fu.pad_y;
      ix0[h] = i32(ox * fu.stride_x) - fu.pad_x;
      image[h] = n * fu.in_h * fu.in_w * fu.in_c + g * fu.cin_g;
    }
  }

  // Groups past ROW_GROUPS are compiled out.
  var acc0: array<vec4<f32>, 8>;
  var acc1: array<vec4<f32>, 8>;
  var acc2: array<vec4<f32>, 8>;
  var acc3: array<vec4<f32>, 8>;
  var acc4: array<vec4<f32>, 8>;
  var acc5: array<vec4<f32>, 8>;
  var acc6: array<vec4<f32>, 8>;
  var acc7: array<vec4<f32>, 8>;
  var b = vec4(0.0);
  for (var j = 0u; j < 4u; j++) { b[j] = select(0.0, bias[co + j], fu.has_bias != 0u && j < valid); }
  for (var r = 0u; r < 8u; r++) {
    acc0[r] = b; acc1[r] = b; acc2[r] = b; acc3[r] = b;
    acc4[r] = b; acc5[r] = b; acc6[r] = b; acc7[r] = b;
  }

  let last_c = fu.cin_g - 1u;
  let k_h = select(fu.k_h, KH, KH > 0u);
  let k_w = select(fu.k_w, KW, KW > 0u);
  for (var ky = 0u; ky < k_h; ky++) {
    for (var kx = 0u; kx < k_w; kx++) {
      var at: array<u32, MAX_ROW_LOADS>;
      var inside: array<bool, MAX_ROW_LOADS>;
      for (var h = 0u; h < loads; h++) {
        if (POINTWISE) { at[h] = image[h]; inside[h] = true; continue; }
        let iy = iy0[h] + i32(ky);
        let ix = ix0[h] + i32(kx);
        inside[h] = iy >= 0 && iy < i32(fu.in_h) && ix >= 0 && ix < i32(fu.in_w);
        at[h] = select(0u, image[h] + (u32(iy) * fu.in_w + u32(ix)) * fu.in_c, inside[h]);
      }
      let tap = (ky * k_w + kx) * fu.cin_g;
      for (var c = 0u; c < fu.cin_g; c += 4u) {
        // Every load of the step before any fma (see matmul_subgroup.wgsl).
        // Past the last channel x reads 0, so any finite weight will do: repeat the last.
        let c0 = w[(tap + c) * fu.w_c4 + wc4];
        let c1 = w[(tap + min(c + 1u, last_c)) * fu.w_c4 + wc4];
        let c2 = w[(tap + min(c + 2u, last_c)) * fu.w_c4 + wc4];
        let c3 = w[(tap + min(c + 3u, last_c)) * fu.w_c4 + wc4];
        var rows: array<vec4<f32>, MAX_ROW_LOADS>;
        for (var h = 0u; h < loads; h++) { rows[h] = x_channels(at[h], c, fu.cin_g, inside[h]); }
        accumulate_group(&acc0, rows, 0u, shuffle_base, lower, c0, c1, c2, c3);
        if (ROW_GROUPS > 1u) { accumulate_group(&acc1, rows, 1u, shuffle_base, lower, c0, c1, c2, c3); }
        if (ROW_GROUPS > 2u) { accumulate_group(&acc2, rows, 2u, shuffle_base, lower, c0, c1, c2, c3); }
        if (ROW_GROUPS > 3u) { accumulate_group(&acc3, rows, 3u, shuffle_base, lower, c0, c1, c2, c3); }
        if (ROW_GROUPS > 4u) { accumulate_group(&acc4, rows, 4u, shuffle_base, lower, c0, c1, c2, c3); }
        if (ROW_GROUPS > 5u) { accumulate_group(&acc5, rows, 5u, shuffle_base, lower, c0, c1, c2, c3); }
        if (ROW_GROUPS > 6u) { accumulate_group(&acc6, rows, 6u, shuffle_base, lower, c0, c1, c2, c3); }
        if (ROW_GROUPS > 7u) { accumulate_group(&acc7, rows, 7u, shuffle_base, lower, c0, c1, c2, c3); }
      }
    }
  }

  var slopes = vec4(0.0);
  if (ACT == 3u) {
    for (var j = 0u; j < 4u; j++) { slopes[j] = alpha[min(co + j, fu.alpha_last)]; }
  }
  store_group(acc0, p0, npix, co, valid, slopes);
  if (ROW_GROUPS > 1u) { store_group(acc1, p0 + 8u, npix, co, valid, slopes); }
  if (ROW_GROUPS > 2u) { store_group(acc2, p0 + 16u, npix, co, valid, slopes); }
  if (ROW_GROUPS > 3u) { store_group(acc3, p0 + 24u, npix, co, valid, slopes); }
  if (ROW_GROUPS > 4u) { store_group(acc4, p0 + 32u, npix, co, valid, slopes); }
  if (ROW_GROUPS > 5u) { store_group(acc5, p0 + 40u, npix, co, valid, slopes); }
  if (ROW_GROUPS > 6u) { store_group(acc6, p0 + 48u, npix, co, valid, slopes); }
  if (ROW_GROUPS > 7u) { store_group(acc7, p0 + 56u, npix, co, valid, slopes); }
}

// ---- gradient of the input --------------------------------------------------------
// dx[n, iy, ix, ci] = sum over ky, kx, co of gy[n, oy, ox, co] * w[ky, kx, ci, co]
// where iy = oy*sy - pad_y + ky (and likewise x): a gather, no atomics. With a
// stride, input row iy is reached only by taps ky = iy + pad_y (mod sy), and
// likewise for x, so the pixels are split into sy*sx phases of equal
// (iy mod sy, ix mod sx), one dispatch each; within a phase every lane runs
// the same taps. wt is w transposed per group to [kh, kw, cout_g, wt_c4] vec4s,
// input channels padded to a multiple of 4 per group, so a lane's 4 input
// channels are one vec4.

struct GradInput {
  batch: u32, in_h: u32, in_w: u32, in_c: u32,
  out_h: u32, out_w: u32, out_c: u32, cin_g: u32,
  k_h: u32, k_w: u32, stride_y: u32, stride_x: u32,
  pad_y: i32, pad_x: i32, cout_g: u32, col_blocks: u32,
  // This dispatch's phase: input rows phase_y + a*sy for a < phase_h, likewise x.
  phase_y: u32, phase_x: u32, phase_h: u32, phase_w: u32,
  wt_c4: u32, // vec4s per row of wt: groups * ceil(cin_g / 4)
}
@group(0) @binding(0) var<uniform> iu: GradInput;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<vec4<f32>>;
// dx: @binding(3), declared by the including file (see the top).

fn gy_channels(at: u32, c: u32, count: u32, inside: bool) -> vec4<f32> {
  let i = at + c;
  return vec4(
    select(0.0, gy[i], inside),
    select(0.0, gy[i + 1u], inside && c + 1u < count),
    select(0.0, gy[i + 2u], inside && c + 2u < count),
    select(0.0, gy[i + 3u], inside && c + 3u < count));
}

@compute @workgroup_size(8, GROUPS)
fn grad_input(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(subgroup_invocation_id) sg_lane: u32,
) {
  let lane = lid.x;
  let shuffle_base = sg_lane & LANE_GROUP_MASK;
  let g = wid.x / iu.col_blocks;
  let col = (wid.x % iu.col_blocks) * COLS + 4u * lane;
  let wc4 = g * ((iu.cin_g + 3u) / 4u) + min(col, iu.cin_g - 1u) / 4u;
  let npix = iu.batch * iu.phase_h * iu.phase_w;
  let p0 = row_block(wid, nwg, lid) * ROWS;

  // Output row of tap ky for phase row a is a + (phase_y + pad_y - ky) / sy,
  // an exact division; the per-lane part (a, b) is found once here.
  var a: array<i32, LOADS>;
  var b: array<i32, LOADS>;
  var image: array<u32, LOADS>;
  for (var h = 0u; h < LOADS; h++) {
    let p = min(p0 + lane + 8u * h, npix - 1u);
    let line = p / iu.phase_w; // n * phase_h + a
    let n = line / iu.phase_h;
    b[h] = i32(p - line * iu.phase_w);
    a[h] = i32(line - n * iu.phase_h);
    image[h] = n * iu.out_h * iu.out_w * iu.out_c + g * iu.cout_g;
  }

  var acc: array<vec4<f32>, ROWS>;
  let sy = i32(iu.stride_y);
  let sx = i32(iu.stride_x);
  let last_c = iu.cout_g - 1u;
  for (var ky = (iu.phase_y + u32(iu.pad_y)) % iu.stride_y; ky < iu.k_h; ky += iu.stride_y) {
    let dy = (i32(iu.phase_y) + iu.pad_y - i32(ky)) / sy;
    for (var kx = (iu.phase_x + u32(iu.pad_x)) % iu.stride_x; kx < iu.k_w; kx += iu.stride_x) {
      let dxo = (i32(iu.phase_x) + iu.pad_x - i32(kx)) / sx;
      var at: array<u32, LOADS>;
      var inside: array<bool, LOADS>;
      for (var h = 0u; h < LOADS; h++) {
        let oy = a[h] + dy;
        let ox = b[h] + dxo;
        inside[h] = oy >= 0 && oy < i32(iu.out_h) && ox >= 0 && ox < i32(iu.out_w);
        at[h] = select(0u, image[h] + (u32(oy) * iu.out_w + u32(ox)) * iu.out_c, inside[h]);
      }
      let tap = (ky * iu.k_w + kx) * iu.cout_g;
      for (var c = 0u; c < iu.cout_g; c += 4u) {
        var rows: array<vec4<f32>, LOADS>;
        for (var h = 0u; h < LOADS; h++) { rows[h] = gy_channels(at[h], c, iu.cout_g, inside[h]); }
        accumulate(&acc, rows, shuffle_base,
          wt[(tap + c) * iu.wt_c4 + wc4],
          wt[(tap + min(c + 1u, last_c)) * iu.wt_c4 + wc4],
          wt[(tap + min(c + 2u, last_c)) * iu.wt_c4 + wc4],
          wt[(tap + min(c + 3u, last_c)) * iu.wt_c4 + wc4]);
      }
    }
  }

  let valid = lane_channels(col, iu.cin_g);
  for (var r = 0u; r < ROWS; r++) {
    let p = p0 + r;
    if (p < npix && valid > 0u) {
      let n = p / (iu.phase_w * iu.phase_h);
      let iy = iu.phase_y + ((p / iu.phase_w) % iu.phase_h) * iu.stride_y;
      let ix = iu.phase_x + (p % iu.phase_w) * iu.stride_x;
      let at = ((n * iu.in_h + iy) * iu.in_w + ix) * iu.in_c + g * iu.cin_g + col;
      store_dx(at, acc[r], valid);
    }
  }
}

// ---- gradient of the weights -----------------------------------------------------
// dw[ky, kx, c, co] = sum over output pixels of x[pixel shifted by (ky, kx), g*cin_g + c] * gy[pixel, co]
// Rows are the taps r = (ky*kw + kx)*cin_g + c, which is also dw's row index.
// Each step covers two pixels: lanes 0-3 load 4 taps each of pixel q (16 taps),
// lanes 4-7 the same taps of pixel q+1. A workgroup sums one chunk of output
// rows (n, oy) into its own slice of `partial`; the host adds the chunks.

struct GradWeight {
  batch: u32, in_h: u32, in_w: u32, in_c: u32,
  out_h: u32, out_w: u32, out_c: u32, cin_g: u32,
  k_h: u32, k_w: u32, stride_y: u32, stride_x: u32,
  pad_y: i32, pad_x: i32, cout_g: u32, col_blocks: u32,
  lines_per_chunk: u32, // output lines (n, oy) summed by one workgroup
}
@group(0) @binding(0) var<uniform> wu: GradWeight;
@group(0) @binding(1) var<storage, read> xin: array<f32>;
@group(0) @binding(2) var<storage, read> gout: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> partial: array<vec4<f32>>; // [chunks, kh*kw*cin_g, Cout / 4]

const TAPS = 16u; // rows per lane group

@compute @workgroup_size(8, GROUPS)
fn grad_weight(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(subgroup_invocation_id) sg_lane: u32,
) {
  let lane = lid.x;
  let shuffle_base = sg_lane & LANE_GROUP_MASK;
  let g = wid.x / wu.col_blocks;
  let col = (wid.x % wu.col_blocks) * COLS + 4u * lane;
  let co4 = (g * wu.cout_g + min(col, wu.cout_g - 4u)) / 4u;
  let out_c4 = wu.out_c / 4u;
  let taps = wu.k_h * wu.k_w * wu.cin_g;
  let r0 = (wid.y * GROUPS + lid.y) * TAPS;
  let chunk = wid.z;

  // This lane's 4 taps and which of the step's two pixels it loads.
  let half = lane / 4u;
  var ky: array<i32, 4>;
  var kx: array<i32, 4>;
  var chan: array<u32, 4>;
  var real: array<bool, 4>;
  for (var j = 0u; j < 4u; j++) {
    let r = r0 + 4u * (lane % 4u) + j;
    real[j] = r < taps;
    let rc = min(r, taps - 1u);
    chan[j] = g * wu.cin_g + rc % wu.cin_g;
    kx[j] = i32((rc / wu.cin_g) % wu.k_w);
    ky[j] = i32(rc / (wu.cin_g * wu.k_w));
  }

  var acc: array<vec4<f32>, TAPS>;
  let lines = wu.batch * wu.out_h;
  let line_end = min((chunk + 1u) * wu.lines_per_chunk, lines);
  for (var line = chunk * wu.lines_per_chunk; line < line_end; line++) {
    let n = line / wu.out_h;
    let oy = line % wu.out_h;
    // Per tap: the input row it reads on this line, or none.
    var at: array<u32, 4>;
    var row_ok: array<bool, 4>;
    for (var j = 0u; j < 4u; j++) {
      let iy = i32(oy * wu.stride_y) - wu.pad_y + ky[j];
      row_ok[j] = real[j] && iy >= 0 && iy < i32(wu.in_h);
      at[j] = (n * wu.in_h + u32(max(iy, 0))) * wu.in_w * wu.in_c + chan[j];
    }
    let gy_line = line * wu.out_w;
    for (var ox = 0u; ox < wu.out_w; ox += 2u) {
      let q = ox + half; // this lane's pixel
      var v = vec4(0.0);
      for (var j = 0u; j < 4u; j++) {
        let ix = i32(q * wu.stride_x) - wu.pad_x + kx[j];
        let ok = row_ok[j] && q < wu.out_w && ix >= 0 && ix < i32(wu.in_w);
        v[j] = select(0.0, xin[at[j] + u32(max(ix, 0)) * wu.in_c], ok);
      }
      let g0 = gout[(gy_line + ox) * out_c4 + co4];
      let g1 = select(vec4(0.0), gout[(gy_line + min(ox + 1u, wu.out_w - 1u)) * out_c4 + co4], ox + 1u < wu.out_w);
      for (var l = 0u; l < 4u; l++) {
        let s0 = subgroupShuffle(v, shuffle_base + l);
        let s1 = subgroupShuffle(v, shuffle_base + 4u + l);
        acc[4u * l] = fma(vec4(s1.x), g1, fma(vec4(s0.x), g0, acc[4u * l]));
        acc[4u * l + 1u] = fma(vec4(s1.y), g1, fma(vec4(s0.y), g0, acc[4u * l + 1u]));
        acc[4u * l + 2u] = fma(vec4(s1.z), g1, fma(vec4(s0.z), g0, acc[4u * l + 2u]));
        acc[4u * l + 3u] = fma(vec4(s1.w), g1, fma(vec4(s0.w), g0, acc[4u * l + 3u]));
      }
    }
  }

  if (col < wu.cout_g) {
    for (var r = 0u; r < TAPS; r++) {
      if (r0 + r < taps) { partial[(chunk * taps + r0 + r) * out_c4 + co4] = acc[r]; }
    }
  }
}

// Direct convolution for few channels (MTCNN's P-Net 3->10 and 10->16, the
// first layers of R-Net and O-Net, 1x1 heads with a handful of outputs): no
// GEMM tile to fill, so nothing is wasted when Cin or Cout is far below the
// 24-64 x 32 tiles of conv2d_subgroup_body.wgsl. Groups of 1 only (engine/ops/conv.ts
// decides).
//
// A thread computes OX neighbouring outputs along x times NV vec4s of output
// channels (4*NV channels), all in registers. For each kernel row and input
// channel it loads the (OX-1)*SX + KW input values its outputs cover once, and
// each weight vec4 once; a weight's address depends only on loop counters and
// the workgroup's channel block (workgroup_id.y), so every lane of a workgroup
// reads the same weights: a broadcast on the software adapter, a cached
// uniform read on GPUs. Bias and the activation (none, relu, relu6, or PReLU
// with a slope per channel) are applied before the store.
//
// With POOL = 2 a 2x2 stride-2 max pool of the activated outputs follows in
// the same pass (MTCNN P-Net's conv1 -> PReLU -> pool): a thread computes its
// OX outputs in conv rows 2py and 2py + 1 one after the other, folds them
// into OX / 2 pooled values and stores only those: a quarter of the stores,
// and no pooling pass reading the conv output back. Windows past the conv
// output's edge (ceil mode) take the maximum of the outputs they cover.
//
// With POOL = 3 a 3x3 stride-2 max pool follows (R-Net's and O-Net's first
// layers). Windows overlap, so a thread owns a column strip of (OX - 1) / 2
// pooled outputs, walks down the whole image and computes each conv row of
// its strip once: the OX = 2 * pooled + 1 columns it covers (one shared with
// the next strip), keeping the horizontal maxima of the row that the next
// pooled row shares.
//
// w is the conv weight itself, [kh, kw, cin, out_c] f32; a vec4 of output
// channels past out_c reads zeros there.
//
// Included by conv2d_direct_plain.wgsl (weights read straight from w: GPUs,
// where a uniform address is one cached read) and conv2d_direct_subgroup.wgsl
// (software adapters, where a load inside a loop costs a scalar load per lane
// even at a uniform address: the lanes of a subgroup load different weights
// and broadcast them with subgroupShuffle). Each defines
//   fn load_slots(first: u32, v0: u32, lane: u32) -> array<vec4<f32>, 4>
// and fn weight(slots: array<vec4<f32>, 4>, first: u32, v0: u32, k: u32) -> vec4<f32>
// giving weight vec4 k (k < KW * NV) of a kernel row and input channel:
// weight_vec4(first, v0, k) below.

// ACT, the forward's fused activation (PReLU slopes in alpha), and activate():
//!include fused_activation.wgsl
override OX: u32 = 4u; // outputs along x per thread
override NV: u32 = 4u; // vec4s of output channels per thread
override KW: u32 = 3u; // kernel width
// Kernel height. A pipeline constant, not a uniform, so the tap-row loop
// unrolls around the channel loop: on lavapipe P-Net's conv2 10->16 ran ~10%
// faster, its conv1 ~5% and R-Net's conv1 ~3% (interleaved runs).
override KH: u32 = 3u;
override SX: u32 = 1u; // stride along x
override POOL: u32 = 1u; // 1: no pooling; 2: a fused 2x2 stride-2 max pool (OX even); 3: 3x3 stride 2 (OX odd)

// Register arrays are sized for the largest thread tile the host asks for:
// OX <= MAX_OX, NV <= 4 and (OX - 1) * SX + KW <= MAX_SPAN. Each channel vec4
// has an accumulator array of its own (acc0..acc3) and every loop that indexes
// a register array runs a compile-time count no longer than MAX_SPAN, so the
// shader compiler unrolls them all and the arrays stay in registers (one
// array indexed by o * NV + q, as before, left the q loop rolled on lavapipe
// and the accumulators in memory: 2-4x slower).
const MAX_OX = 8u;
const MAX_SPAN = 16u;
const MAX_KW = 8u; // KW <= MAX_KW
const WG = 64u;

struct Direct {
  batch: u32, in_h: u32, in_w: u32, in_c: u32,
  out_h: u32, out_w: u32, out_c: u32,
  stride_y: u32, pad_y: i32, pad_x: i32, c4: u32, // vec4s of output channels: ceil(out_c / 4)
  x_blocks: u32, // ceil(out_w / OX)
  has_bias: u32,
  alpha_last: u32, // alpha's last index: out_c - 1, or 0 for one shared slope
  pool_h: u32, pool_w: u32, // the stored image: the pooled size with POOL = 2, else out_h, out_w
}
@group(0) @binding(0) var<uniform> du: Direct;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
// Bound to w when unused (every binding needs a buffer).
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> alpha: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

// Channels 4v..4v+3 of the bias, 0 past out_c.
fn bias_vec4(v: u32) -> vec4<f32> {
  var r = vec4(0.0);
  for (var j = 0u; j < 4u; j++) {
    r[j] = select(0.0, bias[min(4u * v + j, du.out_c - 1u)], 4u * v + j < du.out_c);
  }
  return r;
}

// The PReLU slopes of channels 4v..4v+3.
fn alpha_vec4(v: u32) -> vec4<f32> {
  var r = vec4(0.0);
  for (var j = 0u; j < 4u; j++) { r[j] = alpha[min(4u * v + j, du.alpha_last)]; }
  return r;
}

// Output channels 4v..4v+3 (v = v0 + k % NV, clamped to the last vec4) of
// kernel column k / NV, from `first`, the row of (ky, kx = 0, ci) in w.
fn weight_vec4(first: u32, v0: u32, k: u32) -> vec4<f32> {
  let at = first + (k / NV) * du.in_c * du.out_c;
  let c0 = 4u * min(v0 + k % NV, du.c4 - 1u);
  var r = vec4(0.0);
  for (var j = 0u; j < 4u; j++) { r[j] = select(0.0, w[at + min(c0 + j, du.out_c - 1u)], c0 + j < du.out_c); }
  return r;
}

// One input row's taps into the accumulators of channel vec4 q: the kernel
// row's KW weights, then each output's whole row of taps in one chain.
fn row_taps(acc: ptr<function, array<vec4<f32>, MAX_OX>>, v: array<f32, MAX_SPAN>, slots: array<vec4<f32>, 4>, first: u32, v0: u32, q: u32) {
  var wk: array<vec4<f32>, MAX_KW>;
  for (var kx = 0u; kx < KW; kx++) { wk[kx] = weight(slots, first, v0, kx * NV + q); }
  for (var o = 0u; o < OX; o++) {
    var a = (*acc)[o];
    for (var kx = 0u; kx < KW; kx++) { a = fma(vec4(v[o * SX + kx]), wk[kx], a); }
    (*acc)[o] = a;
  }
}

fn init_acc(acc: ptr<function, array<vec4<f32>, MAX_OX>>, v: u32) {
  var b = vec4(0.0);
  if (du.has_bias != 0u) { b = bias_vec4(min(v, du.c4 - 1u)); }
  for (var o = 0u; o < OX; o++) { (*acc)[o] = b; }
}

// The activated values of channel vec4 v of this thread's OX outputs.
fn activate_acc(acc: ptr<function, array<vec4<f32>, MAX_OX>>, v: u32) {
  var slope = vec4(0.0);
  if (ACT == 3u) { slope = alpha_vec4(min(v, du.c4 - 1u)); }
  for (var o = 0u; o < OX; o++) { (*acc)[o] = activate((*acc)[o], slope); }
}

// Stores channel vec4 v of `count` values from pixel pix0 on (a row of the stored image).
fn store_values(vals: array<vec4<f32>, MAX_OX>, count: u32, v: u32, pix0: u32) {
  for (var o = 0u; o < OX; o++) {
    if (o < count) {
      let at = (pix0 + o) * du.out_c;
      for (var j = 0u; j < 4u; j++) {
        let c = 4u * v + j;
        if (c < du.out_c) { y[at + c] = vals[o][j]; }
      }
    }
  }
}

// Folds OX activated outputs of one conv row into OX / 2 pooled maxima;
// outputs past the conv row's end (`count` of them are inside) are skipped.
fn pool_fold(pooled: ptr<function, array<vec4<f32>, MAX_OX>>, vals: array<vec4<f32>, MAX_OX>, count: u32) {
  for (var o = 0u; o < OX; o++) {
    if (o < count) { (*pooled)[o / 2u] = max((*pooled)[o / 2u], vals[o]); }
  }
}

// Accumulates conv output row oy of image n, outputs col0 .. col0 + OX - 1,
// channel vec4s v0 .. v0 + NV - 1, into acc0..acc3 (bias first).
fn conv_row(
  acc0: ptr<function, array<vec4<f32>, MAX_OX>>, acc1: ptr<function, array<vec4<f32>, MAX_OX>>,
  acc2: ptr<function, array<vec4<f32>, MAX_OX>>, acc3: ptr<function, array<vec4<f32>, MAX_OX>>,
  n: u32, oy: u32, col0: u32, v0: u32, lane: u32,
) {
  init_acc(acc0, v0);
  if (NV > 1u) { init_acc(acc1, v0 + 1u); }
  if (NV > 2u) { init_acc(acc2, v0 + 2u); }
  if (NV > 3u) { init_acc(acc3, v0 + 3u); }

  let span = (OX - 1u) * SX + KW;
  let ix0 = i32(col0 * SX) - du.pad_x;
  // Input columns this thread reads and whether each lies inside the image.
  var col_ok: array<bool, MAX_SPAN>;
  var col_at: array<u32, MAX_SPAN>;
  for (var j = 0u; j < span; j++) {
    let ix = ix0 + i32(j);
    col_ok[j] = ix >= 0 && ix < i32(du.in_w);
    col_at[j] = u32(max(ix, 0));
  }

  for (var ky = 0u; ky < KH; ky++) {
    let iy = i32(oy * du.stride_y) - du.pad_y + i32(ky);
    let row_ok = iy >= 0 && iy < i32(du.in_h);
    let row = (n * du.in_h + u32(max(iy, 0))) * du.in_w;
    for (var ci = 0u; ci < du.in_c; ci++) {
      var v: array<f32, MAX_SPAN>;
      for (var j = 0u; j < span; j++) {
        let ok = row_ok && col_ok[j];
        v[j] = select(0.0, x[select(0u, (row + col_at[j]) * du.in_c + ci, ok)], ok);
      }
      let tap_row = (ky * KW * du.in_c + ci) * du.out_c;
      let slots = load_slots(tap_row, v0, lane);
      row_taps(acc0, v, slots, tap_row, v0, 0u);
      if (NV > 1u) { row_taps(acc1, v, slots, tap_row, v0, 1u); }
      if (NV > 2u) { row_taps(acc2, v, slots, tap_row, v0, 2u); }
      if (NV > 3u) { row_taps(acc3, v, slots, tap_row, v0, 3u); }
    }
  }
  activate_acc(acc0, v0);
  if (NV > 1u) { activate_acc(acc1, v0 + 1u); }
  if (NV > 2u) { activate_acc(acc2, v0 + 2u); }
  if (NV > 3u) { activate_acc(acc3, v0 + 3u); }
}

fn direct_forward(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, lane: u32) {
  // Threads over (image, stored row, block of OX conv outputs); workgroups
  // past 65535 spill from x into z. y is the channel block.
  // (POOL = 3: one thread walks every row of its strip.)
  let rows = select(du.pool_h, 1u, POOL == 3u);
  let t = (wid.x + wid.z * nwg.x) * WG + lid;
  let total = du.batch * rows * du.x_blocks;
  let tc = min(t, total - 1u);
  let xb = tc % du.x_blocks;
  let ry = (tc / du.x_blocks) % rows;
  let n = tc / (du.x_blocks * rows);
  let v0 = wid.y * NV; // first vec4 of output channels
  // The block's first conv column, and how many of its conv outputs lie inside the conv row.
  let col0 = xb * select(OX, OX - 1u, POOL == 3u);
  let inside = min(du.out_w - min(col0, du.out_w), OX);

  var acc0: array<vec4<f32>, MAX_OX>;
  var acc1: array<vec4<f32>, MAX_OX>;
  var acc2: array<vec4<f32>, MAX_OX>;
  var acc3: array<vec4<f32>, MAX_OX>;
  // Every lane computes (the shuffles need the whole subgroup); lanes past
  // the end store nothing (count 0).
  let live = t < total;
  if (POOL == 1u) {
    conv_row(&acc0, &acc1, &acc2, &acc3, n, ry, col0, v0, lane);
    let count = select(0u, inside, live);
    let pix0 = (n * du.out_h + ry) * du.out_w + col0;
    store_values(acc0, count, v0, pix0);
    if (NV > 1u) { store_values(acc1, count, v0 + 1u, pix0); }
    if (NV > 2u) { store_values(acc2, count, v0 + 2u, pix0); }
    if (NV > 3u) { store_values(acc3, count, v0 + 3u, pix0); }
    return;
  }

  if (POOL == 3u) {
    pool3_strip(&acc0, &acc1, &acc2, &acc3, n, xb, col0, inside, v0, lane, live);
    return;
  }

  var pool0: array<vec4<f32>, MAX_OX>;
  var pool1: array<vec4<f32>, MAX_OX>;
  var pool2: array<vec4<f32>, MAX_OX>;
  var pool3: array<vec4<f32>, MAX_OX>;
  for (var o = 0u; o < OX / 2u; o++) {
    pool0[o] = vec4(-3.4e38);
    pool1[o] = vec4(-3.4e38);
    pool2[o] = vec4(-3.4e38);
    pool3[o] = vec4(-3.4e38);
  }
  for (var r = 0u; r < 2u; r++) {
    // A row past the conv output's end (the last pooled row, odd out_h) is
    // computed clamped and not folded: the subgroup's lanes must all reach
    // the shuffles in conv_row.
    let oy = 2u * ry + r;
    conv_row(&acc0, &acc1, &acc2, &acc3, n, min(oy, du.out_h - 1u), col0, v0, lane);
    let count = select(0u, inside, oy < du.out_h);
    pool_fold(&pool0, acc0, count);
    if (NV > 1u) { pool_fold(&pool1, acc1, count); }
    if (NV > 2u) { pool_fold(&pool2, acc2, count); }
    if (NV > 3u) { pool_fold(&pool3, acc3, count); }
  }
  // Pooled outputs of this block that exist: a window per two conv outputs,
  // the last one partial in ceil mode only (pool_w says which).
  let first_pooled = xb * (OX / 2u);
  let pooled = select(0u, min((inside + 1u) / 2u, du.pool_w - min(first_pooled, du.pool_w)), live);
  let pix0 = (n * du.pool_h + ry) * du.pool_w + first_pooled;
  store_values(pool0, pooled, v0, pix0);
  if (NV > 1u) { store_values(pool1, pooled, v0 + 1u, pix0); }
  if (NV > 2u) { store_values(pool2, pooled, v0 + 2u, pix0); }
  if (NV > 3u) { store_values(pool3, pooled, v0 + 3u, pix0); }
}

// ---- POOL = 3: a 3x3 stride-2 max pool, walking down a column strip -----------------

const LOWEST = -3.4e38;

// Horizontal 3-wide, stride-2 maxima of one activated conv row: out[p] =
// max(vals[2p], vals[2p + 1], vals[2p + 2]) over the `count` outputs inside
// the row; LOWEST where a window has none (rows past the end: count 0).
fn row_maxima(vals: array<vec4<f32>, MAX_OX>, count: u32) -> array<vec4<f32>, MAX_OX> {
  var out: array<vec4<f32>, MAX_OX>;
  for (var p = 0u; p < (OX - 1u) / 2u; p++) {
    var m = vec4(LOWEST);
    for (var j = 0u; j < 3u; j++) {
      if (2u * p + j < count) { m = max(m, vals[2u * p + j]); }
    }
    out[p] = m;
  }
  return out;
}

fn max3(a: array<vec4<f32>, MAX_OX>, b: array<vec4<f32>, MAX_OX>, c: array<vec4<f32>, MAX_OX>) -> array<vec4<f32>, MAX_OX> {
  var out: array<vec4<f32>, MAX_OX>;
  for (var p = 0u; p < (OX - 1u) / 2u; p++) { out[p] = max(a[p], max(b[p], c[p])); }
  return out;
}

// The horizontal maxima of acc0..acc3 (those of the NV in use) into m0..m3.
fn strip_maxima(
  acc0: ptr<function, array<vec4<f32>, MAX_OX>>, acc1: ptr<function, array<vec4<f32>, MAX_OX>>,
  acc2: ptr<function, array<vec4<f32>, MAX_OX>>, acc3: ptr<function, array<vec4<f32>, MAX_OX>>,
  m0: ptr<function, array<vec4<f32>, MAX_OX>>, m1: ptr<function, array<vec4<f32>, MAX_OX>>,
  m2: ptr<function, array<vec4<f32>, MAX_OX>>, m3: ptr<function, array<vec4<f32>, MAX_OX>>,
  count: u32,
) {
  *m0 = row_maxima(*acc0, count);
  if (NV > 1u) { *m1 = row_maxima(*acc1, count); }
  if (NV > 2u) { *m2 = row_maxima(*acc2, count); }
  if (NV > 3u) { *m3 = row_maxima(*acc3, count); }
}

fn pool3_strip(
  acc0: ptr<function, array<vec4<f32>, MAX_OX>>, acc1: ptr<function, array<vec4<f32>, MAX_OX>>,
  acc2: ptr<function, array<vec4<f32>, MAX_OX>>, acc3: ptr<function, array<vec4<f32>, MAX_OX>>,
  n: u32, xb: u32, col0: u32, inside: u32, v0: u32, lane: u32, live: bool,
) {
  let per = (OX - 1u) / 2u; // pooled outputs per strip
  let first = xb * per;
  let stored = select(0u, min(per, du.pool_w - min(first, du.pool_w)), live);
  // top: horizontal maxima of conv row 2py, shared with the pooled row
  // before; mid, low: of rows 2py + 1 and 2py + 2.
  var top0: array<vec4<f32>, MAX_OX>;
  var top1: array<vec4<f32>, MAX_OX>;
  var top2: array<vec4<f32>, MAX_OX>;
  var top3: array<vec4<f32>, MAX_OX>;
  var mid0: array<vec4<f32>, MAX_OX>;
  var mid1: array<vec4<f32>, MAX_OX>;
  var mid2: array<vec4<f32>, MAX_OX>;
  var mid3: array<vec4<f32>, MAX_OX>;
  var low0: array<vec4<f32>, MAX_OX>;
  var low1: array<vec4<f32>, MAX_OX>;
  var low2: array<vec4<f32>, MAX_OX>;
  var low3: array<vec4<f32>, MAX_OX>;
  conv_row(acc0, acc1, acc2, acc3, n, 0u, col0, v0, lane);
  strip_maxima(acc0, acc1, acc2, acc3, &top0, &top1, &top2, &top3, inside);
  for (var py = 0u; py < du.pool_h; py++) {
    // Rows past the conv output's end are computed clamped (every lane must
    // reach the shuffles in conv_row) and count nothing.
    let r1 = 2u * py + 1u;
    conv_row(acc0, acc1, acc2, acc3, n, min(r1, du.out_h - 1u), col0, v0, lane);
    strip_maxima(acc0, acc1, acc2, acc3, &mid0, &mid1, &mid2, &mid3, select(0u, inside, r1 < du.out_h));
    let r2 = r1 + 1u;
    conv_row(acc0, acc1, acc2, acc3, n, min(r2, du.out_h - 1u), col0, v0, lane);
    strip_maxima(acc0, acc1, acc2, acc3, &low0, &low1, &low2, &low3, select(0u, inside, r2 < du.out_h));
    let pix0 = (n * du.pool_h + py) * du.pool_w + first;
    store_values(max3(top0, mid0, low0), stored, v0, pix0);
    if (NV > 1u) { store_values(max3(top1, mid1, low1), stored, v0 + 1u, pix0); }
    if (NV > 2u) { store_values(max3(top2, mid2, low2), stored, v0 + 2u, pix0); }
    if (NV > 3u) { store_values(max3(top3, mid3, low3), stored, v0 + 3u, pix0); }
    top0 = low0;
    top1 = low1;
    top2 = low2;
    top3 = low3;
  }
}

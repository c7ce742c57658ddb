// Depthwise convolution (channel multiplier 1): output channel c sees only
// input channel c through its own kh x kw filter. x [N, H, W, C], w [kh, kw, C],
// y [N, Ho, Wo, C].
//
// Written once for an element type `Elem`: f32 (one channel per thread) or
// vec4<f32> (four neighbouring channels per thread, for C % 4 == 0). Compile it
// through depthwise_f32.wgsl or depthwise_vec4.wgsl, which define the alias.
// `chans` counts Elems per pixel (C / lanes). Each channel needs only kh*kw
// multiply-adds per output, so these kernels are bound by loads, not FMAs. The
// plain ones take one output (or weight tap) per thread; the *_rows ones load
// each input column once for ROW_OUT neighbouring outputs along x, and
// grad_weight_strip keeps a 3x3 window's rows in registers down a strip of lines.
//!include common.wgsl

override ACT: u32 = 0u; // forward's fused activation: 0 none, 1 relu, 2 relu6
const WG = 64u;

struct Depthwise {
  batch: u32, in_h: u32, in_w: u32, chans: u32,
  out_h: u32, out_w: u32, k_h: u32, k_w: u32,
  stride_y: u32, stride_x: u32, pad_y: i32, pad_x: i32,
  has_bias: u32,
  strip_lines: u32, // output lines per thread of the *_strip kernels (0 for the others)
}

// ---- forward --------------------------------------------------------------------------

@group(0) @binding(0) var<uniform> fu: Depthwise;
@group(0) @binding(1) var<storage, read> x: array<Elem>;
@group(0) @binding(2) var<storage, read> w: array<Elem>;
// Bound to w when has_bias is 0 (every binding needs a buffer; it is not read then).
@group(0) @binding(3) var<storage, read> bias: array<Elem>;
@group(0) @binding(4) var<storage, read_write> y: array<Elem>;

fn activate(v: Elem) -> Elem {
  switch ACT {
    case 1u: { return max(v, Elem(0.0)); }
    case 2u: { return clamp(v, Elem(0.0), Elem(6.0)); }
    default: { return v; }
  }
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, WG);
  if (i >= fu.batch * fu.out_h * fu.out_w * fu.chans) { return; }
  let c = i % fu.chans;
  let ox = (i / fu.chans) % fu.out_w;
  let oy = (i / (fu.chans * fu.out_w)) % fu.out_h;
  let n = i / (fu.chans * fu.out_w * fu.out_h);
  var acc = select(Elem(0.0), bias[c], fu.has_bias != 0u);
  for (var ky = 0u; ky < fu.k_h; ky++) {
    let iy = i32(oy * fu.stride_y) - fu.pad_y + i32(ky);
    if (iy < 0 || iy >= i32(fu.in_h)) { continue; }
    for (var kx = 0u; kx < fu.k_w; kx++) {
      let ix = i32(ox * fu.stride_x) - fu.pad_x + i32(kx);
      if (ix < 0 || ix >= i32(fu.in_w)) { continue; }
      acc = fma(x[((n * fu.in_h + u32(iy)) * fu.in_w + u32(ix)) * fu.chans + c], w[(ky * fu.k_w + kx) * fu.chans + c], acc);
    }
  }
  y[i] = activate(acc);
}

// The same, ROW_OUT neighbouring outputs along x per thread: each input column
// of the window is loaded once and feeds every output it touches, and each
// weight once per row instead of once per output, which more than halves the
// loads. The kernel width and x stride are compile-time (overrides), so the
// window's indexing unrolls into registers; KW <= MAX_KW.
override KW: u32 = 3u;
override SX: u32 = 1u;
const ROW_OUT = 4u;
const MAX_KW = 7u;

@compute @workgroup_size(WG)
fn forward_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, WG);
  let blocks = (fu.out_w + ROW_OUT - 1u) / ROW_OUT;
  if (t >= fu.batch * fu.out_h * blocks * fu.chans) { return; }
  let c = t % fu.chans;
  let ox0 = ((t / fu.chans) % blocks) * ROW_OUT;
  let line = t / (fu.chans * blocks); // n * out_h + oy
  let oy = line % fu.out_h;
  let n = line / fu.out_h;
  let ix0 = i32(ox0 * SX) - fu.pad_x;
  var acc: array<Elem, ROW_OUT>;
  let b = select(Elem(0.0), bias[c], fu.has_bias != 0u);
  for (var r = 0u; r < ROW_OUT; r++) { acc[r] = b; }
  for (var ky = 0u; ky < fu.k_h; ky++) {
    let iy = i32(oy * fu.stride_y) - fu.pad_y + i32(ky);
    if (iy < 0 || iy >= i32(fu.in_h)) { continue; }
    var wrow: array<Elem, MAX_KW>;
    for (var kx = 0u; kx < KW; kx++) { wrow[kx] = w[(ky * KW + kx) * fu.chans + c]; }
    let x_line = (n * fu.in_h + u32(iy)) * fu.in_w;
    for (var j = 0u; j < (ROW_OUT - 1u) * SX + KW; j++) {
      let ix = ix0 + i32(j);
      let xv = select(Elem(0.0), x[(x_line + u32(max(ix, 0))) * fu.chans + c], ix >= 0 && ix < i32(fu.in_w));
      for (var r = 0u; r < ROW_OUT; r++) {
        let kx = j - r * SX; // wraps past KW when j < r * SX
        if (kx < KW) { acc[r] = fma(xv, wrow[kx], acc[r]); }
      }
    }
  }
  for (var r = 0u; r < ROW_OUT; r++) {
    if (ox0 + r < fu.out_w) { y[(line * fu.out_w + ox0 + r) * fu.chans + c] = activate(acc[r]); }
  }
}

// The same for 3x3 kernels, 4 outputs along x (forward_3x3_strip, stride 1;
// forward_3x3_s2_strip, stride 2) or 8 (forward_3x3_strip_wide, stride 1) by
// strip_lines output lines per thread: walking down its strip, a thread loads
// each input row of its window once (outputs + 2 values at stride 1) and adds
// it into the three output lines it feeds, kept as running partial sums, so every input value is loaded
// about once for the whole 3x3 window, and the nine taps once per thread. The
// window's indices are all constants (no arrays indexed at run time), which
// software adapters need to keep them in registers.

// x at (n, iy, ix, c), 0 outside the image.
fn dw_at(line: u32, y_ok: bool, ix: i32, c: u32) -> Elem {
  let ok = y_ok && ix >= 0 && ix < i32(fu.in_w);
  return select(Elem(0.0), x[(line + u32(clamp(ix, 0, i32(fu.in_w) - 1))) * fu.chans + c], ok);
}

// Input row iy, columns ix0 .. ix0 + 5 (dw_row), ix0 .. ix0 + 9 (dw_row_wide)
// or ix0 .. ix0 + 8 (dw_row2, stride 2).
fn dw_row(n: u32, iy: i32, ix0: i32, c: u32) -> array<Elem, 6> {
  let y_ok = iy >= 0 && iy < i32(fu.in_h);
  let line = (n * fu.in_h + u32(clamp(iy, 0, i32(fu.in_h) - 1))) * fu.in_w;
  return array<Elem, 6>(dw_at(line, y_ok, ix0, c), dw_at(line, y_ok, ix0 + 1, c), dw_at(line, y_ok, ix0 + 2, c),
                        dw_at(line, y_ok, ix0 + 3, c), dw_at(line, y_ok, ix0 + 4, c), dw_at(line, y_ok, ix0 + 5, c));
}

fn dw_row_wide(n: u32, iy: i32, ix0: i32, c: u32) -> array<Elem, 10> {
  let y_ok = iy >= 0 && iy < i32(fu.in_h);
  let line = (n * fu.in_h + u32(clamp(iy, 0, i32(fu.in_h) - 1))) * fu.in_w;
  return array<Elem, 10>(dw_at(line, y_ok, ix0, c), dw_at(line, y_ok, ix0 + 1, c), dw_at(line, y_ok, ix0 + 2, c),
                         dw_at(line, y_ok, ix0 + 3, c), dw_at(line, y_ok, ix0 + 4, c), dw_at(line, y_ok, ix0 + 5, c),
                         dw_at(line, y_ok, ix0 + 6, c), dw_at(line, y_ok, ix0 + 7, c), dw_at(line, y_ok, ix0 + 8, c),
                         dw_at(line, y_ok, ix0 + 9, c));
}

fn dw_row2(n: u32, iy: i32, ix0: i32, c: u32) -> array<Elem, 9> {
  let y_ok = iy >= 0 && iy < i32(fu.in_h);
  let line = (n * fu.in_h + u32(clamp(iy, 0, i32(fu.in_h) - 1))) * fu.in_w;
  return array<Elem, 9>(dw_at(line, y_ok, ix0, c), dw_at(line, y_ok, ix0 + 1, c), dw_at(line, y_ok, ix0 + 2, c),
                        dw_at(line, y_ok, ix0 + 3, c), dw_at(line, y_ok, ix0 + 4, c), dw_at(line, y_ok, ix0 + 5, c),
                        dw_at(line, y_ok, ix0 + 6, c), dw_at(line, y_ok, ix0 + 7, c), dw_at(line, y_ok, ix0 + 8, c));
}

// acc[q] + r[q] * w0 + r[q + 1] * w1 + r[q + 2] * w2 for the four (eight) outputs q.
fn dw_row_taps(r: array<Elem, 6>, w0: Elem, w1: Elem, w2: Elem, acc: array<Elem, 4>) -> array<Elem, 4> {
  return array<Elem, 4>(
    fma(r[2], w2, fma(r[1], w1, fma(r[0], w0, acc[0]))),
    fma(r[3], w2, fma(r[2], w1, fma(r[1], w0, acc[1]))),
    fma(r[4], w2, fma(r[3], w1, fma(r[2], w0, acc[2]))),
    fma(r[5], w2, fma(r[4], w1, fma(r[3], w0, acc[3]))),
  );
}

fn dw_row_taps_wide(r: array<Elem, 10>, w0: Elem, w1: Elem, w2: Elem, acc: array<Elem, 8>) -> array<Elem, 8> {
  return array<Elem, 8>(
    fma(r[2], w2, fma(r[1], w1, fma(r[0], w0, acc[0]))),
    fma(r[3], w2, fma(r[2], w1, fma(r[1], w0, acc[1]))),
    fma(r[4], w2, fma(r[3], w1, fma(r[2], w0, acc[2]))),
    fma(r[5], w2, fma(r[4], w1, fma(r[3], w0, acc[3]))),
    fma(r[6], w2, fma(r[5], w1, fma(r[4], w0, acc[4]))),
    fma(r[7], w2, fma(r[6], w1, fma(r[5], w0, acc[5]))),
    fma(r[8], w2, fma(r[7], w1, fma(r[6], w0, acc[6]))),
    fma(r[9], w2, fma(r[8], w1, fma(r[7], w0, acc[7]))),
  );
}

fn dw_store8(line: u32, ox0: u32, c: u32, o: array<Elem, 8>) {
  let base = line * fu.out_w + ox0;
  for (var j = 0u; j < 8u; j++) {
    if (ox0 + j < fu.out_w) { y[(base + j) * fu.chans + c] = activate(o[j]); }
  }
}

// A strip kernel thread's place: channel, first output column (blocks of
// `width` along x), first line and line count of its strip, image; `live` is
// false for threads past the end.
struct Strip { c: u32, ox0: u32, oy0: u32, n: u32, lines: u32, live: bool, }

// The nine 3x3 taps of channel (Elem) c, row by row.
fn taps_of(c: u32) -> array<Elem, 9> {
  let k = fu.chans;
  return array<Elem, 9>(w[c], w[k + c], w[2u * k + c], w[3u * k + c], w[4u * k + c], w[5u * k + c], w[6u * k + c], w[7u * k + c], w[8u * k + c]);
}

fn strip_of(t: u32, width: u32) -> Strip {
  let bx = (fu.out_w + width - 1u) / width;
  let strips = (fu.out_h + fu.strip_lines - 1u) / fu.strip_lines;
  let c = t % fu.chans;
  let rest = t / (fu.chans * bx);
  let oy0 = min((rest % strips) * fu.strip_lines, fu.out_h);
  return Strip(c, ((t / fu.chans) % bx) * width, oy0, rest / strips, min(fu.strip_lines, fu.out_h - oy0), t < fu.batch * strips * bx * fu.chans);
}

@compute @workgroup_size(WG)
fn forward_3x3_strip(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let st = strip_of(linear_index(gid, nwg, WG), 4u);
  if (!st.live) { return; }
  let c = st.c; let ox0 = st.ox0; let oy0 = st.oy0; let n = st.n; let lines = st.lines;
  let tw = taps_of(c);
  let w00 = tw[0]; let w01 = tw[1]; let w02 = tw[2]; let w10 = tw[3]; let w11 = tw[4];
  let w12 = tw[5]; let w20 = tw[6]; let w21 = tw[7]; let w22 = tw[8];
  let bv = select(Elem(0.0), bias[c], fu.has_bias != 0u);
  let b4 = array<Elem, 4>(bv, bv, bv, bv);
  let ix0 = i32(ox0) - fu.pad_x;
  let iy0 = i32(oy0) - fu.pad_y;
  // p: the line whose top row came last; q: the line whose middle row came last.
  var p = b4;
  var q = b4;
  for (var k = 0u; k < lines + 2u; k++) {
    let r = dw_row(n, iy0 + i32(k), ix0, c);
    if (k >= 2u) {
      dw_store4(n * fu.out_h + oy0 + k - 2u, ox0, c, dw_row_taps(r, w20, w21, w22, q));
    }
    q = dw_row_taps(r, w10, w11, w12, p);
    p = dw_row_taps(r, w00, w01, w02, b4);
  }
}

@compute @workgroup_size(WG)
fn forward_3x3_strip_wide(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let st = strip_of(linear_index(gid, nwg, WG), 8u);
  if (!st.live) { return; }
  let c = st.c; let ox0 = st.ox0; let oy0 = st.oy0; let n = st.n; let lines = st.lines;
  let tw = taps_of(c);
  let w00 = tw[0]; let w01 = tw[1]; let w02 = tw[2]; let w10 = tw[3]; let w11 = tw[4];
  let w12 = tw[5]; let w20 = tw[6]; let w21 = tw[7]; let w22 = tw[8];
  let bv = select(Elem(0.0), bias[c], fu.has_bias != 0u);
  let b8 = array<Elem, 8>(bv, bv, bv, bv, bv, bv, bv, bv);
  let ix0 = i32(ox0) - fu.pad_x;
  let iy0 = i32(oy0) - fu.pad_y;
  // p: the line whose top row came last; q: the line whose middle row came last.
  var p = b8;
  var q = b8;
  for (var k = 0u; k < lines + 2u; k++) {
    let r = dw_row_wide(n, iy0 + i32(k), ix0, c);
    if (k >= 2u) {
      dw_store8(n * fu.out_h + oy0 + k - 2u, ox0, c, dw_row_taps_wide(r, w20, w21, w22, q));
    }
    q = dw_row_taps_wide(r, w10, w11, w12, p);
    p = dw_row_taps_wide(r, w00, w01, w02, b8);
  }
}

// acc[q] + r[2q] * w0 + r[2q + 1] * w1 + r[2q + 2] * w2: stride 2 along x.
fn dw_row_taps2(r: array<Elem, 9>, w0: Elem, w1: Elem, w2: Elem, acc: array<Elem, 4>) -> array<Elem, 4> {
  return array<Elem, 4>(
    fma(r[2], w2, fma(r[1], w1, fma(r[0], w0, acc[0]))),
    fma(r[4], w2, fma(r[3], w1, fma(r[2], w0, acc[1]))),
    fma(r[6], w2, fma(r[5], w1, fma(r[4], w0, acc[2]))),
    fma(r[8], w2, fma(r[7], w1, fma(r[6], w0, acc[3]))),
  );
}

fn dw_store4(line: u32, ox0: u32, c: u32, o: array<Elem, 4>) {
  let base = line * fu.out_w + ox0;
  y[base * fu.chans + c] = activate(o[0]);
  if (ox0 + 1u < fu.out_w) { y[(base + 1u) * fu.chans + c] = activate(o[1]); }
  if (ox0 + 2u < fu.out_w) { y[(base + 2u) * fu.chans + c] = activate(o[2]); }
  if (ox0 + 3u < fu.out_w) { y[(base + 3u) * fu.chans + c] = activate(o[3]); }
}

// The same at stride 2 (both axes): consecutive output lines share one input
// row, so each line loads two new rows of 9 values (4 outputs) and carries the
// shared row's contribution (its top tap row) over to the next line.
@compute @workgroup_size(WG)
fn forward_3x3_s2_strip(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let st = strip_of(linear_index(gid, nwg, WG), 4u);
  if (!st.live) { return; }
  let c = st.c; let ox0 = st.ox0; let oy0 = st.oy0; let n = st.n; let lines = st.lines;
  let tw = taps_of(c);
  let w00 = tw[0]; let w01 = tw[1]; let w02 = tw[2]; let w10 = tw[3]; let w11 = tw[4];
  let w12 = tw[5]; let w20 = tw[6]; let w21 = tw[7]; let w22 = tw[8];
  let bv = select(Elem(0.0), bias[c], fu.has_bias != 0u);
  let b4 = array<Elem, 4>(bv, bv, bv, bv);
  let ix0 = i32(ox0 * 2u) - fu.pad_x;
  let iy0 = i32(oy0 * 2u) - fu.pad_y;
  var p = dw_row_taps2(dw_row2(n, iy0, ix0, c), w00, w01, w02, b4);
  for (var k = 0u; k < lines; k++) {
    let mid = dw_row2(n, iy0 + i32(2u * k + 1u), ix0, c);
    let bot = dw_row2(n, iy0 + i32(2u * k + 2u), ix0, c);
    dw_store4(n * fu.out_h + oy0 + k, ox0, c, dw_row_taps2(bot, w20, w21, w22, dw_row_taps2(mid, w10, w11, w12, p)));
    p = dw_row_taps2(bot, w00, w01, w02, b4);
  }
}

// ---- gradient of the input ------------------------------------------------------------
// dx[n, iy, ix, c] gathers gy[n, oy, ox, c] * w[ky, kx, c] over the outputs it
// fed: oy = (iy + pad_y - ky) / sy where that divides exactly (no atomics).

@group(0) @binding(0) var<uniform> iu: Depthwise;
@group(0) @binding(1) var<storage, read> gy: array<Elem>;
@group(0) @binding(2) var<storage, read> wk: array<Elem>;
@group(0) @binding(3) var<storage, read_write> dx: array<Elem>;

@compute @workgroup_size(WG)
fn grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, WG);
  if (i >= iu.batch * iu.in_h * iu.in_w * iu.chans) { return; }
  let c = i % iu.chans;
  let ix = i32((i / iu.chans) % iu.in_w);
  let iy = i32((i / (iu.chans * iu.in_w)) % iu.in_h);
  let n = i / (iu.chans * iu.in_w * iu.in_h);
  let sy = i32(iu.stride_y);
  let sx = i32(iu.stride_x);
  var acc = Elem(0.0);
  for (var ky = 0u; ky < iu.k_h; ky++) {
    let ty = iy + iu.pad_y - i32(ky);
    if (ty < 0 || ty % sy != 0 || ty / sy >= i32(iu.out_h)) { continue; }
    for (var kx = 0u; kx < iu.k_w; kx++) {
      let tx = ix + iu.pad_x - i32(kx);
      if (tx < 0 || tx % sx != 0 || tx / sx >= i32(iu.out_w)) { continue; }
      let o = ((n * iu.out_h + u32(ty / sy)) * iu.out_w + u32(tx / sx)) * iu.chans + c;
      acc = fma(gy[o], wk[(ky * iu.k_w + kx) * iu.chans + c], acc);
    }
  }
  dx[i] = acc;
}

// The same gathers with ROW_OUT * SX neighbouring inputs along x per thread
// (SX <= 2), for the strides the flipped forward does not take: each output
// gradient of a gy row is loaded once for every input of the block it feeds,
// and each weight once per row. PX (= pad_x), KW and SX are compile-time, so
// the block's indexing unrolls into registers.
override PX: i32 = 1;
const MAX_XB = 8u; // ROW_OUT * 2

fn floor_div(a: i32, b: i32) -> i32 {
  return select(a / b, -((b - 1 - a) / b), a < 0);
}

@compute @workgroup_size(WG)
fn grad_input_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, WG);
  let xb = ROW_OUT * SX;
  let blocks = (iu.in_w + xb - 1u) / xb;
  if (t >= iu.batch * iu.in_h * blocks * iu.chans) { return; }
  let c = t % iu.chans;
  let blk = (t / iu.chans) % blocks;
  let line = t / (iu.chans * blocks); // n * in_h + iy
  let iy = i32(line % iu.in_h);
  let n = line / iu.in_h;
  let ix0 = blk * xb;
  let ox_base = i32(blk * ROW_OUT);
  let sx = i32(SX);
  let sy = i32(iu.stride_y);
  // Output columns ox_base + d whose taps land in the block.
  let d0 = floor_div(PX - i32(KW) + 1, sx);
  let d1 = floor_div(i32(xb) - 1 + PX, sx);
  var acc: array<Elem, MAX_XB>;
  for (var ky = 0u; ky < iu.k_h; ky++) {
    let ty = iy + iu.pad_y - i32(ky);
    if (ty < 0 || ty % sy != 0 || ty / sy >= i32(iu.out_h)) { continue; }
    var wrow: array<Elem, MAX_KW>;
    for (var kx = 0u; kx < KW; kx++) { wrow[kx] = wk[(ky * KW + kx) * iu.chans + c]; }
    let g_line = (n * iu.out_h + u32(ty / sy)) * iu.out_w;
    for (var d = d0; d <= d1; d++) {
      let ox = ox_base + d;
      let gv = select(Elem(0.0), gy[(g_line + u32(clamp(ox, 0, i32(iu.out_w) - 1))) * iu.chans + c], ox >= 0 && ox < i32(iu.out_w));
      for (var kx = 0u; kx < KW; kx++) {
        let q = d * sx - PX + i32(kx);
        if (q >= 0 && q < i32(xb)) { acc[q] = fma(gv, wrow[kx], acc[q]); }
      }
    }
  }
  for (var q = 0u; q < xb; q++) {
    if (ix0 + q < iu.in_w) { dx[(line * iu.in_w + ix0 + q) * iu.chans + c] = acc[q]; }
  }
}

// ---- gradient of the weights --------------------------------------------------------
// partial[chunk, ky, kx, c] = sum over the chunk's output lines (n, oy) of
// x[pixel shifted by (ky, kx), c] * gy[pixel, c]; the host adds the chunks.

struct GradWeight {
  batch: u32, in_h: u32, in_w: u32, chans: u32,
  out_h: u32, out_w: u32, k_h: u32, k_w: u32,
  stride_y: u32, stride_x: u32, pad_y: i32, pad_x: i32,
  lines_per_chunk: u32, chunks: u32,
}
@group(0) @binding(0) var<uniform> wu: GradWeight;
@group(0) @binding(1) var<storage, read> xin: array<Elem>;
@group(0) @binding(2) var<storage, read> gout: array<Elem>;
@group(0) @binding(3) var<storage, read_write> partial: array<Elem>;

@compute @workgroup_size(WG)
fn grad_weight(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, WG);
  let size = wu.k_h * wu.k_w * wu.chans;
  if (t >= size * wu.chunks) { return; }
  let c = t % wu.chans;
  let tap = (t % size) / wu.chans;
  let kx = i32(tap % wu.k_w);
  let ky = i32(tap / wu.k_w);
  let chunk = t / size;
  let line_end = min((chunk + 1u) * wu.lines_per_chunk, wu.batch * wu.out_h);
  var acc = Elem(0.0);
  for (var line = chunk * wu.lines_per_chunk; line < line_end; line++) {
    let n = line / wu.out_h;
    let iy = i32((line % wu.out_h) * wu.stride_y) - wu.pad_y + ky;
    if (iy < 0 || iy >= i32(wu.in_h)) { continue; }
    let x_line = (n * wu.in_h + u32(iy)) * wu.in_w;
    for (var ox = 0u; ox < wu.out_w; ox++) {
      let ix = i32(ox * wu.stride_x) - wu.pad_x + kx;
      if (ix < 0 || ix >= i32(wu.in_w)) { continue; }
      acc = fma(xin[(x_line + u32(ix)) * wu.chans + c], gout[(line * wu.out_w + ox) * wu.chans + c], acc);
    }
  }
  partial[t] = acc;
}

// The same sums with one thread per (chunk, channel) and kernel row ky: along
// a line of outputs each input column is loaded once for the ROW_OUT outputs
// it meets (as in forward_rows) and each output gradient once for the row's
// taps, which live in registers (KW and SX are compile-time; KW <= MAX_KW).

@compute @workgroup_size(WG)
fn grad_weight_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, WG);
  if (t >= wu.chans * wu.k_h * wu.chunks) { return; }
  let c = t % wu.chans;
  let ky = (t / wu.chans) % wu.k_h;
  let chunk = t / (wu.chans * wu.k_h);
  let line_end = min((chunk + 1u) * wu.lines_per_chunk, wu.batch * wu.out_h);
  var acc: array<Elem, MAX_KW>;
  for (var line = chunk * wu.lines_per_chunk; line < line_end; line++) {
    let n = line / wu.out_h;
    let iy = i32((line % wu.out_h) * wu.stride_y) - wu.pad_y + i32(ky);
    if (iy < 0 || iy >= i32(wu.in_h)) { continue; }
    let x_line = (n * wu.in_h + u32(iy)) * wu.in_w;
    for (var ox0 = 0u; ox0 < wu.out_w; ox0 += ROW_OUT) {
      var gv: array<Elem, ROW_OUT>;
      for (var r = 0u; r < ROW_OUT; r++) {
        let ox = min(ox0 + r, wu.out_w - 1u);
        gv[r] = select(Elem(0.0), gout[(line * wu.out_w + ox) * wu.chans + c], ox0 + r < wu.out_w);
      }
      let ix0 = i32(ox0 * SX) - wu.pad_x;
      for (var j = 0u; j < (ROW_OUT - 1u) * SX + KW; j++) {
        let ix = ix0 + i32(j);
        let xv = select(Elem(0.0), xin[(x_line + u32(max(ix, 0))) * wu.chans + c], ix >= 0 && ix < i32(wu.in_w));
        for (var r = 0u; r < ROW_OUT; r++) {
          let kx = j - r * SX; // wraps past KW when j < r * SX
          if (kx < KW) { acc[kx] = fma(xv, gv[r], acc[kx]); }
        }
      }
    }
  }
  for (var kx = 0u; kx < KW; kx++) { partial[((chunk * wu.k_h + ky) * KW + kx) * wu.chans + c] = acc[kx]; }
}

// The same sums for kernels up to 3x3 and strides up to 2, one thread per
// (image, segment of output lines, block of STRIP_OUT outputs along x, channel)
// holding every tap in registers: walking down its strip it keeps the window's
// input rows in registers and loads only the SY new rows per output line, so
// each input value is loaded about once instead of once per kernel row. Its
// partials are [strips * blocks, kh, kw, C] (strip = n * chunks + segment;
// lines_per_chunk lines per segment).
const STRIP_KH = 3u;
const STRIP_OUT = 2u; // outputs along x per thread
const STRIP_XW = 5u; // (STRIP_OUT - 1) * 2 + 3: the widest window row
override KH: u32 = 3u;
override SY: u32 = 1u;

@compute @workgroup_size(WG)
fn grad_weight_strip(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, WG);
  let blocks = (wu.out_w + STRIP_OUT - 1u) / STRIP_OUT;
  if (t >= wu.chans * blocks * wu.chunks * wu.batch) { return; }
  let c = t % wu.chans;
  let blk = (t / wu.chans) % blocks;
  let strip = t / (wu.chans * blocks);
  let n = strip / wu.chunks;
  let oy0 = (strip % wu.chunks) * wu.lines_per_chunk;
  let oy1 = min(oy0 + wu.lines_per_chunk, wu.out_h);
  let ox0 = blk * STRIP_OUT;
  let ix0 = i32(ox0 * SX) - wu.pad_x;
  let fresh = min(SY, KH);
  var win: array<array<Elem, STRIP_XW>, STRIP_KH>;
  var acc: array<array<Elem, STRIP_KH>, STRIP_KH>;
  var gv: array<Elem, STRIP_OUT>;
  // Rows the first line shares with its (virtual) predecessor.
  for (var k = 0u; k + fresh < KH; k++) {
    let iy = i32(oy0 * SY) - wu.pad_y + i32(k);
    let y_ok = iy >= 0 && iy < i32(wu.in_h);
    let x_line = (n * wu.in_h + u32(clamp(iy, 0, i32(wu.in_h) - 1))) * wu.in_w;
    for (var j = 0u; j < (STRIP_OUT - 1u) * SX + KW; j++) {
      let ix = ix0 + i32(j);
      win[k][j] = select(Elem(0.0), xin[(x_line + u32(clamp(ix, 0, i32(wu.in_w) - 1))) * wu.chans + c], y_ok && ix >= 0 && ix < i32(wu.in_w));
    }
  }
  for (var oy = oy0; oy < oy1; oy++) {
    for (var k = KH - fresh; k < KH; k++) {
      let iy = i32(oy * SY) - wu.pad_y + i32(k);
      let y_ok = iy >= 0 && iy < i32(wu.in_h);
      let x_line = (n * wu.in_h + u32(clamp(iy, 0, i32(wu.in_h) - 1))) * wu.in_w;
      for (var j = 0u; j < (STRIP_OUT - 1u) * SX + KW; j++) {
        let ix = ix0 + i32(j);
        win[k][j] = select(Elem(0.0), xin[(x_line + u32(clamp(ix, 0, i32(wu.in_w) - 1))) * wu.chans + c], y_ok && ix >= 0 && ix < i32(wu.in_w));
      }
    }
    let g_line = (n * wu.out_h + oy) * wu.out_w;
    for (var r = 0u; r < STRIP_OUT; r++) {
      gv[r] = select(Elem(0.0), gout[(g_line + min(ox0 + r, wu.out_w - 1u)) * wu.chans + c], ox0 + r < wu.out_w);
    }
    for (var ky = 0u; ky < KH; ky++) {
      for (var r = 0u; r < STRIP_OUT; r++) {
        for (var kx = 0u; kx < KW; kx++) { acc[ky][kx] = fma(win[ky][r * SX + kx], gv[r], acc[ky][kx]); }
      }
    }
    for (var k = 0u; k + fresh < KH; k++) { win[k] = win[k + fresh]; }
  }
  let base = (strip * blocks + blk) * KH * KW * wu.chans + c;
  for (var ky = 0u; ky < KH; ky++) {
    for (var kx = 0u; kx < KW; kx++) { partial[base + (ky * KW + kx) * wu.chans] = acc[ky][kx]; }
  }
}

// ---- flipped weights ------------------------------------------------------------------
// w_dst[ky, kx, c] = w_src[kh-1-ky, kw-1-kx, c]. With stride 1 the input gradient
// is a forward pass over gy with these weights and padding k-1-pad.

struct Flip { taps: u32, chans: u32, }
@group(0) @binding(0) var<uniform> pu: Flip;
@group(0) @binding(1) var<storage, read> w_src: array<Elem>;
@group(0) @binding(2) var<storage, read_write> w_dst: array<Elem>;

@compute @workgroup_size(WG)
fn flip_weight(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, WG);
  if (i >= pu.taps * pu.chans) { return; }
  w_dst[i] = w_src[(pu.taps - 1u - i / pu.chans) * pu.chans + i % pu.chans];
}

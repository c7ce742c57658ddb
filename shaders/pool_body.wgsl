// 2-D pooling over NHWC images: max, average, adaptive average, global average,
// forward and backward.
//
// Written once for an element type `Elem` with index type `Index`: f32/u32 (one
// channel per thread), vec2 or vec4 (two or four neighbouring channels per
// thread, when C divides). Compile it through pool_f32.wgsl, pool_vec2.wgsl or
// pool_vec4.wgsl, which define those aliases; every `channels` below counts
// Elems (C, C/2 or C/4).
//
// Threads run on a grid of (ceil(cols * channels / WG), rows, images): a
// workgroup covers part of one row of pixels, so image and row come from the
// workgroup id and only the column takes a division. (Integer division by a
// runtime value is scalarised on CPU adapters; with a flat 1-D index it took
// about half of these kernels' time on lavapipe.)
//
// Backward passes are gathers: one thread per input element sums the gradients
// of the output windows that contain it, so no atomics are needed.
//!include common.wgsl

const WG = 64u;

struct Window {
  channels: u32,
  first_image: u32,  // images are dispatched in batches of at most 65535
  in_h: i32,
  in_w: i32,
  out_h: i32,
  out_w: i32,
  kernel_h: i32,
  kernel_w: i32,
  stride_h: i32,
  stride_w: i32,
  pad_h: i32,
  pad_w: i32,
  count_include_pad: u32,
  images: u32, // the batch (max_forward_rows, which runs as one 1-D grid)
}
@group(0) @binding(0) var<uniform> u: Window;
@group(0) @binding(1) var<storage, read> x: array<Elem>;
@group(0) @binding(2) var<storage, read_write> y: array<Elem>;
// maxpool: flat spatial index h * in_w + w of each output's maximum, per lane.
@group(0) @binding(3) var<storage, read_write> argmax: array<Index>;
@group(0) @binding(1) var<storage, read> dy: array<Elem>;
@group(0) @binding(2) var<storage, read_write> dx: array<Elem>;

// This thread's element of an [images, rows, cols, channels] tensor; `flat` is
// its index, valid when `inside`.
struct Pixel { n: i32, row: i32, col: i32, c: u32, flat: u32, inside: bool, }

fn pixel_at(wid: vec3<u32>, lid: vec3<u32>, rows: i32, cols: i32) -> Pixel {
  let t = wid.x * WG + lid.x;
  let n = wid.z + u.first_image;
  let col = t / u.channels;
  let row_len = u32(cols) * u.channels;
  return Pixel(i32(n), i32(wid.y), i32(col), t - col * u.channels, (n * u32(rows) + wid.y) * row_len + t, t < row_len);
}

fn input_at(n: i32, h: i32, w: i32, c: u32) -> u32 {
  return u32((n * u.in_h + h) * u.in_w + w) * u.channels + c;
}

fn output_at(n: i32, oh: i32, ow: i32, c: u32) -> u32 {
  return u32((n * u.out_h + oh) * u.out_w + ow) * u.channels + c;
}

// First and one-past-last output index whose window (start o*stride - pad, length
// kernel) covers input index i.
fn covering(i: i32, stride: i32, pad: i32, kernel: i32, outs: i32) -> vec2<i32> {
  let first = max(0, (i + pad - kernel + 1 + stride - 1) / stride);
  let last = min(outs - 1, (i + pad) / stride);
  return vec2<i32>(first, last + 1);
}

// ---- max -------------------------------------------------------------------

struct Maximum { value: Elem, index: Index, }

// Scans the window row by row; a strictly greater value replaces the best, so
// among equal maxima the first in scan order wins (and gets the gradient).
// Padding never wins: only in-bounds elements are read, and PyTorch's rules
// (padding <= kernel / 2, last window starting inside) keep every window
// non-empty.
fn window_max(o: Pixel) -> Maximum {
  let h0 = o.row * u.stride_h - u.pad_h;
  let w0 = o.col * u.stride_w - u.pad_w;
  let h_lo = max(h0, 0);
  let h_hi = min(h0 + u.kernel_h, u.in_h);
  let w_lo = max(w0, 0);
  let w_hi = min(w0 + u.kernel_w, u.in_w);
  var best = Maximum(x[input_at(o.n, h_lo, w_lo, o.c)], Index(u32(h_lo * u.in_w + w_lo)));
  for (var h = h_lo; h < h_hi; h++) {
    for (var w = w_lo; w < w_hi; w++) {
      let v = x[input_at(o.n, h, w, o.c)];
      let better = v > best.value;
      best.value = select(best.value, v, better);
      best.index = select(best.index, Index(u32(h * u.in_w + w)), better);
    }
  }
  return best;
}

// Inference: no argmax is kept.
@compute @workgroup_size(WG)
fn max_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = pixel_at(wid, lid, u.out_h, u.out_w);
  if (!o.inside) { return; }
  y[o.flat] = window_max(o).value;
}

// Inference, a strip of POOL_OY output rows x POOL_OX neighbouring outputs
// along x per thread (threads over (image, strip, block, channel), a 1-D
// grid): the thread walks down the input rows its strip covers, loading each
// once, (POOL_OX - 1) * SW + KW values, and folds it into every output row
// whose window holds it; rows shared by two windows (stride < kernel) are not
// loaded twice. KW and SW are compile-time so the row's indices are
// constants; every output scans its window in window_max's order with the
// same rule, so the results (ties, NaN) are the same. Measured on lavapipe
// (3x3 stride 2, N8 112x112x64, interleaved): one output row per thread
// 8.0-9.2 ms, strips of 4 rows 6.0-7.6.
override KW: i32 = 3;
override SW: i32 = 2;
const POOL_OX = 4;
const POOL_OY = 4;
const POOL_MAX_SPAN = 16; // (POOL_OX - 1) * SW + KW, host-checked

// Folds input row h (its values v from column wb on) into one output row's
// maxima; h_lo is that output's first in-bounds window row.
fn fold_row(best: ptr<function, array<Elem, POOL_OX>>, v: array<Elem, POOL_MAX_SPAN>, wb: i32, h: i32, h_lo: i32) {
  if (wb >= 0 && wb + (POOL_OX - 1) * SW + KW <= u.in_w) {
    // Every window column is inside (a thread away from the image's left and
    // right edges): the same rule without the per-element bounds tests, ~8%
    // faster on lavapipe (3x3 s2 N8 112x112x64, interleaved: 6.45 -> 5.85 ms).
    for (var o = 0; o < POOL_OX; o++) {
      for (var kx = 0; kx < KW; kx++) {
        let val = v[o * SW + kx];
        (*best)[o] = select(select((*best)[o], val, val > (*best)[o]), val, kx == 0 && h == h_lo);
      }
    }
    return;
  }
  for (var o = 0; o < POOL_OX; o++) {
    let w0 = wb + o * SW;
    for (var kx = 0; kx < KW; kx++) {
      let w = w0 + kx;
      let val = v[o * SW + kx];
      // window_max: the first in-bounds element starts the scan, then a
      // strictly greater in-bounds one replaces the best.
      (*best)[o] = select((*best)[o], select((*best)[o], val, val > (*best)[o]), w >= 0 && w < u.in_w);
      (*best)[o] = select((*best)[o], val, h == h_lo && w == max(w0, 0));
    }
  }
}

// Folds input row h into output row oh of the strip if its window holds h.
fn fold_if_inside(best: ptr<function, array<Elem, POOL_OX>>, v: array<Elem, POOL_MAX_SPAN>, wb: i32, h: i32, oh: i32) {
  let h0 = oh * u.stride_h - u.pad_h;
  let h_lo = max(h0, 0);
  if (oh < u.out_h && h >= h_lo && h < min(h0 + u.kernel_h, u.in_h)) { fold_row(best, v, wb, h, h_lo); }
}

fn store_row(best: array<Elem, POOL_OX>, n: i32, oh: i32, ow0: i32, c: u32) {
  if (oh >= u.out_h) { return; }
  for (var o = 0; o < POOL_OX; o++) {
    if (ow0 + o < u.out_w) { y[output_at(n, oh, ow0 + o, c)] = best[o]; }
  }
}

@compute @workgroup_size(WG)
fn max_forward_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, WG);
  let bx = (u32(u.out_w) + u32(POOL_OX) - 1u) / u32(POOL_OX);
  let strips = (u32(u.out_h) + u32(POOL_OY) - 1u) / u32(POOL_OY);
  if (t >= u.images * strips * bx * u.channels) { return; }
  let c = t % u.channels;
  let ow0 = i32((t / u.channels) % bx) * POOL_OX;
  let rest = t / (u.channels * bx);
  let oh0 = i32(rest % strips) * POOL_OY;
  let n = i32(rest / strips);
  let last = min(oh0 + POOL_OY, u.out_h) - 1;
  let h_first = max(oh0 * u.stride_h - u.pad_h, 0);
  let h_end = min(last * u.stride_h - u.pad_h + u.kernel_h, u.in_h);
  let wb = ow0 * SW - u.pad_w;
  var best0: array<Elem, POOL_OX>;
  var best1: array<Elem, POOL_OX>;
  var best2: array<Elem, POOL_OX>;
  var best3: array<Elem, POOL_OX>;
  for (var h = h_first; h < h_end; h++) {
    var v: array<Elem, POOL_MAX_SPAN>;
    for (var j = 0; j < (POOL_OX - 1) * SW + KW; j++) {
      v[j] = x[input_at(n, h, clamp(wb + j, 0, u.in_w - 1), c)];
    }
    fold_if_inside(&best0, v, wb, h, oh0);
    fold_if_inside(&best1, v, wb, h, oh0 + 1);
    fold_if_inside(&best2, v, wb, h, oh0 + 2);
    fold_if_inside(&best3, v, wb, h, oh0 + 3);
  }
  store_row(best0, n, oh0, ow0, c);
  store_row(best1, n, oh0 + 1, ow0, c);
  store_row(best2, n, oh0 + 2, ow0, c);
  store_row(best3, n, oh0 + 3, ow0, c);
}

@compute @workgroup_size(WG)
fn max_forward_argmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = pixel_at(wid, lid, u.out_h, u.out_w);
  if (!o.inside) { return; }
  let best = window_max(o);
  y[o.flat] = best.value;
  argmax[o.flat] = best.index;
}

@compute @workgroup_size(WG)
fn max_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let p = pixel_at(wid, lid, u.in_h, u.in_w);
  if (!p.inside) { return; }
  let me = Index(u32(p.row * u.in_w + p.col));
  let rows = covering(p.row, u.stride_h, u.pad_h, u.kernel_h, u.out_h);
  let cols = covering(p.col, u.stride_w, u.pad_w, u.kernel_w, u.out_w);
  var acc = Elem(0.0);
  for (var oh = rows.x; oh < rows.y; oh++) {
    for (var ow = cols.x; ow < cols.y; ow++) {
      let o = output_at(p.n, oh, ow, p.c);
      acc += select(Elem(0.0), dy[o], argmax[o] == me);
    }
  }
  dx[p.flat] = acc;
}

// ---- average ---------------------------------------------------------------

// PyTorch's divisor: the window clipped to the padded input, or with
// count_include_pad == 0 to the input itself.
fn avg_divisor(oh: i32, ow: i32) -> f32 {
  let h0 = oh * u.stride_h - u.pad_h;
  let w0 = ow * u.stride_w - u.pad_w;
  let h1 = min(h0 + u.kernel_h, u.in_h + u.pad_h);
  let w1 = min(w0 + u.kernel_w, u.in_w + u.pad_w);
  if (u.count_include_pad != 0u) { return f32((h1 - h0) * (w1 - w0)); }
  return f32((min(h1, u.in_h) - max(h0, 0)) * (min(w1, u.in_w) - max(w0, 0)));
}

@compute @workgroup_size(WG)
fn avg_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = pixel_at(wid, lid, u.out_h, u.out_w);
  if (!o.inside) { return; }
  let h0 = o.row * u.stride_h - u.pad_h;
  let w0 = o.col * u.stride_w - u.pad_w;
  var acc = Elem(0.0);
  for (var h = max(h0, 0); h < min(h0 + u.kernel_h, u.in_h); h++) {
    for (var w = max(w0, 0); w < min(w0 + u.kernel_w, u.in_w); w++) {
      acc += x[input_at(o.n, h, w, o.c)];
    }
  }
  y[o.flat] = acc / avg_divisor(o.row, o.col);
}

@compute @workgroup_size(WG)
fn avg_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let p = pixel_at(wid, lid, u.in_h, u.in_w);
  if (!p.inside) { return; }
  let rows = covering(p.row, u.stride_h, u.pad_h, u.kernel_h, u.out_h);
  let cols = covering(p.col, u.stride_w, u.pad_w, u.kernel_w, u.out_w);
  var acc = Elem(0.0);
  for (var oh = rows.x; oh < rows.y; oh++) {
    for (var ow = cols.x; ow < cols.y; ow++) {
      acc += dy[output_at(p.n, oh, ow, p.c)] / avg_divisor(oh, ow);
    }
  }
  dx[p.flat] = acc;
}

// ---- adaptive average (kernel, stride and padding unused) ------------------

// PyTorch's adaptive window of output o: [floor(o*in/out), ceil((o+1)*in/out)).
fn adaptive_window(o: i32, ins: i32, outs: i32) -> vec2<i32> {
  return vec2<i32>((o * ins) / outs, ((o + 1) * ins + outs - 1) / outs);
}

@compute @workgroup_size(WG)
fn adaptive_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = pixel_at(wid, lid, u.out_h, u.out_w);
  if (!o.inside) { return; }
  let rows = adaptive_window(o.row, u.in_h, u.out_h);
  let cols = adaptive_window(o.col, u.in_w, u.out_w);
  var acc = Elem(0.0);
  for (var h = rows.x; h < rows.y; h++) {
    for (var w = cols.x; w < cols.y; w++) {
      acc += x[input_at(o.n, h, w, o.c)];
    }
  }
  y[o.flat] = acc / f32((rows.y - rows.x) * (cols.y - cols.x));
}

// The outputs whose adaptive window holds input index i:
// [floor(i*out/in), ceil((i+1)*out/in)).
fn adaptive_covering(i: i32, ins: i32, outs: i32) -> vec2<i32> {
  return vec2<i32>((i * outs) / ins, min(outs, ((i + 1) * outs + ins - 1) / ins));
}

@compute @workgroup_size(WG)
fn adaptive_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let p = pixel_at(wid, lid, u.in_h, u.in_w);
  if (!p.inside) { return; }
  let rows = adaptive_covering(p.row, u.in_h, u.out_h);
  let cols = adaptive_covering(p.col, u.in_w, u.out_w);
  var acc = Elem(0.0);
  for (var oh = rows.x; oh < rows.y; oh++) {
    let wr = adaptive_window(oh, u.in_h, u.out_h);
    for (var ow = cols.x; ow < cols.y; ow++) {
      let wc = adaptive_window(ow, u.in_w, u.out_w);
      acc += dy[output_at(p.n, oh, ow, p.c)] / f32((wr.y - wr.x) * (wc.y - wc.x));
    }
  }
  dx[p.flat] = acc;
}

// ---- global average --------------------------------------------------------

// x viewed as [batch, rows, channels] (rows = H*W): partial[b, chunk, c] =
// scale * sum of x[b, r, c] over the chunk's rows. Neighbouring threads take
// neighbouring channels so reads coalesce; the host repeats this over
// `partial` (scale 1) until one chunk remains. Each thread sums >= 16 rows, so
// its index divisions do not matter here.
struct Rows {
  total: u32,
  channels: u32,
  rows: u32,
  rows_per_chunk: u32,
  chunks: u32,
  scale: f32,
}
@group(0) @binding(0) var<uniform> r: Rows;
@group(0) @binding(2) var<storage, read_write> partial: array<Elem>;

@compute @workgroup_size(WG)
fn mean_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, WG);
  if (t >= r.total) { return; }
  let c = t % r.channels;
  let chunk = (t / r.channels) % r.chunks;
  let b = t / (r.channels * r.chunks);
  let r0 = chunk * r.rows_per_chunk;
  let r1 = min(r0 + r.rows_per_chunk, r.rows);
  var acc = Elem(0.0);
  for (var row = r0; row < r1; row++) { acc += x[(b * r.rows + row) * r.channels + c]; }
  partial[t] = acc * r.scale;
}

// dx[n, h, w, c] = dy[n, c] / (in_h * in_w), on the Window grid over the input.
@compute @workgroup_size(WG)
fn global_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let p = pixel_at(wid, lid, u.in_h, u.in_w);
  if (!p.inside) { return; }
  dx[p.flat] = dy[u32(p.n) * u.channels + p.c] / f32(u.in_h * u.in_w);
}

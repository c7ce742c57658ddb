// Convolution, one output value per thread: the plain variant, for adapters
// without subgroups (the register-blocked kernels in conv2d_subgroup_body.wgsl need
// them). Also the weight packing those fast kernels read.
//
// x [N, H, W, Cin], w [kh, kw, Cin/groups, Cout], y [N, Ho, Wo, Cout]; output
// channel co belongs to group g = co / cout_g and sees input channels
// g*cin_g .. g*cin_g + cin_g - 1.
//!include common.wgsl

override ACT: u32 = 0u; // forward's fused activation: 0 none, 1 relu, 2 relu6
const WG = 64u;

struct Conv {
  batch: u32, in_h: u32, in_w: u32, in_c: u32,
  out_h: u32, out_w: u32, out_c: u32, cin_g: u32,
  k_h: u32, k_w: u32, stride_y: u32, stride_x: u32,
  pad_y: i32, pad_x: i32, cout_g: u32, has_bias: u32,
}

// ---- forward --------------------------------------------------------------------------

@group(0) @binding(0) var<uniform> fu: Conv;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
// Bound to w when has_bias is 0 (every binding needs a buffer; it is not read then).
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

fn activate(v: f32) -> f32 {
  switch ACT {
    case 1u: { return max(v, 0.0); }
    case 2u: { return clamp(v, 0.0, 6.0); }
    default: { return v; }
  }
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, WG);
  if (i >= fu.batch * fu.out_h * fu.out_w * fu.out_c) { return; }
  let co = i % fu.out_c;
  let ox = (i / fu.out_c) % fu.out_w;
  let oy = (i / (fu.out_c * fu.out_w)) % fu.out_h;
  let n = i / (fu.out_c * fu.out_w * fu.out_h);
  let c0 = (co / fu.cout_g) * fu.cin_g;
  var acc = select(0.0, bias[co], fu.has_bias != 0u);
  for (var ky = 0u; ky < fu.k_h; ky++) {
    let iy = i32(oy * fu.stride_y) - fu.pad_y + i32(ky);
    if (iy < 0 || iy >= i32(fu.in_h)) { continue; }
    for (var kx = 0u; kx < fu.k_w; kx++) {
      let ix = i32(ox * fu.stride_x) - fu.pad_x + i32(kx);
      if (ix < 0 || ix >= i32(fu.in_w)) { continue; }
      let xi = ((n * fu.in_h + u32(iy)) * fu.in_w + u32(ix)) * fu.in_c + c0;
      let wi = (ky * fu.k_w + kx) * fu.cin_g * fu.out_c + co;
      for (var c = 0u; c < fu.cin_g; c++) {
        acc = fma(x[xi + c], w[wi + c * fu.out_c], acc);
      }
    }
  }
  y[i] = activate(acc);
}

// ---- gradient of the input ----------------------------------------------------------------
// dx[n, iy, ix, ci] gathers gy[n, oy, ox, co] * w[ky, kx, ci - g*cin_g, co] over
// the outputs it fed: oy = (iy + pad_y - ky) / sy where that divides exactly.

@group(0) @binding(0) var<uniform> iu: Conv;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read> wk: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, WG);
  if (i >= iu.batch * iu.in_h * iu.in_w * iu.in_c) { return; }
  let ci = i % iu.in_c;
  let ix = i32((i / iu.in_c) % iu.in_w);
  let iy = i32((i / (iu.in_c * iu.in_w)) % iu.in_h);
  let n = i / (iu.in_c * iu.in_w * iu.in_h);
  let g = ci / iu.cin_g;
  let c = ci % iu.cin_g;
  let sy = i32(iu.stride_y);
  let sx = i32(iu.stride_x);
  var acc = 0.0;
  for (var ky = 0u; ky < iu.k_h; ky++) {
    let ty = iy + iu.pad_y - i32(ky);
    if (ty < 0 || ty % sy != 0 || ty / sy >= i32(iu.out_h)) { continue; }
    for (var kx = 0u; kx < iu.k_w; kx++) {
      let tx = ix + iu.pad_x - i32(kx);
      if (tx < 0 || tx % sx != 0 || tx / sx >= i32(iu.out_w)) { continue; }
      let gi = ((n * iu.out_h + u32(ty / sy)) * iu.out_w + u32(tx / sx)) * iu.out_c + g * iu.cout_g;
      let wi = ((ky * iu.k_w + kx) * iu.cin_g + c) * iu.out_c + g * iu.cout_g;
      for (var o = 0u; o < iu.cout_g; o++) {
        acc = fma(gy[gi + o], wk[wi + o], acc);
      }
    }
  }
  dx[i] = acc;
}

// ---- gradient of the weights ----------------------------------------------------------
// partial[chunk, ky, kx, c, co] = sum over the chunk's output lines (n, oy) of
// x[pixel shifted by (ky, kx), g*cin_g + c] * gy[pixel, co]; the host adds the
// chunks, so small weights over large images still spread over every core.

struct GradWeight {
  batch: u32, in_h: u32, in_w: u32, in_c: u32,
  out_h: u32, out_w: u32, out_c: u32, cin_g: u32,
  k_h: u32, k_w: u32, stride_y: u32, stride_x: u32,
  pad_y: i32, pad_x: i32, cout_g: u32, lines_per_chunk: u32,
  chunks: u32,
}
@group(0) @binding(0) var<uniform> wu: GradWeight;
@group(0) @binding(1) var<storage, read> xin: array<f32>;
@group(0) @binding(2) var<storage, read> gout: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

@compute @workgroup_size(WG)
fn grad_weight(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, WG);
  let size = wu.k_h * wu.k_w * wu.cin_g * wu.out_c;
  if (t >= size * wu.chunks) { return; }
  let wi = t % size;
  let chunk = t / size;
  let co = wi % wu.out_c;
  let c = (wi / wu.out_c) % wu.cin_g;
  let kx = i32((wi / (wu.out_c * wu.cin_g)) % wu.k_w);
  let ky = i32(wi / (wu.out_c * wu.cin_g * wu.k_w));
  let ci = (co / wu.cout_g) * wu.cin_g + c;
  let line_end = min((chunk + 1u) * wu.lines_per_chunk, wu.batch * wu.out_h);
  var acc = 0.0;
  for (var line = chunk * wu.lines_per_chunk; line < line_end; line++) {
    let n = line / wu.out_h;
    let iy = i32((line % wu.out_h) * wu.stride_y) - wu.pad_y + ky;
    if (iy < 0 || iy >= i32(wu.in_h)) { continue; }
    let x_line = (n * wu.in_h + u32(iy)) * wu.in_w;
    for (var ox = 0u; ox < wu.out_w; ox++) {
      let ix = i32(ox * wu.stride_x) - wu.pad_x + kx;
      if (ix < 0 || ix >= i32(wu.in_w)) { continue; }
      acc = fma(xin[(x_line + u32(ix)) * wu.in_c + ci], gout[(line * wu.out_w + ox) * wu.out_c + co], acc);
    }
  }
  partial[t] = acc;
}

// ---- weight packing for the fast kernels -----------------------------------------------
// conv2d_subgroup_body.wgsl reads its column operand as vec4s of channels, so each
// group's column channels are padded with zeros to a multiple of 4 (`padded`):
// pad_weight gives the forward's [kh, kw, cin_g, groups * padded], and
// transpose_weight the input gradient's [kh, kw, cout_g, groups * padded],
// the two channel axes swapped within each group.

struct Pack { taps: u32, cin_g: u32, cout_g: u32, groups: u32, padded: u32, }
@group(0) @binding(0) var<uniform> pu: Pack;
@group(0) @binding(1) var<storage, read> w_src: array<f32>;
@group(0) @binding(2) var<storage, read_write> w_dst: array<f32>;

@compute @workgroup_size(WG)
fn pad_weight(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, WG);
  let row_len = pu.groups * pu.padded;
  if (i >= pu.taps * pu.cin_g * row_len) { return; }
  let row = i / row_len; // tap * cin_g + c
  let g = (i % row_len) / pu.padded;
  let o = (i % row_len) % pu.padded;
  let src = row * pu.groups * pu.cout_g + g * pu.cout_g + min(o, pu.cout_g - 1u);
  w_dst[i] = select(0.0, w_src[src], o < pu.cout_g);
}

@compute @workgroup_size(WG)
fn transpose_weight(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, WG);
  let row_len = pu.groups * pu.padded;
  if (i >= pu.taps * pu.cout_g * row_len) { return; }
  let tap = i / (row_len * pu.cout_g);
  let o = (i / row_len) % pu.cout_g;
  let g = (i % row_len) / pu.padded;
  let c = (i % row_len) % pu.padded;
  let src = (tap * pu.cin_g + min(c, pu.cin_g - 1u)) * pu.groups * pu.cout_g + g * pu.cout_g + o;
  w_dst[i] = select(0.0, w_src[src], c < pu.cin_g);
}

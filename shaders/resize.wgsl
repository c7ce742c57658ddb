// Resizing NHWC images the way torch.nn.functional.interpolate does.
//
// One thread per output pixel, channels in groups of four: index arithmetic
// (integer division is scalarised on CPU adapters) is paid once per pixel,
// and each channel's sum still runs over the window in its own row-major order.
//!include common.wgsl

struct Params {
  pixels: u32,        // output pixels, N * out_h * out_w
  in_h: u32,
  in_w: u32,
  out_h: u32,
  out_w: u32,
  channels: u32,
  align_corners: u32, // bilinear only
  // area only: outputs are written as (v - mean) * scale per channel (the
  // normalisation of image.wgsl fused in; 0 and 1 leave them as they are).
  mean: vec4<f32>,
  scale: vec4<f32>,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> img: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// Up to four channels from element `at` on (`count` of them real).
fn load4(at: u32, count: u32) -> vec4<f32> {
  var v = vec4<f32>(img[at], 0.0, 0.0, 0.0);
  if (count > 1u) { v.y = img[at + 1u]; }
  if (count > 2u) { v.z = img[at + 2u]; }
  if (count > 3u) { v.w = img[at + 3u]; }
  return v;
}

fn store4(at: u32, count: u32, v: vec4<f32>) {
  out[at] = v.x;
  if (count > 1u) { out[at + 1u] = v.y; }
  if (count > 2u) { out[at + 2u] = v.z; }
  if (count > 3u) { out[at + 3u] = v.w; }
}

// mode='area' (adaptive_avg_pool2d): output row i averages input rows
// [floor(i*H/oh), ceil((i+1)*H/oh)), likewise columns. Summed row-major in
// f32 and divided by the row count, then the column count, as PyTorch's CPU
// kernel does, so integer-valued images give bit-identical results.
@compute @workgroup_size(64)
fn area(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = linear_index(gid, nwg, 64u);
  if (p >= u.pixels) { return; }
  let row = p / u.out_w;
  let x = p - row * u.out_w;
  let b = row / u.out_h;
  let y = row - b * u.out_h;
  let y0 = (y * u.in_h) / u.out_h;
  let y1 = ((y + 1u) * u.in_h + u.out_h - 1u) / u.out_h;
  let x0 = (x * u.in_w) / u.out_w;
  let x1 = ((x + 1u) * u.in_w + u.out_w - 1u) / u.out_w;
  let rows = f32(y1 - y0);
  let cols = f32(x1 - x0);
  for (var c = 0u; c < u.channels; c += 4u) {
    let count = min(4u, u.channels - c);
    var sum = vec4<f32>(0.0);
    for (var yy = y0; yy < y1; yy++) {
      let line = (b * u.in_h + yy) * u.in_w;
      for (var xx = x0; xx < x1; xx++) { sum += load4((line + xx) * u.channels + c, count); }
    }
    store4(p * u.channels + c, count, (sum / rows / cols - u.mean) * u.scale);
  }
}

// Source position of output index `d` along an axis, as PyTorch's
// area_pixel_compute_source_index (linear, not cubic).
fn linear_source(d: u32, in_size: u32, out_size: u32) -> f32 {
  if (u.align_corners == 1u) {
    if (out_size <= 1u) { return 0.0; }
    return f32(in_size - 1u) / f32(out_size - 1u) * f32(d);
  }
  return max(f32(in_size) / f32(out_size) * (f32(d) + 0.5) - 0.5, 0.0);
}

// mode='bilinear': two taps per axis, the upper one clamped to the last pixel.
@compute @workgroup_size(64)
fn bilinear(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = linear_index(gid, nwg, 64u);
  if (p >= u.pixels) { return; }
  let row = p / u.out_w;
  let x = p - row * u.out_w;
  let b = row / u.out_h;
  let y = row - b * u.out_h;
  let sy = linear_source(y, u.in_h, u.out_h);
  let sx = linear_source(x, u.in_w, u.out_w);
  let y0 = u32(sy);
  let x0 = u32(sx);
  let y1 = min(y0 + 1u, u.in_h - 1u);
  let x1 = min(x0 + 1u, u.in_w - 1u);
  let ly = sy - f32(y0);
  let lx = sx - f32(x0);
  let top = (b * u.in_h + y0) * u.in_w;
  let bottom = (b * u.in_h + y1) * u.in_w;
  for (var c = 0u; c < u.channels; c += 4u) {
    let count = min(4u, u.channels - c);
    let t = (1.0 - lx) * load4((top + x0) * u.channels + c, count) + lx * load4((top + x1) * u.channels + c, count);
    let d = (1.0 - lx) * load4((bottom + x0) * u.channels + c, count) + lx * load4((bottom + x1) * u.channels + c, count);
    store4(p * u.channels + c, count, (1.0 - ly) * t + ly * d);
  }
}

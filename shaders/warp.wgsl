// Affine warp of NHWC images with an inverse map, bilinear: [K, out_h, out_w, C].
//
// OpenCV's warpAffine(..., WARP_INVERSE_MAP | INTER_LINEAR) convention: pixel
// (row i, column j) sits at the integer point (x = j, y = i), so output pixel
// (i, j) reads the source at
//   sx = m[0] * j + m[1] * i + m[2],  sy = m[3] * j + m[4] * i + m[5]
// and blends the four pixels around (sx, sy). No half-pixel offsets anywhere.
// Unlike OpenCV, the position is not quantised to 1/32 pixel (INTER_BITS).
//
// One thread per output pixel, channels in groups of four (see crop.wgsl).
//!include common.wgsl

struct Params {
  pixels: u32,            // output pixels, K * out_h * out_w
  images: u32,
  in_h: u32,
  in_w: u32,
  channels: u32,
  out_h: u32,
  out_w: u32,
  replicate_border: u32,  // 1: taps outside the image read the nearest edge pixel; 0: they read 0
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> img: array<f32>;
@group(0) @binding(2) var<storage, read> matrices: array<f32>;   // [K, 6], row-major 2x3
@group(0) @binding(3) var<storage, read> image_index: array<i32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

//!include pixel_access.wgsl

fn warp_pixel(p: u32, b: i32) {
  let cell = cell_of(p);
  if (b < 0 || b >= i32(u.images)) {
    store_zeros(p);
    return;
  }
  let m = cell.k * 6u;
  let ox = f32(cell.x);
  let oy = f32(cell.y);
  let sx = matrices[m] * ox + matrices[m + 1u] * oy + matrices[m + 2u];
  let sy = matrices[m + 3u] * ox + matrices[m + 4u] * oy + matrices[m + 5u];
  // Far outside the image every tap is a border tap (all 0, or all the same
  // edge pixel), so clamping the position there changes nothing and keeps the
  // i32 conversions below in range.
  let limit = f32(max(u.in_h, u.in_w)) + 2.0;
  store_bilinear(p, u32(b), clamp(sx, -limit, limit), clamp(sy, -limit, limit), u.replicate_border == 1u);
}

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = linear_index(gid, nwg, 64u);
  if (p < u.pixels) { warp_pixel(p, 0); }
}

@compute @workgroup_size(64)
fn forward_indexed(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = linear_index(gid, nwg, 64u);
  if (p < u.pixels) { warp_pixel(p, image_index[cell_of(p).k]); }
}

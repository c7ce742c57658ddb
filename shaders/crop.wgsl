// Crops of boxes from NHWC images, resized: [K, out_h, out_w, C].
//
// One thread per output pixel, channels in groups of four (see resize.wgsl).
//!include common.wgsl

struct Params {
  pixels: u32,        // output pixels, K * out_h * out_w
  images: u32,
  in_h: u32,
  in_w: u32,
  channels: u32,
  out_h: u32,
  out_w: u32,
  zero_outside: u32,  // 1: pixels outside the image read 0; 0: clip (area) / clamp (bilinear)
  // area only: outputs are written as (v - mean) * scale per channel (the
  // normalisation of image.wgsl fused in; 0 and 1 leave them as they are).
  mean: vec4<f32>,
  scale: vec4<f32>,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> img: array<f32>;
@group(0) @binding(2) var<storage, read> boxes: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> box_image: array<i32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

//!include pixel_access.wgsl

// facenet-pytorch's R-Net/O-Net input: the box is truncated to ints read as
// 1-based inclusive pixels (rows trunc(y1)-1 .. trunc(y2)-1), clipped to the
// image unless zero_outside, then area-resized (adaptive_avg_pool2d over the
// crop, see resize.wgsl). An empty crop gives zeros.
fn area_crop(p: u32, b: i32) {
  let cell = cell_of(p);
  let box = boxes[cell.k];
  var x0 = i32(trunc(box.x)) - 1;
  var y0 = i32(trunc(box.y)) - 1;
  var x1 = i32(trunc(box.z));
  var y1 = i32(trunc(box.w));
  if (u.zero_outside == 0u) {
    x0 = max(x0, 0);
    y0 = max(y0, 0);
    x1 = min(x1, i32(u.in_w));
    y1 = min(y1, i32(u.in_h));
  }
  if (b < 0 || b >= i32(u.images) || y1 <= y0 || x1 <= x0) {
    // Zeros, normalised like every other output.
    for (var c = 0u; c < u.channels; c += 4u) { store4(p * u.channels + c, min(4u, u.channels - c), (vec4<f32>(0.0) - u.mean) * u.scale); }
    return;
  }
  let crop_h = u32(y1 - y0);
  let crop_w = u32(x1 - x0);
  let wy0 = (cell.y * crop_h) / u.out_h;
  let wy1 = ((cell.y + 1u) * crop_h + u.out_h - 1u) / u.out_h;
  let wx0 = (cell.x * crop_w) / u.out_w;
  let wx1 = ((cell.x + 1u) * crop_w + u.out_w - 1u) / u.out_w;
  let rows = f32(wy1 - wy0);
  let cols = f32(wx1 - wx0);
  for (var c = 0u; c < u.channels; c += 4u) {
    let count = min(4u, u.channels - c);
    var sum = vec4<f32>(0.0);
    for (var yy = wy0; yy < wy1; yy++) {
      for (var xx = wx0; xx < wx1; xx++) { sum += load4(u32(b), y0 + i32(yy), x0 + i32(xx), c, count); }
    }
    store4(p * u.channels + c, count, (sum / rows / cols - u.mean) * u.scale);
  }
}

// A continuous box in pixel-edge coordinates (pixel x spans [x, x+1)): the
// output cell centres are spread evenly over it and sampled bilinearly. Taps
// outside the image read 0, or the nearest edge pixel when clamping.
fn bilinear_crop(p: u32, b: i32) {
  let cell = cell_of(p);
  if (b < 0 || b >= i32(u.images)) {
    store_zeros(p);
    return;
  }
  let box = boxes[cell.k];
  let sy = box.y + (f32(cell.y) + 0.5) * (box.w - box.y) / f32(u.out_h) - 0.5;
  let sx = box.x + (f32(cell.x) + 0.5) * (box.z - box.x) / f32(u.out_w) - 0.5;
  store_bilinear(p, u32(b), sx, sy, u.zero_outside == 0u);
}

@compute @workgroup_size(64)
fn area(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = linear_index(gid, nwg, 64u);
  if (p < u.pixels) { area_crop(p, 0); }
}

@compute @workgroup_size(64)
fn area_indexed(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = linear_index(gid, nwg, 64u);
  if (p < u.pixels) { area_crop(p, box_image[cell_of(p).k]); }
}

@compute @workgroup_size(64)
fn bilinear(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = linear_index(gid, nwg, 64u);
  if (p < u.pixels) { bilinear_crop(p, 0); }
}

@compute @workgroup_size(64)
fn bilinear_indexed(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = linear_index(gid, nwg, 64u);
  if (p < u.pixels) { bilinear_crop(p, box_image[cell_of(p).k]); }
}

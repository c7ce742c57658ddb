// Area resizing of packed RGBA8 images through a summed-area table: the
// MTCNN pyramid resizes one photo to a dozen sizes, and adaptive average
// pooling reads the whole photo for every one of them; with the table each
// output pixel is four lookups.
//
// sat is [(h + 1) x (w + 1)] vec4<u32>: sat[y][x] = sum of pixels [0, y) x
// [0, x) per channel (RGBA, alpha unused). Integer sums are exact (u32 holds
// 255 * 16.8M pixels), so a window's sum equals the f32 row-major sum of
// resize.wgsl's area kernel whenever that sum stays below 2^24, where every
// f32 partial sum of integers is exact too; the host checks the bound and then
// the outputs are bit-identical.
//!include common.wgsl

struct Table { h: u32, w: u32, }
@group(0) @binding(0) var<uniform> tu: Table;
@group(0) @binding(1) var<storage, read> pixels: array<u32>;
@group(0) @binding(2) var<storage, read_write> sat: array<vec4<u32>>;

fn rgba(p: u32) -> vec4<u32> {
  return vec4<u32>(p & 0xffu, (p >> 8u) & 0xffu, (p >> 16u) & 0xffu, p >> 24u);
}

// Pass 1: prefix sums along each row (thread y < h: row y + 1; thread h: the zero row 0).
@compute @workgroup_size(64)
fn rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let y = linear_index(gid, nwg, 64u);
  if (y > tu.h) { return; }
  let stride = tu.w + 1u;
  if (y == tu.h) {
    for (var x = 0u; x <= tu.w; x++) { sat[x] = vec4<u32>(0u); }
    return;
  }
  let line = (y + 1u) * stride;
  var acc = vec4<u32>(0u);
  sat[line] = acc;
  for (var x = 0u; x < tu.w; x++) {
    acc += rgba(pixels[y * tu.w + x]);
    sat[line + x + 1u] = acc;
  }
}

// Pass 2: prefix sums down each column, COLS neighbouring columns per thread
// (thread t: columns COLS * t ..). A row of the table is (w + 1) * 16 bytes,
// so every step down a column lands on another page: on a CPU adapter a
// subgroup of 8 threads with one column each touches 128 bytes per page and
// the pass ran at ~5 GB/s (26.8 ms for a 2048x1991 photo), with 8 columns
// each 1 KB and ~8 GB/s (16.3 ms). GPUs want a thread per column.
override COLS: u32 = 1u; // at most MAX_COLS
const MAX_COLS = 8u;

@compute @workgroup_size(64)
fn columns(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let x0 = COLS * linear_index(gid, nwg, 64u);
  if (x0 > tu.w) { return; }
  let stride = tu.w + 1u;
  var acc: array<vec4<u32>, MAX_COLS>;
  for (var y = 1u; y <= tu.h; y++) {
    for (var j = 0u; j < COLS; j++) {
      let at = y * stride + min(x0 + j, tu.w);
      acc[j] += sat[at];
      if (x0 + j <= tu.w) { sat[at] = acc[j]; }
    }
  }
}

struct Area {
  pixels: u32, // output pixels, out_h * out_w
  in_h: u32, in_w: u32, out_h: u32, out_w: u32,
  mean: vec4<f32>,
  scale: vec4<f32>,
}
@group(0) @binding(0) var<uniform> au: Area;
@group(0) @binding(1) var<storage, read> table: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// [1, out_h, out_w, 3] f32: the window of resize.wgsl's area kernel, its sum
// from four table entries, divided by the row count then the column count,
// then (v - mean) * scale.
@compute @workgroup_size(64)
fn area(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = linear_index(gid, nwg, 64u);
  if (p >= au.pixels) { return; }
  let y = p / au.out_w;
  let x = p - y * au.out_w;
  let y0 = (y * au.in_h) / au.out_h;
  let y1 = ((y + 1u) * au.in_h + au.out_h - 1u) / au.out_h;
  let x0 = (x * au.in_w) / au.out_w;
  let x1 = ((x + 1u) * au.in_w + au.out_w - 1u) / au.out_w;
  let stride = au.in_w + 1u;
  let s = table[y1 * stride + x1] - table[y0 * stride + x1] - table[y1 * stride + x0] + table[y0 * stride + x0];
  let v = (vec4<f32>(s) / f32(y1 - y0) / f32(x1 - x0) - au.mean) * au.scale;
  out[3u * p] = v.x;
  out[3u * p + 1u] = v.y;
  out[3u * p + 2u] = v.z;
}

struct Crop {
  pixels: u32, // output pixels, K * out_h * out_w
  in_h: u32, in_w: u32, out_h: u32, out_w: u32,
  mean: vec4<f32>,
  scale: vec4<f32>,
}
@group(0) @binding(0) var<uniform> cu: Crop;
@group(0) @binding(3) var<storage, read> boxes: array<vec4<f32>>;

// crop.wgsl's area crops with outside = 'clip' (the facenet-pytorch rule:
// box truncated to 1-based inclusive pixels, clipped to the image, then area
// resized; an empty crop gives normalised zeros), window sums from the table:
// [K, out_h, out_w, 3].
@compute @workgroup_size(64)
fn crop_area(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = linear_index(gid, nwg, 64u);
  if (p >= cu.pixels) { return; }
  let row = p / cu.out_w;
  let k = row / cu.out_h;
  let cy = row - k * cu.out_h;
  let cx = p - row * cu.out_w;
  let box = boxes[k];
  let x0 = max(i32(trunc(box.x)) - 1, 0);
  let y0 = max(i32(trunc(box.y)) - 1, 0);
  let x1 = min(i32(trunc(box.z)), i32(cu.in_w));
  let y1 = min(i32(trunc(box.w)), i32(cu.in_h));
  var v = vec4<f32>(0.0);
  if (y1 > y0 && x1 > x0) {
    let crop_h = u32(y1 - y0);
    let crop_w = u32(x1 - x0);
    let wy0 = u32(y0) + (cy * crop_h) / cu.out_h;
    let wy1 = u32(y0) + ((cy + 1u) * crop_h + cu.out_h - 1u) / cu.out_h;
    let wx0 = u32(x0) + (cx * crop_w) / cu.out_w;
    let wx1 = u32(x0) + ((cx + 1u) * crop_w + cu.out_w - 1u) / cu.out_w;
    let stride = cu.in_w + 1u;
    let s = table[wy1 * stride + wx1] - table[wy0 * stride + wx1] - table[wy1 * stride + wx0] + table[wy0 * stride + wx0];
    v = vec4<f32>(s) / f32(wy1 - wy0) / f32(wx1 - wx0);
  }
  v = (v - cu.mean) * cu.scale;
  out[3u * p] = v.x;
  out[3u * p + 1u] = v.y;
  out[3u * p + 2u] = v.z;
}

// Per-pixel addressing shared by the crop and warp kernels, pulled in with
// `//!include pixel_access.wgsl`. The including shader declares a uniform `u`
// with in_h, in_w, channels, out_h, out_w, an input `img: array<f32>` (NHWC)
// and an output `out: array<f32>` ([K, out_h, out_w, channels]).

// Output pixel p as (crop k, row y, column x).
struct Cell { k: u32, y: u32, x: u32, }

fn cell_of(p: u32) -> Cell {
  let row = p / u.out_w;
  let k = row / u.out_h;
  return Cell(k, row - k * u.out_h, p - row * u.out_w);
}

// Up to four channels from pixel (y, x) of image b; 0 outside the image.
fn load4(b: u32, y: i32, x: i32, c: u32, count: u32) -> vec4<f32> {
  if (y < 0 || x < 0 || y >= i32(u.in_h) || x >= i32(u.in_w)) { return vec4<f32>(0.0); }
  let at = ((b * u.in_h + u32(y)) * u.in_w + u32(x)) * u.channels + c;
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

fn store_zeros(p: u32) {
  for (var c = 0u; c < u.channels; c++) { out[p * u.channels + c] = 0.0; }
}

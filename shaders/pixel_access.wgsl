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

// Writes output pixel p as the bilinear blend of image b around source point
// (sx, sy) (integer pixel coordinates). Taps outside the image read 0, or the
// nearest edge pixel when clamp_to_edge.
fn store_bilinear(p: u32, b: u32, sx: f32, sy: f32, clamp_to_edge: bool) {
  let fx = floor(sx);
  let fy = floor(sy);
  let lx = sx - fx;
  let ly = sy - fy;
  var x0 = i32(fx);
  var y0 = i32(fy);
  var x1 = x0 + 1;
  var y1 = y0 + 1;
  if (clamp_to_edge) {
    x0 = clamp(x0, 0, i32(u.in_w) - 1);
    x1 = clamp(x1, 0, i32(u.in_w) - 1);
    y0 = clamp(y0, 0, i32(u.in_h) - 1);
    y1 = clamp(y1, 0, i32(u.in_h) - 1);
  }
  for (var c = 0u; c < u.channels; c += 4u) {
    let count = min(4u, u.channels - c);
    let top = (1.0 - lx) * load4(b, y0, x0, c, count) + lx * load4(b, y0, x1, c, count);
    let bottom = (1.0 - lx) * load4(b, y1, x0, c, count) + lx * load4(b, y1, x1, c, count);
    store4(p * u.channels + c, count, (1.0 - ly) * top + ly * bottom);
  }
}

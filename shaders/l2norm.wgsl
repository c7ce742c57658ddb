// y = x / max(||x||_2, eps) along one axis, forward and backward.
//
// Rows as in softmax.wgsl: the tensor is read as [outer, len, inner] and row r
// holds `len` elements `inner` apart. `*_rows` gives a row to one thread,
// `*_wg` gives it to a workgroup; threadPerRow in engine/ops/softmax.ts chooses.
//
// Backward, with n = ||x||: where n > eps, dx = g / n - x (x . g) / n^3;
// where n <= eps the divisor is the constant eps and dx = g / eps. Both need
// only x and g, so the forward saves nothing.
//!include common.wgsl

override WG: u32 = 64u;

struct Params { rows: u32, len: u32, inner: u32, eps: f32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

fn row_start(row: u32) -> u32 {
  return (row / u.inner) * u.len * u.inner + row % u.inner;
}

fn at(row_base: u32, k: u32) -> u32 { return row_base + k * u.inner; }

// From (sum x^2, x . g): f = (1 / divisor, (x . g) / n^2 where the divisor is
// the norm, else 0), so that dx = (g - x * f.y) * f.x in both cases.
fn backward_factors(sq: f32, dot: f32) -> vec2<f32> {
  let n = sqrt(sq);
  if (n > u.eps) { return vec2(1.0 / n, dot / sq); }
  return vec2(1.0 / u.eps, 0.0);
}

@compute @workgroup_size(64)
fn forward_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = linear_index(gid, nwg, 64u);
  if (row >= u.rows) { return; }
  let base = row_start(row);
  var sq = 0.0;
  for (var k = 0u; k < u.len; k++) { let v = x[at(base, k)]; sq = fma(v, v, sq); }
  let inv = 1.0 / max(sqrt(sq), u.eps);
  for (var k = 0u; k < u.len; k++) { y[at(base, k)] = x[at(base, k)] * inv; }
}

@compute @workgroup_size(64)
fn backward_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = linear_index(gid, nwg, 64u);
  if (row >= u.rows) { return; }
  let base = row_start(row);
  var acc = vec2(0.0);
  for (var k = 0u; k < u.len; k++) {
    let i = at(base, k);
    acc = fma(vec2(x[i]), vec2(x[i], g[i]), acc);
  }
  let f = backward_factors(acc.x, acc.y);
  for (var k = 0u; k < u.len; k++) {
    let i = at(base, k);
    dx[i] = (g[i] - x[i] * f.y) * f.x;
  }
}

var<workgroup> partial: array<vec2<f32>, WG>;

fn wg_sum2(v: vec2<f32>, lane: u32) -> vec2<f32> {
  partial[lane] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { partial[lane] += partial[lane + s]; }
    workgroupBarrier();
  }
  return partial[0];
}

@compute @workgroup_size(WG)
fn forward_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.rows) { return; }
  let base = row_start(row);
  var sq = 0.0;
  for (var k = lane; k < u.len; k += WG) { let v = x[at(base, k)]; sq = fma(v, v, sq); }
  let inv = 1.0 / max(sqrt(wg_sum2(vec2(sq, 0.0), lane).x), u.eps);
  for (var k = lane; k < u.len; k += WG) { y[at(base, k)] = x[at(base, k)] * inv; }
}

@compute @workgroup_size(WG)
fn backward_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.rows) { return; }
  let base = row_start(row);
  var acc = vec2(0.0);
  for (var k = lane; k < u.len; k += WG) {
    let i = at(base, k);
    acc = fma(vec2(x[i]), vec2(x[i], g[i]), acc);
  }
  acc = wg_sum2(acc, lane);
  let f = backward_factors(acc.x, acc.y);
  for (var k = lane; k < u.len; k += WG) {
    let i = at(base, k);
    dx[i] = (g[i] - x[i] * f.y) * f.x;
  }
}

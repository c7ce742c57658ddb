// softmax / log_softmax along one axis, forward and backward.
//
// The tensor is read as [outer, len, inner] with the reduced axis in the
// middle: "row" r = (o, i) holds the `len` elements starting at
// row_start(r) and `inner` apart (inner = 1 for the last axis).
//
// Two variants per pass: `*_rows` gives each row to one thread (short rows,
// e.g. MTCNN's 2 classes, and most rows on the software adapter); `*_wg` gives
// each row to a workgroup whose lanes take every WG-th element and combine
// their partial results in workgroup memory (long rows on GPUs, e.g. 10k
// identities). engine/ops/softmax.ts (threadPerRow) chooses.
//!include common.wgsl

// 0: softmax, 1: log_softmax.
override LOG: u32 = 0u;
// Lanes per row in the *_wg variants; a power of two.
override WG: u32 = 64u;

struct Params { rows: u32, len: u32, inner: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// The backward reads the forward's output y (as `saved`) and the gradient g.
@group(0) @binding(1) var<storage, read> saved: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

// Lowest finite f32: the identity of max() that keeps exp(identity - m) = 0
// instead of producing inf - inf.
const LOWEST: f32 = -0x1.fffffep+127f;

fn row_start(row: u32) -> u32 {
  return (row / u.inner) * u.len * u.inner + row % u.inner;
}

fn at(row_base: u32, k: u32) -> u32 { return row_base + k * u.inner; }

// Running (max, sum of exp(v - max)) of a sequence, one value at a time:
// rescaling the sum when the max grows keeps one pass and one exp per value.
fn push(ms: vec2<f32>, v: f32) -> vec2<f32> {
  if (v > ms.x) { return vec2(v, fma(ms.y, exp(ms.x - v), 1.0)); }
  return vec2(ms.x, ms.y + exp(v - ms.x));
}

// Merges two (max, sum) pairs.
fn merge(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

fn output(v: f32, ms: vec2<f32>) -> f32 {
  if (LOG == 1u) { return v - ms.x - log(ms.y); }
  return exp(v - ms.x) / ms.y;
}

// softmax: dx = y * (g - sum(g * y)); log_softmax: dx = g - exp(y) * sum(g).
fn grad_term(s: f32, gv: f32) -> f32 {
  if (LOG == 1u) { return gv; }
  return gv * s;
}

fn grad_out(s: f32, gv: f32, total: f32) -> f32 {
  if (LOG == 1u) { return gv - exp(s) * total; }
  return s * (gv - total);
}

@compute @workgroup_size(64)
fn forward_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = linear_index(gid, nwg, 64u);
  if (row >= u.rows) { return; }
  let base = row_start(row);
  var ms = vec2(LOWEST, 0.0);
  for (var k = 0u; k < u.len; k++) { ms = push(ms, x[at(base, k)]); }
  for (var k = 0u; k < u.len; k++) { y[at(base, k)] = output(x[at(base, k)], ms); }
}

@compute @workgroup_size(64)
fn backward_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = linear_index(gid, nwg, 64u);
  if (row >= u.rows) { return; }
  let base = row_start(row);
  var total = 0.0;
  for (var k = 0u; k < u.len; k++) { total += grad_term(saved[at(base, k)], g[at(base, k)]); }
  for (var k = 0u; k < u.len; k++) {
    let i = at(base, k);
    dx[i] = grad_out(saved[i], g[i], total);
  }
}

var<workgroup> pairs: array<vec2<f32>, WG>;
var<workgroup> sums: array<f32, WG>;

fn wg_merge(v: vec2<f32>, lane: u32) -> vec2<f32> {
  pairs[lane] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { pairs[lane] = merge(pairs[lane], pairs[lane + s]); }
    workgroupBarrier();
  }
  return pairs[0];
}

fn wg_sum(v: f32, lane: u32) -> f32 {
  sums[lane] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { sums[lane] += sums[lane + s]; }
    workgroupBarrier();
  }
  return sums[0];
}

// One workgroup per row; rows past 65535 spill into the grid's y.
@compute @workgroup_size(WG)
fn forward_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.rows) { return; }
  let base = row_start(row);
  var ms = vec2(LOWEST, 0.0);
  for (var k = lane; k < u.len; k += WG) { ms = push(ms, x[at(base, k)]); }
  ms = wg_merge(ms, lane);
  for (var k = lane; k < u.len; k += WG) { y[at(base, k)] = output(x[at(base, k)], ms); }
}

@compute @workgroup_size(WG)
fn backward_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.rows) { return; }
  let base = row_start(row);
  var part = 0.0;
  for (var k = lane; k < u.len; k += WG) { part += grad_term(saved[at(base, k)], g[at(base, k)]); }
  let total = wg_sum(part, lane);
  for (var k = lane; k < u.len; k += WG) {
    let i = at(base, k);
    dx[i] = grad_out(saved[i], g[i], total);
  }
}

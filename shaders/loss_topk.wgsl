// Mean of the k largest values (online hard-example mining: keep the hardest
// fraction of per-sample losses), among the values whose mask is non-zero;
// k = round(fraction * count), at least 1; the loss is 0 when count is 0.
//
// Selection without sorting: values map to u32 keys that order like the
// floats, and a binary search over the key's 32 bits finds T, the key of the
// k-th largest value (the largest T with at least k keys >= T), one
// workgroup-wide count per bit. Values above T are all selected; of the c_eq
// values equal to T, k - c_gt are, and since they are equal the mean is
//   (sum of values > T + (k - c_gt) * value(T)) / k.
// The backward spreads the gradient the same way: 1/k to each value above T,
// (k - c_gt) / (c_eq k) to each value equal to T (a symmetric subgradient at ties).
//
// One workgroup: mining runs once per step on a batch's per-sample losses.
//!include common.wgsl

override WG: u32 = 256u;

struct ForwardParams { n: u32, fraction: f32, mask_stride: u32, }
@group(0) @binding(0) var<uniform> fu: ForwardParams;
@group(0) @binding(1) var<storage, read> values: array<f32>;
// mask[i * mask_stride]: mask_stride 0 with a single 1 selects from all values.
@group(0) @binding(2) var<storage, read> mask: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
// (T, c_gt, c_eq, k) for the backward.
@group(0) @binding(4) var<storage, read_write> selection: vec4<u32>;

var<workgroup> counts: array<u32, WG>;
var<workgroup> sums: array<f32, WG>;

// Order-preserving map of f32 bits to u32: flip all bits of negatives, only
// the sign bit of positives.
fn key(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn value_of(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u));
}

fn wg_count(c: u32, lane: u32) -> u32 {
  counts[lane] = c;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { counts[lane] += counts[lane + s]; }
    workgroupBarrier();
  }
  let total = counts[0];
  workgroupBarrier(); // everyone has read counts[0] before the next call writes it
  return total;
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

fn included(i: u32) -> bool { return mask[i * fu.mask_stride] != 0.0; }

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) lane: u32) {
  var mine = 0u;
  for (var i = lane; i < fu.n; i += WG) { mine += select(0u, 1u, included(i)); }
  let count = wg_count(mine, lane);
  let k = clamp(u32(floor(fu.fraction * f32(count) + 0.5)), 1u, max(count, 1u));

  var t = 0u;
  for (var bit = 31i; bit >= 0i; bit--) {
    let candidate = t | (1u << u32(bit));
    var above = 0u;
    for (var i = lane; i < fu.n; i += WG) { above += select(0u, 1u, included(i) && key(values[i]) >= candidate); }
    if (wg_count(above, lane) >= k) { t = candidate; }
  }

  var greater = 0u;
  var equal = 0u;
  var sum_greater = 0.0;
  for (var i = lane; i < fu.n; i += WG) {
    if (!included(i)) { continue; }
    let key_i = key(values[i]);
    if (key_i > t) { greater++; sum_greater += values[i]; }
    if (key_i == t) { equal++; }
  }
  greater = wg_count(greater, lane);
  equal = wg_count(equal, lane);
  sum_greater = wg_sum(sum_greater, lane);
  if (lane == 0u) {
    if (count == 0u) {
      loss[0] = 0.0;
      selection = vec4(0u);
    } else {
      loss[0] = (sum_greater + f32(k - greater) * value_of(t)) / f32(k);
      selection = vec4(t, greater, equal, k);
    }
  }
}

struct BackwardParams { n: u32, mask_stride: u32, }
@group(0) @binding(0) var<uniform> bu: BackwardParams;
@group(0) @binding(3) var<storage, read> saved_selection: vec4<u32>;
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= bu.n) { return; }
  let sel = saved_selection;
  let key_i = key(values[i]);
  var share = 0.0;
  if (sel.w > 0u && mask[i * bu.mask_stride] != 0.0) {
    if (key_i > sel.x) { share = 1.0 / f32(sel.w); }
    if (key_i == sel.x) { share = f32(sel.w - sel.y) / (f32(sel.z) * f32(sel.w)); }
  }
  dx[i] = g[0] * share;
}

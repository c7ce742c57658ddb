// Softmax cross-entropy of logits [N, C] against integer labels [N].
//
// Forward, per row i: lse_i = log(sum_j exp(x_ij)) (max-subtracted), loss_i =
// lse_i - x_i[label_i], weighted by w_i. A label outside [0, C) or equal to
// `ignore_index` gives the row weight 0 (label values cannot be checked on the
// host without a readback, so the kernel ignores what it cannot use; MTCNN's
// part/landmark labels -1/-2 drop out this way). Writes the weighted term, the
// weight (for loss_reduce.wgsl) and lse_i (so the backward is elementwise).
//
// Backward, per element: dx_ij = g_i * w_i * (exp(x_ij - lse_i) - [j == label_i]).
//
// Forward variants as in softmax.wgsl: `forward_rows` (one thread per row) and
// `forward_wg` (a workgroup per row), chosen by threadPerRow in engine/ops/softmax.ts.
//!include common.wgsl

override WG: u32 = 64u;

struct ForwardParams { rows: u32, len: u32, weight_stride: u32, ignore_index: i32, }
@group(0) @binding(0) var<uniform> fu: ForwardParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
// One weight per row, or (weight_stride 0) one for all rows.
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> terms: array<f32>;
@group(0) @binding(5) var<storage, read_write> term_weight: array<f32>;
@group(0) @binding(6) var<storage, read_write> row_lse: array<f32>;

const LOWEST: f32 = -0x1.fffffep+127f;

// Running (max, sum of exp(v - max)), as in softmax.wgsl.
fn push(ms: vec2<f32>, v: f32) -> vec2<f32> {
  if (v > ms.x) { return vec2(v, fma(ms.y, exp(ms.x - v), 1.0)); }
  return vec2(ms.x, ms.y + exp(v - ms.x));
}

fn merge(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

fn finish_row(row: u32, ms: vec2<f32>) {
  let label = labels[row];
  let valid = label >= 0 && label < i32(fu.len) && label != fu.ignore_index;
  let w = select(0.0, weight[row * fu.weight_stride], valid);
  let lse = ms.x + log(ms.y);
  let picked = logits[row * fu.len + u32(clamp(label, 0, i32(fu.len) - 1))];
  // select(), not w * loss: a zero weight must give 0 even if the row holds inf.
  terms[row] = select(0.0, w * (lse - picked), w != 0.0);
  term_weight[row] = w;
  row_lse[row] = lse;
}

@compute @workgroup_size(64)
fn forward_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = linear_index(gid, nwg, 64u);
  if (row >= fu.rows) { return; }
  var ms = vec2(LOWEST, 0.0);
  for (var k = 0u; k < fu.len; k++) { ms = push(ms, logits[row * fu.len + k]); }
  finish_row(row, ms);
}

var<workgroup> pairs: array<vec2<f32>, WG>;

@compute @workgroup_size(WG)
fn forward_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= fu.rows) { return; }
  var ms = vec2(LOWEST, 0.0);
  for (var k = lane; k < fu.len; k += WG) { ms = push(ms, logits[row * fu.len + k]); }
  pairs[lane] = ms;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { pairs[lane] = merge(pairs[lane], pairs[lane + s]); }
    workgroupBarrier();
  }
  if (lane == 0u) { finish_row(row, pairs[0]); }
}

struct BackwardParams { n: u32, len: u32, g_stride: u32, }
@group(0) @binding(0) var<uniform> bu: BackwardParams;
@group(0) @binding(3) var<storage, read> saved_weight: array<f32>;
@group(0) @binding(4) var<storage, read> saved_lse: array<f32>;
// dL/d(term i) = g[i * g_stride]: per-sample for reduction 'none', else one value.
@group(0) @binding(5) var<storage, read> g: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= bu.n) { return; }
  let row = i / bu.len;
  let w = saved_weight[row];
  let p = exp(logits[i] - saved_lse[row]);
  let onehot = select(0.0, 1.0, i32(i % bu.len) == labels[row]);
  dx[i] = select(0.0, g[row * bu.g_stride] * w * (p - onehot), w != 0.0);
}

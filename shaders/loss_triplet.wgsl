// FaceNet triplet loss on anchor, positive, negative [N, D].
//
// Per triplet: d_p = ||a - p||^2, d_n = ||a - n||^2 (squared = 1) or the plain
// Euclidean distances (squared = 0); hinge h = d_p - d_n + margin, term
// max(h, 0). A triplet is "hard" (active) when h > 0, i.e. d_n - d_p < margin;
// with hard_only the weight is 1 for active triplets and 0 otherwise, so a mean
// averages over the hard ones only.
//
// Forward: one thread per triplet (N is a few hundred and D at most 512: the
// loop is cheap next to the network). It saves (d_p, d_n) for the backward.
// Backward, per element, for active triplets (with k = 2 for squared
// distances, 1 / d for plain ones):
//   da = g (k_p (a - p) - k_n (a - n)),  dp = -g k_p (a - p),  dn = g k_n (a - n)
//!include common.wgsl

struct ForwardParams { rows: u32, len: u32, margin: f32, squared: u32, hard_only: u32, }
@group(0) @binding(0) var<uniform> fu: ForwardParams;
@group(0) @binding(1) var<storage, read> anchor: array<f32>;
@group(0) @binding(2) var<storage, read> positive: array<f32>;
@group(0) @binding(3) var<storage, read> negative: array<f32>;
@group(0) @binding(4) var<storage, read_write> terms: array<f32>;
@group(0) @binding(5) var<storage, read_write> term_weight: array<f32>;
// (d_p, d_n) per triplet.
@group(0) @binding(6) var<storage, read_write> distances: array<vec2<f32>>;

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = linear_index(gid, nwg, 64u);
  if (row >= fu.rows) { return; }
  var sq = vec2(0.0);
  for (var k = 0u; k < fu.len; k++) {
    let i = row * fu.len + k;
    let e = vec2(anchor[i] - positive[i], anchor[i] - negative[i]);
    sq = fma(e, e, sq);
  }
  let d = select(sqrt(sq), sq, fu.squared == 1u);
  let h = d.x - d.y + fu.margin;
  terms[row] = max(h, 0.0);
  term_weight[row] = select(1.0, select(0.0, 1.0, h > 0.0), fu.hard_only == 1u);
  distances[row] = d;
}

// Plain distances below this are treated as this in 1 / d: a triplet whose
// anchor equals its positive gets gradient 0 there instead of 0 / 0.
const MIN_DISTANCE: f32 = 1e-12;

struct BackwardParams { n: u32, len: u32, margin: f32, squared: u32, g_stride: u32, }
@group(0) @binding(0) var<uniform> bu: BackwardParams;
@group(0) @binding(4) var<storage, read> saved_distances: array<vec2<f32>>;
// dL/d(term i) = g[i * g_stride].
@group(0) @binding(5) var<storage, read> g: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_anchor: array<f32>;
@group(0) @binding(7) var<storage, read_write> d_positive: array<f32>;
@group(0) @binding(8) var<storage, read_write> d_negative: array<f32>;

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= bu.n) { return; }
  let row = i / bu.len;
  let d = saved_distances[row];
  // The same expression as the forward's, so both agree on which triplets are active.
  let hard = d.x - d.y + bu.margin > 0.0;
  let k = select(1.0 / max(d, vec2(MIN_DISTANCE)), vec2(2.0), bu.squared == 1u);
  let c = select(0.0, g[row * bu.g_stride], hard);
  let ep = (anchor[i] - positive[i]) * k.x * c;
  let en = (anchor[i] - negative[i]) * k.y * c;
  d_anchor[i] = ep - en;
  d_positive[i] = -ep;
  d_negative[i] = en;
}

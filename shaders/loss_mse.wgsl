// Masked mean squared error of pred and target [N, D] with a mask [N].
//
// Forward, one thread per sample (D is small: 4 box offsets, 10 landmark
// coordinates): term_i = m_i * mean_j (p_ij - t_ij)^2, weight m_i. A sample
// with m_i = 0 gives exactly 0, even if its target holds NaN or garbage.
// Backward, per element: dp_ij = g_i * m_i * 2 (p_ij - t_ij) / D.
//!include common.wgsl

struct ForwardParams { rows: u32, len: u32, }
@group(0) @binding(0) var<uniform> fu: ForwardParams;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> terms: array<f32>;
@group(0) @binding(5) var<storage, read_write> term_weight: array<f32>;

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = linear_index(gid, nwg, 64u);
  if (row >= fu.rows) { return; }
  let m = mask[row];
  var s = 0.0;
  for (var k = 0u; k < fu.len; k++) {
    let e = pred[row * fu.len + k] - targets[row * fu.len + k];
    s = fma(e, e, s);
  }
  terms[row] = select(0.0, m * s / f32(fu.len), m != 0.0);
  term_weight[row] = m;
}

struct BackwardParams { n: u32, len: u32, g_stride: u32, }
@group(0) @binding(0) var<uniform> bu: BackwardParams;
// dL/d(term i) = g[i * g_stride].
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read_write> dpred: array<f32>;

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= bu.n) { return; }
  let row = i / bu.len;
  let m = mask[row];
  let e = pred[i] - targets[i];
  dpred[i] = select(0.0, g[row * bu.g_stride] * m * 2.0 * e / f32(bu.len), m != 0.0);
}

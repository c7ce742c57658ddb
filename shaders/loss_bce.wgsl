// Binary cross-entropy on logits, elementwise, in the form that neither
// overflows nor loses the small terms:
//   loss = max(x, 0) - x t + log(1 + exp(-|x|))
//   dloss/dx = sigmoid(x) - t
// Each element's weight is weight[i / weight_div]: weight_div 1 for a weight
// per element, the row length for one per sample, n for a single weight.
//!include common.wgsl

struct ForwardParams { n: u32, weight_div: u32, }
@group(0) @binding(0) var<uniform> fu: ForwardParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> terms: array<f32>;
@group(0) @binding(5) var<storage, read_write> term_weight: array<f32>;

// log(1 + z) accurate for small z, where 1 + z rounds (Goldberg's trick).
fn log1p(z: f32) -> f32 {
  let u = 1.0 + z;
  if (u == 1.0) { return z; }
  return log(u) * z / (u - 1.0);
}

fn sigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= fu.n) { return; }
  let x = logits[i];
  let w = weight[i / fu.weight_div];
  let l = max(x, 0.0) - x * targets[i] + log1p(exp(-abs(x)));
  terms[i] = select(0.0, w * l, w != 0.0);
  term_weight[i] = w;
}

struct BackwardParams { n: u32, weight_div: u32, g_stride: u32, }
@group(0) @binding(0) var<uniform> bu: BackwardParams;
// dL/d(term i) = g[i * g_stride].
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= bu.n) { return; }
  let w = weight[i / bu.weight_div];
  dx[i] = select(0.0, g[i * bu.g_stride] * w * (sigmoid(logits[i]) - targets[i]), w != 0.0);
}

// In-place Adam / AdamW step on one parameter tensor, PyTorch semantics:
//   g = grad + l2 * p                      (Adam's weight decay; 0 for AdamW)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   p = p * decay - step_size * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// with decay = 1 - lr * weight_decay for AdamW (1 for Adam) and
// step_size = lr / (1 - beta1^t). The bias corrections depend only on the step
// count, so the host computes them in float64 and passes them as uniforms.
//!include common.wgsl

struct Params {
  n: u32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  step_size: f32,
  inv_sqrt_bc2: f32,
  l2: f32,
  decay: f32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let p = param[i];
  let g = fma(u.l2, p, grad[i]);
  let m = fma(u.beta1, exp_avg[i], (1.0 - u.beta1) * g);
  let v = fma(u.beta2, exp_avg_sq[i], (1.0 - u.beta2) * g * g);
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  param[i] = fma(-u.step_size, m / fma(sqrt(v), u.inv_sqrt_bc2, u.eps), p * u.decay);
}

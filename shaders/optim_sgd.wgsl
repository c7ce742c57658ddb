// In-place SGD step on one parameter tensor, PyTorch semantics:
//   g = grad + weight_decay * p
//   buf = g on the first step, else momentum * buf + (1 - dampening) * g
//   d = nesterov ? g + momentum * buf : buf      (d = g without momentum)
//   p = p - lr * d
//!include common.wgsl

struct Params {
  n: u32,
  lr: f32,
  weight_decay: f32,
  momentum: f32,
  dampening: f32,
  nesterov: u32,
  first_step: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> momentum_buf: array<f32>;

@compute @workgroup_size(256)
fn plain(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let p = param[i];
  param[i] = fma(-u.lr, fma(u.weight_decay, p, grad[i]), p);
}

@compute @workgroup_size(256)
fn with_momentum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let p = param[i];
  let g = fma(u.weight_decay, p, grad[i]);
  // A fresh buffer holds whatever its pooled memory held (maybe NaN): select(),
  // not a multiply by zero, keeps it out of the first step.
  let buf = select(fma(u.momentum, momentum_buf[i], (1.0 - u.dampening) * g), g, u.first_step != 0u);
  momentum_buf[i] = buf;
  let d = select(buf, fma(u.momentum, buf, g), u.nesterov != 0u);
  param[i] = fma(-u.lr, d, p);
}

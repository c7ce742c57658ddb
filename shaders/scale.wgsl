// y = x * alpha + beta
//!include common.wgsl

struct Params { n: u32, alpha: f32, beta: f32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i < u.n) { y[i] = fma(x[i], u.alpha, u.beta); }
}

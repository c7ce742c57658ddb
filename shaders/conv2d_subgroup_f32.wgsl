// The GEMM conv kernels (conv2d_subgroup_body.wgsl) with outputs written a
// channel at a time: any channel count.
//!include conv2d_subgroup_body.wgsl

@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

// Writes channels at .. at + valid - 1 (valid: 0..4).
fn store_y(at: u32, v: vec4<f32>, valid: u32) {
  for (var j = 0u; j < valid; j++) { y[at + j] = v[j]; }
}

fn store_dx(at: u32, v: vec4<f32>, valid: u32) {
  for (var j = 0u; j < valid; j++) { dx[at + j] = v[j]; }
}

// The GEMM conv kernels (conv2d_subgroup_body.wgsl) with outputs written a
// vec4 of channels at a time. The host picks this file only when every
// group's output channels and every output row are multiples of 4, so a
// lane's 4 channels start on a vec4 and are all there or all past the end.
//!include conv2d_subgroup_body.wgsl

@group(0) @binding(4) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dx: array<vec4<f32>>;

// Writes channels at .. at + 3 (valid is 4), or nothing (valid is 0).
fn store_y(at: u32, v: vec4<f32>, valid: u32) {
  if (valid > 0u) { y[at / 4u] = v; }
}

fn store_dx(at: u32, v: vec4<f32>, valid: u32) {
  if (valid > 0u) { dx[at / 4u] = v; }
}

// Direct convolution (conv2d_direct_body.wgsl) reading each weight straight
// from w: every lane of a workgroup reads the same address, one cached read on
// a GPU. For adapters without subgroups of 8 or more lanes, and GPUs.

fn load_slots(first: u32, v0: u32, lane: u32) -> array<vec4<f32>, 4> {
  return array<vec4<f32>, 4>();
}

fn weight(slots: array<vec4<f32>, 4>, first: u32, v0: u32, k: u32) -> vec4<f32> {
  return weight_vec4(first, v0, k);
}

@compute @workgroup_size(WG)
fn forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  direct_forward(wid, nwg, lid, 0u);
}

//!include conv2d_direct_body.wgsl

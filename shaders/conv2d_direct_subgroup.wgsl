// Direct convolution (conv2d_direct_body.wgsl) for software adapters: a load
// inside a loop costs a scalar load per lane there even when every lane reads
// the same address, so the KW * NV weight vec4s of a kernel row and input
// channel are spread over the first 8 lanes of the subgroup (up to 4 each) and
// handed to every lane with subgroupShuffle from a compile-time lane, a
// register broadcast. Needs subgroups of 8 or more lanes; KW * NV <= 32.
enable subgroups;

fn load_slots(first: u32, v0: u32, lane: u32) -> array<vec4<f32>, 4> {
  var slots: array<vec4<f32>, 4>;
  for (var s = 0u; s < (KW * NV + 7u) / 8u; s++) {
    slots[s] = weight_vec4(first, v0, min(8u * s + lane % 8u, KW * NV - 1u));
  }
  return slots;
}

fn weight(slots: array<vec4<f32>, 4>, first: u32, v0: u32, k: u32) -> vec4<f32> {
  return subgroupShuffle(slots[k / 8u], k % 8u);
}

@compute @workgroup_size(WG)
fn forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) sg_lane: u32,
) {
  direct_forward(wid, nwg, lid, sg_lane);
}

//!include conv2d_direct_body.wgsl

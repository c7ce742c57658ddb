// The activation the conv kernels apply to a vec4 of outputs before storing
// it (included by conv2d_subgroup_body.wgsl and conv2d_direct_body.wgsl; the
// host sets ACT): 0 none, 1 relu, 2 relu6, 3 prelu with the channels' slopes a.
override ACT: u32 = 0u;

fn activate(v: vec4<f32>, a: vec4<f32>) -> vec4<f32> {
  switch ACT {
    case 1u: { return max(v, vec4(0.0)); }
    case 2u: { return clamp(v, vec4(0.0), vec4(6.0)); }
    case 3u: { return select(a * v, v, v > vec4(0.0)); }
    default: { return v; }
  }
}

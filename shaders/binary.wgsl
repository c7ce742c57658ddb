// y = a (op) b for add / sub / mul, with NumPy broadcasting.
//!include common.wgsl

// 0 add, 1 sub, 2 mul, 3 expand (y = a broadcast to the output's shape)
override OP: u32 = 0u;

struct Params {
  n: u32,
  rank: u32,
  // Output shape and both inputs' strides (0 along broadcast axes), up to 8 axes.
  out_shape: array<vec4<u32>, 2>,
  a_strides: array<vec4<u32>, 2>,
  b_strides: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

fn apply(x: f32, z: f32) -> f32 {
  switch OP {
    case 0u: { return x + z; }
    case 1u: { return x - z; }
    case 2u: { return x * z; }
    default: { return x; }
  }
}

fn dim(v: array<vec4<u32>, 2>, d: u32) -> u32 { return v[d / 4u][d % 4u]; }

// Both inputs have the output's shape.
@compute @workgroup_size(256)
fn same_shape(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i < u.n) { y[i] = apply(a[i], b[i]); }
}

// b has one element per channel (the last axis), broadcast over all others.
@compute @workgroup_size(256)
fn per_channel(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i < u.n) { y[i] = apply(a[i], b[i % dim(u.out_shape, u.rank - 1u)]); }
}

@compute @workgroup_size(256)
fn broadcast(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= u.n) { return; }
  var rest = i;
  var ia = 0u;
  var ib = 0u;
  for (var d = i32(u.rank) - 1; d >= 0; d--) {
    let size = dim(u.out_shape, u32(d));
    let c = rest % size;
    rest = rest / size;
    ia += c * dim(u.a_strides, u32(d));
    ib += c * dim(u.b_strides, u32(d));
  }
  y[i] = apply(a[ia], b[ib]);
}

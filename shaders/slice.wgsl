// A box of an N-d tensor (rank <= 8): `forward` cuts it out, `backward` puts a
// gradient back into a zero tensor of the full shape. Both are gathers with one
// thread per element written, moving 32-bit words (any dtype).
//!include common.wgsl

struct Params {
  n: u32,
  // The shape this dispatch writes, and the box's first corner in the full tensor.
  shape: array<vec4<u32>, 2>,
  begin: array<vec4<u32>, 2>,
  // Forward: the full tensor's shape. Backward: the box's extent.
  other_shape: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

// The rank is a pipeline constant so that the index loop unrolls and its
// shape lookups become register reads: about 2.5x faster on lavapipe than a
// loop over a runtime rank.
override RANK: u32 = 1u;

fn dim(v: array<vec4<u32>, 2>, d: u32) -> u32 { return v[d / 4u][d % 4u]; }

// dst = src[begin : begin + shape]
@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= u.n) { return; }
  var rest = i;
  var at = 0u;
  var stride = 1u;
  for (var d = i32(RANK) - 1; d >= 0; d--) {
    let size = dim(u.shape, u32(d));
    at += (rest % size + dim(u.begin, u32(d))) * stride;
    stride *= dim(u.other_shape, u32(d));
    rest = rest / size;
  }
  dst[i] = src[at];
}

// dst (the full shape) = src inside the box, 0 elsewhere.
@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= u.n) { return; }
  var rest = i;
  var at = 0u;
  var stride = 1u;
  var inside = true;
  for (var d = i32(RANK) - 1; d >= 0; d--) {
    let size = dim(u.shape, u32(d));
    let extent = dim(u.other_shape, u32(d));
    // Below `begin` this wraps to a huge value, so one comparison covers both sides.
    let c = rest % size - dim(u.begin, u32(d));
    inside = inside && c < extent;
    at += c * stride;
    stride *= extent;
    rest = rest / size;
  }
  var v = 0u;
  if (inside) { v = src[at]; }
  dst[i] = v;
}

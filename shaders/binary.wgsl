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

// ---- four elements per thread ---------------------------------------------------------
// For outputs whose last axis is a multiple of 4: each thread writes one vec4
// (the contiguous cases walk a grid-stride loop, the host sizing the grid for
// about VEC_ITEMS vec4s per thread), so indexing, bounds checks and per-thread
// overhead are paid once per 4 or more elements. `n` still counts scalars.

fn apply4(x: vec4<f32>, z: vec4<f32>) -> vec4<f32> {
  switch OP {
    case 0u: { return x + z; }
    case 1u: { return x - z; }
    case 2u: { return x * z; }
    default: { return x; }
  }
}

@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y4: array<vec4<f32>>;

// Both inputs have the output's shape; thread i writes vec4s i, i + T, ... (T threads).
@compute @workgroup_size(256)
fn same_shape_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  let total = nwg.x * nwg.y * 256u;
  let n4 = u.n / 4u;
  for (var j = i; j < n4; j += total) { y4[j] = apply4(a4[j], b4[j]); }
}

// b is [C], broadcast over the leading axes of a, C a multiple of 4. Thread i
// takes channel vec4 c = i % C4 and walks the vec4s i, i + S, ... with the
// stride S the largest multiple of C4 within the thread count, so c never
// changes: one division per thread, one load of b. The host launches at least
// C4 threads.
@compute @workgroup_size(256)
fn per_channel_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  let c4 = dim(u.out_shape, u.rank - 1u) / 4u;
  let step = (nwg.x * nwg.y * 256u) / c4 * c4;
  if (i >= step) { return; }
  let bv = b4[i % c4];
  let n4 = u.n / 4u;
  for (var j = i; j < n4; j += step) { y4[j] = apply4(a4[j], bv); }
}

// General broadcasting with the last output axis a multiple of 4: each thread
// writes 4 neighbouring outputs along it; an input with stride 1 there gives
// 4 neighbours, one with stride 0 one value for all 4.
fn load4(src: u32, i: u32, unit: bool) -> vec4<f32> {
  if (src == 0u) {
    if (unit) { return vec4<f32>(a[i], a[i + 1u], a[i + 2u], a[i + 3u]); }
    return vec4<f32>(a[i]);
  }
  if (unit) { return vec4<f32>(b[i], b[i + 1u], b[i + 2u], b[i + 3u]); }
  return vec4<f32>(b[i]);
}

@compute @workgroup_size(256)
fn broadcast_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, 256u);
  if (t >= u.n / 4u) { return; }
  let i = t * 4u;
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
  let last = u.rank - 1u;
  let va = load4(0u, ia, dim(u.a_strides, last) != 0u);
  let vb = load4(1u, ib, dim(u.b_strides, last) != 0u);
  y4[t] = apply4(va, vb);
}

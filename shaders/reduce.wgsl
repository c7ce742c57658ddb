// Sums for reductions and for the backward of broadcasting.
//!include common.wgsl

struct ColParams { rows: u32, cols: u32, rows_per_chunk: u32, chunks: u32, }
@group(0) @binding(0) var<uniform> cu: ColParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;

// x viewed as [rows, cols]: partial[chunk, c] = sum of x[r, c] over the chunk's
// rows. Neighbouring threads take neighbouring columns so reads coalesce;
// the host repeats this over `partial` until one chunk remains.
@compute @workgroup_size(256)
fn column_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, 256u);
  if (t >= cu.cols * cu.chunks) { return; }
  let c = t % cu.cols;
  let chunk = t / cu.cols;
  let r0 = chunk * cu.rows_per_chunk;
  let r1 = min(r0 + cu.rows_per_chunk, cu.rows);
  var s = 0.0;
  for (var r = r0; r < r1; r++) { s += x[r * cu.cols + c]; }
  partial[t] = s;
}

struct GenParams {
  n_out: u32,
  n_red: u32,
  rank: u32,
  in_strides: array<vec4<u32>, 2>,
  kept_shape: array<vec4<u32>, 2>,
  red_shape: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<uniform> gu: GenParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

fn dim(v: array<vec4<u32>, 2>, d: u32) -> u32 { return v[d / 4u][d % 4u]; }

fn offset_of(index: u32, shape: array<vec4<u32>, 2>) -> u32 {
  var rest = index;
  var off = 0u;
  for (var d = i32(gu.rank) - 1; d >= 0; d--) {
    let size = dim(shape, u32(d));
    off += (rest % size) * dim(gu.in_strides, u32(d));
    rest = rest / size;
  }
  return off;
}

// dst[o] = sum of src over the axes in red_shape (any set of axes).
@compute @workgroup_size(64)
fn axes_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = linear_index(gid, nwg, 64u);
  if (o >= gu.n_out) { return; }
  let base = offset_of(o, gu.kept_shape);
  var s = 0.0;
  for (var k = 0u; k < gu.n_red; k++) { s += src[base + offset_of(k, gu.red_shape)]; }
  dst[o] = s;
}

// Strided row copy for concat and its backward: dst[r, dst_offset + j] =
// src[r, src_offset + j] for j < width, each tensor viewed as rows of its own
// stride. Concat copies each input into its columns of the output; the
// backward copies those columns of the gradient back out.
//
// Written for a `Word` of u32 (any dtype, any width) or vec4<u32> (four words
// at a time, when widths, strides and offsets are all multiples of 4); compile
// through concat_u32.wgsl or concat_vec4.wgsl. Sizes below count Words.
//!include common.wgsl

struct Params {
  n: u32,          // rows * width
  width: u32,
  src_stride: u32,
  src_offset: u32,
  dst_stride: u32,
  dst_offset: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> src: array<Word>;
@group(0) @binding(2) var<storage, read_write> dst: array<Word>;

@compute @workgroup_size(256)
fn copy_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, 256u);
  if (t >= u.n) { return; }
  let row = t / u.width;
  let j = t - row * u.width;
  dst[row * u.dst_stride + u.dst_offset + j] = src[row * u.src_stride + u.src_offset + j];
}

// y = x with its axes permuted: a general N-d transpose (rank <= 8 after the
// host has dropped size-1 axes and merged axes that stay neighbours). It moves
// 32-bit words, so every dtype goes through it. One thread per output element:
// writes are contiguous, reads are strided by the permutation.
//!include common.wgsl

struct Params {
  n: u32,
  out_shape: array<vec4<u32>, 2>,
  // in_strides[d]: the stride in x of the axis that becomes output axis d.
  in_strides: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<u32>;

// The rank is a pipeline constant so that the index loop unrolls and its
// shape lookups become register reads: about 2.5x faster on lavapipe than a
// loop over a runtime rank.
override RANK: u32 = 1u;

fn dim(v: array<vec4<u32>, 2>, d: u32) -> u32 { return v[d / 4u][d % 4u]; }

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= u.n) { return; }
  var rest = i;
  var src = 0u;
  for (var d = i32(RANK) - 1; d >= 0; d--) {
    let size = dim(u.out_shape, u32(d));
    src += (rest % size) * dim(u.in_strides, u32(d));
    rest = rest / size;
  }
  y[i] = x[src];
}

// Pairwise overlap of two box lists: iou[i, j] = overlap(a[i], b[j]).
//!include common.wgsl
//!include iou_common.wgsl

struct Params { k: u32, m: u32, plus_one: f32, by_min: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> iou: array<f32>;

@compute @workgroup_size(256)
fn iou_matrix(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, 256u);
  if (t >= u.k * u.m) { return; }
  iou[t] = box_overlap(a[t / u.m], b[t % u.m], u.plus_one, u.by_min);
}

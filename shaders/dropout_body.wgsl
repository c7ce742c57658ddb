// Dropout: y = x * scale where the element is kept, 0 where it is dropped.
// The backward is the same map applied to the gradient.
//
// The mask is never stored: element i is kept iff a counter-based hash of
// (seed, i) clears a threshold, so forward and backward, and any two runs with
// the same seed, agree without saving anything. The hash is Chris Wellons'
// lowbias32 applied twice, keyed by the seed; test/reference/norm_act.ts
// mirrors it bit for bit.
//
// Written once for an element type `Elem`: f32, or vec4<f32> for sizes that
// are a multiple of 4. Compile it through dropout_f32.wgsl or dropout_vec4.wgsl,
// which define the alias and `kept_lanes`, the mask of the lanes of Elem i.
//!include common.wgsl

const WG = 256u;

struct Params {
  n: u32,          // Elems
  seed: u32,
  // Kept iff the hash's top 24 bits >= threshold = round(p * 2^24).
  threshold: u32,
  scale: f32,      // 1 / (1 - p)
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<Elem>;
@group(0) @binding(2) var<storage, read_write> y: array<Elem>;

fn lowbias32(v: u32) -> u32 {
  var h = v;
  h ^= h >> 16u;
  h *= 0x7feb352du;
  h ^= h >> 15u;
  h *= 0x846ca68bu;
  h ^= h >> 16u;
  return h;
}

fn element_kept(index: u32) -> bool {
  let h = lowbias32(lowbias32(index ^ lowbias32(u.seed)) + u.seed);
  return (h >> 8u) >= u.threshold;
}

@compute @workgroup_size(WG)
fn apply_mask(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, WG);
  if (i >= u.n) { return; }
  y[i] = select(Elem(0.0), x[i] * u.scale, kept_lanes(i));
}

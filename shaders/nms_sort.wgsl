// Ranks boxes for NMS: a bitonic sort of (score key, index) pairs, then a
// gather of the boxes into rank order.
//!include common.wgsl

// ---- sort keys -------------------------------------------------------------

struct KeyParams { n: u32, padded: u32, }
@group(0) @binding(0) var<uniform> ku: KeyParams;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read_write> keys: array<vec2<u32>>;

// A u32 whose ascending order is the score's descending order. -0 and +0 map
// to the same key so they tie (and fall back to index order) as in a float sort.
fn descending_key(s: f32) -> u32 {
  let bits = bitcast<u32>(select(s, 0.0, s == 0.0));
  let ascending = select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
  return ~ascending;
}

// keys[i] = (key of scores[i], i); the padding up to a power of two sorts last.
@compute @workgroup_size(256)
fn score_keys(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= ku.padded) { return; }
  if (i < ku.n) {
    keys[i] = vec2<u32>(descending_key(scores[i]), i);
  } else {
    keys[i] = vec2<u32>(0xffffffffu, 0xffffffffu);
  }
}

// ---- bitonic network -------------------------------------------------------

struct StepParams { pairs: u32, k: u32, j: u32, }
@group(0) @binding(0) var<uniform> su: StepParams;
@group(0) @binding(1) var<storage, read_write> sorted_keys: array<vec2<u32>>;

fn after(a: vec2<u32>, b: vec2<u32>) -> bool {
  return a.x > b.x || (a.x == b.x && a.y > b.y);
}

// One compare-exchange pass of stage k, distance j (both powers of two): pair
// t joins element i with i + j, sorted ascending where bit k of i is clear.
// Indices are unique, so the order is total and the sort is stable by index.
@compute @workgroup_size(256)
fn bitonic_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, 256u);
  if (t >= su.pairs) { return; }
  let i = ((t & ~(su.j - 1u)) << 1u) | (t & (su.j - 1u));
  let l = i + su.j;
  let a = sorted_keys[i];
  let b = sorted_keys[l];
  let ascending = (i & su.k) == 0u;
  if (after(a, b) == ascending && any(a != b)) {
    sorted_keys[i] = b;
    sorted_keys[l] = a;
  }
}

// Runs, inside each block of 512 elements, every pass of stages k_first ..
// k_last (doubling) whose distance j is below 512: the whole network when the
// keys fit one block, else the tail of one stage after its global passes. Two
// elements per thread, exchanged through workgroup memory.
struct BlockParams { padded: u32, k_first: u32, k_last: u32, }
@group(0) @binding(0) var<uniform> bu: BlockParams;
var<workgroup> tile: array<vec2<u32>, 512>;

@compute @workgroup_size(256)
fn bitonic_block(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, 256u);
  let lt = t % 256u;
  let base = (t / 256u) * 512u;
  // With fewer than 512 keys the stages stop at k = padded, so pairs never
  // mix real keys with the missing tail of the block.
  for (var e = lt; e < 512u; e += 256u) {
    if (base + e < bu.padded) { tile[e] = sorted_keys[base + e]; }
  }
  workgroupBarrier();
  for (var k = bu.k_first; k <= bu.k_last; k = k * 2u) {
    for (var j = min(k >> 1u, 256u); j > 0u; j = j / 2u) {
      let i = ((lt & ~(j - 1u)) << 1u) | (lt & (j - 1u));
      let l = i + j;
      let a = tile[i];
      let b = tile[l];
      if (after(a, b) == (((base + i) & k) == 0u) && any(a != b)) {
        tile[i] = b;
        tile[l] = a;
      }
      workgroupBarrier();
    }
  }
  for (var e = lt; e < 512u; e += 256u) {
    if (base + e < bu.padded) { sorted_keys[base + e] = tile[e]; }
  }
}

// ---- gather ----------------------------------------------------------------

// A box in rank order with what the suppression kernels need beside it.
struct RankedBox { box: vec4<f32>, group: i32, index: i32, }

struct GatherParams { n: u32, }
@group(0) @binding(0) var<uniform> gu: GatherParams;
@group(0) @binding(1) var<storage, read> ranked_keys: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> boxes: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> groups: array<i32>;
@group(0) @binding(4) var<storage, read_write> ranked: array<RankedBox>;

@compute @workgroup_size(256)
fn gather_ranked(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = linear_index(gid, nwg, 256u);
  if (r >= gu.n) { return; }
  let i = ranked_keys[r].y;
  ranked[r] = RankedBox(boxes[i], 0, i32(i));
}

@compute @workgroup_size(256)
fn gather_ranked_grouped(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = linear_index(gid, nwg, 256u);
  if (r >= gu.n) { return; }
  let i = ranked_keys[r].y;
  ranked[r] = RankedBox(boxes[i], groups[i], i32(i));
}

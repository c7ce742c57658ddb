// Stream compaction and gathers: "which elements pass a test" as an index
// list in ascending order, without atomics, so the order (and everything
// downstream that depends on it, like NMS tie-breaks) is deterministic.
//!include common.wgsl

// The test: x[i * stride + offset] >= threshold (or > when STRICT).
override STRICT: bool = false;
const CHUNK: u32 = 64u;

struct Params { n: u32, stride: u32, offset: u32, threshold: f32, chunks: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> counts: array<u32>;
@group(0) @binding(3) var<storage, read_write> indices: array<i32>;
@group(0) @binding(4) var<storage, read_write> total: array<u32>;

fn passes(i: u32) -> bool {
  let v = x[i * u.stride + u.offset];
  return select(v >= u.threshold, v > u.threshold, STRICT);
}

// Pass 1: each thread counts the passing elements of one chunk.
@compute @workgroup_size(64)
fn count_chunks(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = linear_index(gid, nwg, 64u);
  if (c >= u.chunks) { return; }
  let end = min((c + 1u) * CHUNK, u.n);
  var k = 0u;
  for (var i = c * CHUNK; i < end; i++) { k += select(0u, 1u, passes(i)); }
  counts[c] = k;
}

// Pass 2: one thread turns chunk counts into exclusive offsets. n/64 serial
// adds: 16k for a million elements, cheaper than a multi-level scan's passes.
@compute @workgroup_size(1)
fn scan_counts() {
  var run = 0u;
  for (var c = 0u; c < u.chunks; c++) {
    let k = counts[c];
    counts[c] = run;
    run += k;
  }
  total[0] = run;
}

// Pass 3: each chunk writes its passing indices from its offset on.
@compute @workgroup_size(64)
fn write_indices(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = linear_index(gid, nwg, 64u);
  if (c >= u.chunks) { return; }
  let end = min((c + 1u) * CHUNK, u.n);
  var o = counts[c];
  for (var i = c * CHUNK; i < end; i++) {
    if (passes(i)) {
      indices[o] = i32(i);
      o++;
    }
  }
}

struct GatherParams { rows: u32, cols: u32, src_rows: u32, }
@group(0) @binding(0) var<uniform> g: GatherParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> row_index: array<i32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

// dst[r, :] = src[row_index[r], :]; an out-of-range row index reads zeros.
@compute @workgroup_size(256)
fn gather_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= g.rows * g.cols) { return; }
  let r = i / g.cols;
  let c = i % g.cols;
  let s = row_index[r];
  dst[i] = select(0.0, src[u32(s) * g.cols + c], s >= 0 && u32(s) < g.src_rows);
}

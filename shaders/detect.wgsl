// Box bookkeeping of sliding-window detectors: turning a score map's passing
// cells into boxes, applying regression deltas, and squaring boxes. Box rows
// are [x1, y1, x2, y2, score, ...extra] with `cols` floats per row.
//!include common.wgsl

struct GridParams { count_cap: u32, map_w: u32, score_channels: u32, score_channel: u32, stride: f32, cell: f32, scale: f32, }
@group(0) @binding(0) var<uniform> gp: GridParams;
@group(0) @binding(1) var<storage, read> cells: array<i32>;     // passing cell indices (row-major y*w+x)
@group(0) @binding(2) var<storage, read> count: array<u32>;     // how many of `cells` are valid
@group(0) @binding(3) var<storage, read> scores: array<f32>;    // [h, w, score_channels]
@group(0) @binding(4) var<storage, read> deltas: array<f32>;    // [h, w, 4]
@group(0) @binding(5) var<storage, read_write> boxes: array<f32>; // [count_cap, 9]

// A cell (x, y) of a map computed with `stride` over windows of `cell` pixels,
// on an image scaled by `scale`, covers floor((stride*p + 1)/scale) ..
// floor((stride*p + cell)/scale) in original pixels (MTCNN's generateBoundingBox).
@compute @workgroup_size(64)
fn grid_boxes(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let k = linear_index(gid, nwg, 64u);
  if (k >= min(count[0], gp.count_cap)) { return; }
  let c = u32(cells[k]);
  let x = f32(c % gp.map_w);
  let y = f32(c / gp.map_w);
  let o = k * 9u;
  boxes[o + 0u] = floor((gp.stride * x + 1.0) / gp.scale);
  boxes[o + 1u] = floor((gp.stride * y + 1.0) / gp.scale);
  boxes[o + 2u] = floor((gp.stride * x + gp.cell) / gp.scale);
  boxes[o + 3u] = floor((gp.stride * y + gp.cell) / gp.scale);
  boxes[o + 4u] = scores[c * gp.score_channels + gp.score_channel];
  for (var j = 0u; j < 4u; j++) { boxes[o + 5u + j] = deltas[c * 4u + j]; }
}

struct BoxParams { rows: u32, cols: u32, delta_cols: u32, delta_offset: u32, plus_one: f32, }
@group(0) @binding(0) var<uniform> bp: BoxParams;
@group(0) @binding(1) var<storage, read_write> box_rows: array<f32>;  // [rows, cols], updated in place
@group(0) @binding(2) var<storage, read> box_deltas: array<f32>;  // [rows, delta_cols]

// x1 += d0*w, y1 += d1*h, x2 += d2*w, y2 += d3*h with w = x2 - x1 + plus_one.
@compute @workgroup_size(64)
fn apply_deltas(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = linear_index(gid, nwg, 64u);
  if (r >= bp.rows) { return; }
  let o = r * bp.cols;
  let d = r * bp.delta_cols + bp.delta_offset;
  let w = box_rows[o + 2u] - box_rows[o + 0u] + bp.plus_one;
  let h = box_rows[o + 3u] - box_rows[o + 1u] + bp.plus_one;
  box_rows[o + 0u] += box_deltas[d + 0u] * w;
  box_rows[o + 1u] += box_deltas[d + 1u] * h;
  box_rows[o + 2u] += box_deltas[d + 2u] * w;
  box_rows[o + 3u] += box_deltas[d + 3u] * h;
}

// Squares each box about its centre with side max(w, h) (MTCNN's rerec).
@compute @workgroup_size(64)
fn square(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = linear_index(gid, nwg, 64u);
  if (r >= bp.rows) { return; }
  let o = r * bp.cols;
  let w = box_rows[o + 2u] - box_rows[o + 0u];
  let h = box_rows[o + 3u] - box_rows[o + 1u];
  let l = max(w, h);
  let x1 = box_rows[o + 0u] + w * 0.5 - l * 0.5;
  let y1 = box_rows[o + 1u] + h * 0.5 - l * 0.5;
  box_rows[o + 0u] = x1;
  box_rows[o + 1u] = y1;
  box_rows[o + 2u] = x1 + l;
  box_rows[o + 3u] = y1 + l;
}

// In place: landmarks stored relative to the box (columns delta_offset ..
// +10, five x then five y) become pixels: px = (x2 - x1 + 1) * lx + x1 - 1
// (MTCNN's O-Net convention, on the box before its final regression).
@compute @workgroup_size(64)
fn landmark_points(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = linear_index(gid, nwg, 64u);
  if (r >= bp.rows) { return; }
  let o = r * bp.cols;
  let l = o + bp.delta_offset;
  let w = box_rows[o + 2u] - box_rows[o + 0u] + 1.0;
  let h = box_rows[o + 3u] - box_rows[o + 1u] + 1.0;
  for (var k = 0u; k < 5u; k++) {
    box_rows[l + k] = w * box_rows[l + k] + box_rows[o + 0u] - 1.0;
    box_rows[l + 5u + k] = h * box_rows[l + 5u + k] + box_rows[o + 1u] - 1.0;
  }
}

// Box overlap shared by the IoU matrix and NMS kernels. Boxes are
// (x1, y1, x2, y2). The operations and their order follow torchvision's CPU
// nms (plus_one = 0) and facenet-pytorch's numpy nms (plus_one = 1: pixel
// counts, width = x2 - x1 + 1), so on an adapter with IEEE f32 arithmetic a
// threshold on the result keeps exactly the boxes those keep.

fn box_area(b: vec4<f32>, plus_one: f32) -> f32 {
  return (b.z - b.x + plus_one) * (b.w - b.y + plus_one);
}

// by_min = 0: intersection / union; 1: intersection / smaller area.
fn box_overlap(a: vec4<f32>, b: vec4<f32>, plus_one: f32, by_min: u32) -> f32 {
  let w = max(0.0, min(a.z, b.z) - max(a.x, b.x) + plus_one);
  let h = max(0.0, min(a.w, b.w) - max(a.y, b.y) + plus_one);
  let inter = w * h;
  let area_a = box_area(a, plus_one);
  let area_b = box_area(b, plus_one);
  var denom = area_a + area_b - inter;
  if (by_min == 1u) { denom = min(area_a, area_b); }
  // torch gives NaN for 0/0 (two empty boxes), which never passes a threshold;
  // WGSL leaves 0/0 unspecified, so return 0.
  if (denom == 0.0) { return 0.0; }
  return inter / denom;
}

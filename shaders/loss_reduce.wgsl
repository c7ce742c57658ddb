// The last step of every reduced loss: per-term losses (already multiplied by
// their weights) to one number, the sum or the weighted mean
// sum(terms) / sum(weights). Also writes the factor that maps the loss's
// gradient to each term's (1 for a sum, 1 / sum(weights) for a mean; 0 when
// every weight is 0, so an empty selection gives loss 0 and no NaN).
//
// One workgroup: a loss has one term per sample (or per element, for BCE),
// and one pass over them costs little next to the kernels that made them.

override WG: u32 = 256u;

struct Params { n: u32, mean: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> terms: array<f32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad_scale: array<f32>;

var<workgroup> partial: array<vec2<f32>, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lane: u32) {
  var acc = vec2(0.0);
  for (var i = lane; i < u.n; i += WG) { acc += vec2(terms[i], weights[i]); }
  partial[lane] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { partial[lane] += partial[lane + s]; }
    workgroupBarrier();
  }
  if (lane == 0u) {
    let total = partial[0];
    var scale = 1.0;
    if (u.mean == 1u) { scale = select(0.0, 1.0 / total.y, total.y > 0.0); }
    loss[0] = total.x * scale;
    grad_scale[0] = scale;
  }
}

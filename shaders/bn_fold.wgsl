// Folds an inference batchnorm into the convolution before it: for weights
// whose last axis is the output channel (conv [kh, kw, cin, cout], depthwise
// [kh, kw, C], linear [in, out]),
//   w'[..., c] = w[..., c] * scale[c]
//   b'[c]      = b[c] * scale[c] + shift[c]   (b = 0 without a bias)
// with scale = gamma / sqrt(var + eps) and shift = beta - mean * scale taken
// from the [4, C] statistics of batchnorm_body.wgsl's running_stats (rows:
// mean, 1/std, scale, shift). conv(x, w') + b' then equals bn(conv(x, w) + b)
// up to rounding.
//!include common.wgsl

struct Fold { n: u32, channels: u32, has_bias: u32, }
@group(0) @binding(0) var<uniform> u: Fold;
@group(0) @binding(1) var<storage, read> stats: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> w_out: array<f32>;
// Bound to stats when has_bias is 0.
@group(0) @binding(4) var<storage, read> b: array<f32>;
@group(0) @binding(5) var<storage, read_write> b_out: array<f32>;

@compute @workgroup_size(256)
fn fold_weight(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= u.n) { return; }
  w_out[i] = w[i] * stats[2u * u.channels + i % u.channels];
}

@compute @workgroup_size(64)
fn fold_bias(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = linear_index(gid, nwg, 64u);
  if (c >= u.channels) { return; }
  let bias = select(0.0, b[min(c, arrayLength(&b) - 1u)], u.has_bias != 0u);
  b_out[c] = fma(bias, stats[2u * u.channels + c], stats[3u * u.channels + c]);
}

// relu, relu6 and prelu: forward and backward; relu and relu6 one Elem per
// thread, prelu walking channels (below).
//
// Written once for an element type `Elem`: f32, or vec4<f32> for tensors whose
// size is a multiple of 4. Compile it through activation_f32.wgsl or
// activation_vec4.wgsl, which define the alias, `alpha_at`, the prelu slope
// of each lane of Elem i, and `alpha_period`, the Elems after which the
// slopes repeat. Every `n` below counts Elems.
//!include common.wgsl

const WG = 256u;

// 0 relu, 1 relu6
override KIND: u32 = 0u;

struct Params { n: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<Elem>;
@group(0) @binding(2) var<storage, read_write> y: array<Elem>;
@group(0) @binding(3) var<storage, read> g: array<Elem>;
@group(0) @binding(4) var<storage, read_write> dx: array<Elem>;

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, WG);
  if (i >= u.n) { return; }
  switch KIND {
    case 1u: { y[i] = clamp(x[i], Elem(0.0), Elem(6.0)); }
    default: { y[i] = max(x[i], Elem(0.0)); }
  }
}

// The gradient passes where the function is the identity: x > 0 (and x < 6
// for relu6); at the kinks themselves it is 0, as in PyTorch.
@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, WG);
  if (i >= u.n) { return; }
  let v = x[i];
  switch KIND {
    case 1u: { dx[i] = select(Elem(0.0), g[i], (v > Elem(0.0)) & (v < Elem(6.0))); }
    default: { dx[i] = select(Elem(0.0), g[i], v > Elem(0.0)); }
  }
}

// ---- prelu: y = x for x > 0, alpha * x otherwise -----------------------------------

// alpha has alpha_len values: one per channel (the last axis), or a single one.
struct Prelu { n: u32, alpha_len: u32, }
@group(0) @binding(0) var<uniform> pu: Prelu;
@group(0) @binding(5) var<storage, read> alpha: array<f32>;
// g * min(x, 0) per element: the terms of dL/dalpha, summed over rows by columnSum.
@group(0) @binding(6) var<storage, read_write> alpha_terms: array<Elem>;

// The prelu kernels walk channels: thread i keeps the Elem position i % P in
// a row of channels (P = alpha_period: Elems per row, 1 for a shared slope)
// and steps by the largest multiple of P within the thread count, so its
// slope is loaded once, with one division per thread instead of per element
// (the host launches at least P threads).
fn prelu_step(nwg: vec3<u32>) -> u32 {
  let period = alpha_period(pu.alpha_len);
  return (nwg.x * nwg.y * WG) / period * period;
}

@compute @workgroup_size(WG)
fn prelu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, WG);
  let step = prelu_step(nwg);
  if (i >= step) { return; }
  let a = alpha_at(i, pu.alpha_len);
  for (var j = i; j < pu.n; j += step) {
    let v = x[j];
    y[j] = select(v * a, v, v > Elem(0.0));
  }
}

@compute @workgroup_size(WG)
fn prelu_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, WG);
  let step = prelu_step(nwg);
  if (i >= step) { return; }
  let a = alpha_at(i, pu.alpha_len);
  for (var j = i; j < pu.n; j += step) {
    let gj = g[j];
    dx[j] = select(gj * a, gj, x[j] > Elem(0.0));
  }
}

// Both gradients in one pass over g and x.
@compute @workgroup_size(WG)
fn prelu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, WG);
  let step = prelu_step(nwg);
  if (i >= step) { return; }
  let a = alpha_at(i, pu.alpha_len);
  for (var j = i; j < pu.n; j += step) {
    // Both loads before the stores, which the compiler cannot tell apart from them.
    let v = x[j];
    let gj = g[j];
    let positive = v > Elem(0.0);
    dx[j] = select(gj * a, gj, positive);
    alpha_terms[j] = select(gj * v, Elem(0.0), positive);
  }
}

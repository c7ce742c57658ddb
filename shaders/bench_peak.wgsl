// Probes of the adapter's own ceilings, used by the benchmark to express every
// kernel as a share of what this adapter can do.
//!include common.wgsl

struct Params { n: u32, iters: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

// 8 independent vec4 FMA chains, unrolled by hand: 8 * 4 * 2 = 64 FLOP per
// step. Independent chains hide FMA latency; writing the sum keeps the
// compiler from removing the work.
@compute @workgroup_size(64)
fn fma_peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 64u);
  if (i >= u.n) { return; }
  let m = src[i % arrayLength(&src)];
  let k = vec4<f32>(0.999, 0.998, 0.997, 0.996);
  var a0 = m; var a1 = m + 1.0; var a2 = m + 2.0; var a3 = m + 3.0;
  var a4 = m + 4.0; var a5 = m + 5.0; var a6 = m + 6.0; var a7 = m + 7.0;
  for (var t = 0u; t < u.iters; t++) {
    a0 = fma(a0, k, m); a1 = fma(a1, k, m); a2 = fma(a2, k, m); a3 = fma(a3, k, m);
    a4 = fma(a4, k, m); a5 = fma(a5, k, m); a6 = fma(a6, k, m); a7 = fma(a7, k, m);
  }
  dst[i] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

// vec4 copy: the bandwidth a memory-bound kernel can hope for.
@compute @workgroup_size(256)
fn copy_peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i < u.n) { dst[i] = src[i]; }
}

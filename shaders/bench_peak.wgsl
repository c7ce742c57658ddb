// Probes of the adapter's own ceilings, used by the benchmark to express every
// kernel as a share of what this adapter can do.
//!include common.wgsl

struct Params { n: u32, iters: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

// 8 independent vec4 FMA chains, 8 steps of each per loop iteration: 8 * 4 *
// 2 * 8 = 512 FLOP per iteration. Independent chains hide FMA latency;
// writing the sum keeps the compiler from removing the work. On lavapipe one
// step per iteration read ~52 GFLOP/s where 8 read ~110 (2 cores): every
// assignment inside a loop there is a masked blend, which the short body paid
// once per fma (16 or 32 steps per iteration were left rolled: ~57).
@compute @workgroup_size(64)
fn fma_peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 64u);
  if (i >= u.n) { return; }
  let m = src[i % arrayLength(&src)];
  let k = vec4<f32>(0.999, 0.998, 0.997, 0.996);
  var a0 = m; var a1 = m + 1.0; var a2 = m + 2.0; var a3 = m + 3.0;
  var a4 = m + 4.0; var a5 = m + 5.0; var a6 = m + 6.0; var a7 = m + 7.0;
  // iters is a multiple of 8.
  for (var t = 0u; t < u.iters; t += 8u) {
    for (var s = 0u; s < 8u; s++) {
      a0 = fma(a0, k, m); a1 = fma(a1, k, m); a2 = fma(a2, k, m); a3 = fma(a3, k, m);
      a4 = fma(a4, k, m); a5 = fma(a5, k, m); a6 = fma(a6, k, m); a7 = fma(a7, k, m);
    }
  }
  dst[i] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

// vec4 copy, 8 vec4s per thread strided by an eighth of the buffer: the
// bandwidth a memory-bound kernel can hope for. On lavapipe one vec4 per
// thread read ~7.8 GB/s, 8 contiguous ones ~10.4, 8 strided ~12 (16 strided
// ~11, 32 ~6). n is a multiple of 8.
@compute @workgroup_size(64)
fn copy_peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, 64u);
  let stride = u.n / 8u;
  if (t < stride) {
    for (var j = 0u; j < 8u; j++) { dst[t + j * stride] = src[t + j * stride]; }
  }
}

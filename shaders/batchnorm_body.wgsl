// Batch normalisation over the channels (last) axis: statistics, the
// normalisation itself (with an optional fused activation), and the backward.
//
// Written once for an element type `Elem`: f32 (one channel per thread) or
// vec4<f32> (four neighbouring channels per thread, for C % 4 == 0). Compile it
// through batchnorm_f32.wgsl or batchnorm_vec4.wgsl, which define the alias.
// x is viewed as [rows, groups] of Elems, rows = N*H*W and groups = C / lanes;
// every `groups` below counts Elems, and per-channel arrays are [groups] Elems.
//
// `stats` is [4, groups]: per channel mean, 1/sqrt(var + eps), scale = gamma *
// invstd and shift = beta - mean * scale, so the forward is one fma per element
// and the backward finds everything it needs in one buffer. (Folding the mean
// into shift costs an absolute error of about 2^-24 * |mean| / std in y:
// nothing for activations, where |mean| / std is small.)
//
// Column statistics are two-stage: one thread per (chunk of rows, channel group)
// computes the chunk's mean and sum of squared deviations (M2); the partial
// moments are then merged with Chan et al.'s pairwise formula, which never
// subtracts two large sums, so the variance stays accurate when |mean| >> std.
//!include common.wgsl

const WG = 64u;

// ---- statistics --------------------------------------------------------------

// parts_* are [parts, 2, groups]: row 2k the means of chunk k, row 2k+1 its M2.
struct Partial { rows: u32, groups: u32, rows_per_chunk: u32, chunks: u32, }
@group(0) @binding(0) var<uniform> pu: Partial;
@group(0) @binding(1) var<storage, read> x: array<Elem>;
@group(0) @binding(2) var<storage, read_write> parts_out: array<Elem>;

// Sums are taken around the chunk's first value (the shifted-data algorithm):
// s2 - s1^2/n then cancels only as much as the chunk's own spread allows.
@compute @workgroup_size(WG)
fn moments_partial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, WG);
  if (t >= pu.groups * pu.chunks) { return; }
  let cg = t % pu.groups;
  let chunk = t / pu.groups;
  let r0 = chunk * pu.rows_per_chunk;
  let r1 = min(r0 + pu.rows_per_chunk, pu.rows);
  let pivot = x[r0 * pu.groups + cg];
  var s1 = Elem(0.0);
  var s2 = Elem(0.0);
  for (var r = r0; r < r1; r++) {
    let d = x[r * pu.groups + cg] - pivot;
    s1 += d;
    s2 = fma(d, d, s2);
  }
  let n = f32(r1 - r0);
  parts_out[(2u * chunk) * pu.groups + cg] = pivot + s1 / n;
  parts_out[(2u * chunk + 1u) * pu.groups + cg] = max(s2 - s1 * (s1 / n), Elem(0.0));
}

struct Moments { n: f32, mean: Elem, m2: Elem, }

@group(0) @binding(1) var<storage, read> parts_in: array<Elem>;

// Merges parts [k0, k1) of channel group cg. Part k covers rows
// [k * rows_per_part, min((k + 1) * rows_per_part, rows)).
fn merge_parts(cg: u32, k0: u32, k1: u32, rows_per_part: u32, rows: u32, groups: u32) -> Moments {
  var acc = Moments(0.0, Elem(0.0), Elem(0.0));
  for (var k = k0; k < k1; k++) {
    let nb = f32(min(rows_per_part, rows - k * rows_per_part));
    let mean_b = parts_in[(2u * k) * groups + cg];
    let m2_b = parts_in[(2u * k + 1u) * groups + cg];
    let n = acc.n + nb;
    let delta = mean_b - acc.mean;
    acc.mean = fma(delta, Elem(nb / n), acc.mean);
    acc.m2 = acc.m2 + m2_b + delta * delta * (acc.n * nb / n);
    acc.n = n;
  }
  return acc;
}

struct Merge { rows: u32, groups: u32, rows_per_part: u32, part_count: u32, fan_in: u32, merged: u32, }
@group(0) @binding(0) var<uniform> mu: Merge;

// One level of the merge tree: `fan_in` parts become one.
@compute @workgroup_size(WG)
fn moments_merge(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, WG);
  if (t >= mu.groups * mu.merged) { return; }
  let cg = t % mu.groups;
  let j = t / mu.groups;
  let m = merge_parts(cg, j * mu.fan_in, min((j + 1u) * mu.fan_in, mu.part_count), mu.rows_per_part, mu.rows, mu.groups);
  parts_out[(2u * j) * mu.groups + cg] = m.mean;
  parts_out[(2u * j + 1u) * mu.groups + cg] = m.m2;
}

struct Finalize { rows: u32, groups: u32, rows_per_part: u32, part_count: u32, momentum: f32, eps: f32, }
@group(0) @binding(0) var<uniform> fu: Finalize;
@group(0) @binding(3) var<storage, read> gamma: array<Elem>;
@group(0) @binding(4) var<storage, read> beta: array<Elem>;
@group(0) @binding(5) var<storage, read_write> running_mean: array<Elem>;
@group(0) @binding(6) var<storage, read_write> running_var: array<Elem>;
@group(0) @binding(7) var<storage, read_write> stats: array<Elem>;

fn write_stats(cg: u32, groups: u32, mean: Elem, invstd: Elem) {
  let scale = gamma[cg] * invstd;
  stats[cg] = mean;
  stats[groups + cg] = invstd;
  stats[2u * groups + cg] = scale;
  stats[3u * groups + cg] = beta[cg] - mean * scale;
}

// Training: batch statistics (biased variance normalises, as in PyTorch) and the
// running averages updated in place with the unbiased variance.
@compute @workgroup_size(WG)
fn batch_stats(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let cg = linear_index(gid, nwg, WG);
  if (cg >= fu.groups) { return; }
  let m = merge_parts(cg, 0u, fu.part_count, fu.rows_per_part, fu.rows, fu.groups);
  let rows = f32(fu.rows);
  write_stats(cg, fu.groups, m.mean, Elem(1.0) / sqrt(m.m2 / rows + Elem(fu.eps)));
  running_mean[cg] = mix(running_mean[cg], m.mean, Elem(fu.momentum));
  running_var[cg] = mix(running_var[cg], m.m2 / (rows - 1.0), Elem(fu.momentum));
}

struct Running { groups: u32, eps: f32, }
@group(0) @binding(0) var<uniform> ru: Running;
@group(0) @binding(5) var<storage, read> frozen_mean: array<Elem>;
@group(0) @binding(6) var<storage, read> frozen_var: array<Elem>;

// Evaluation: the running statistics stand in for the batch's.
@compute @workgroup_size(WG)
fn running_stats(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let cg = linear_index(gid, nwg, WG);
  if (cg >= ru.groups) { return; }
  write_stats(cg, ru.groups, frozen_mean[cg], Elem(1.0) / sqrt(frozen_var[cg] + Elem(ru.eps)));
}

// ---- normalisation -------------------------------------------------------------

// 0 none, 1 relu, 2 relu6, fused after the affine map; the backward kernels
// take the same ACT and mask g where the activation clipped.
override ACT: u32 = 0u;

// The elementwise kernels below walk channels: thread i takes channel group
// cg = i % groups for good and the elements i, i + step, ... with step the
// largest multiple of groups within the thread count (the host launches at
// least `groups` threads). A channel's statistics are then loaded once per
// thread, and there is one division per thread, not per element (integer
// division and per-lane loads are loops on software adapters).
fn channel_step(nwg: vec3<u32>, groups: u32) -> u32 {
  return (nwg.x * nwg.y * 256u) / groups * groups;
}

struct Apply { n: u32, groups: u32, }
@group(0) @binding(0) var<uniform> au: Apply;
@group(0) @binding(8) var<storage, read> stats_in: array<Elem>;
@group(0) @binding(9) var<storage, read_write> y: array<Elem>;

@compute @workgroup_size(256)
fn normalise(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  let step = channel_step(nwg, au.groups);
  if (i >= step) { return; }
  let cg = i % au.groups;
  let scale = stats_in[2u * au.groups + cg];
  let shift = stats_in[3u * au.groups + cg];
  for (var j = i; j < au.n; j += step) {
    let v = fma(x[j], scale, shift);
    switch ACT {
      case 1u: { y[j] = max(v, Elem(0.0)); }
      case 2u: { y[j] = clamp(v, Elem(0.0), Elem(6.0)); }
      default: { y[j] = v; }
    }
  }
}

// ---- backward ------------------------------------------------------------------

@group(0) @binding(10) var<storage, read> g: array<Elem>;

// The gradient reaching the batchnorm's output at element j: g where the
// fused activation let the value v = x * scale + shift through (0 < v, and
// v < 6 for relu6, as activation_body.wgsl's backward), 0 where it clipped.
// v is recomputed exactly as normalise computed it.
fn act_g(j: u32, scale: Elem, shift: Elem) -> Elem {
  if (ACT == 0u) { return g[j]; }
  let v = fma(x[j], scale, shift);
  var through = v > Elem(0.0);
  if (ACT == 2u) { through = through & (v < Elem(6.0)); }
  return select(Elem(0.0), g[j], through);
}

// Per chunk of rows and channel group: sum(g) and sum(g * xhat), written as
// [chunks, 2, groups] so that, read as f32 [chunks, 2C], columnSum finishes it.
@compute @workgroup_size(WG)
fn grad_partial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, WG);
  if (t >= pu.groups * pu.chunks) { return; }
  let cg = t % pu.groups;
  let chunk = t / pu.groups;
  let r0 = chunk * pu.rows_per_chunk;
  let r1 = min(r0 + pu.rows_per_chunk, pu.rows);
  let mean = stats_in[cg];
  let invstd = stats_in[pu.groups + cg];
  let scale = stats_in[2u * pu.groups + cg];
  let shift = stats_in[3u * pu.groups + cg];
  var sum_g = Elem(0.0);
  var sum_gx = Elem(0.0);
  for (var r = r0; r < r1; r++) {
    let i = r * pu.groups + cg;
    let gi = act_g(i, scale, shift);
    sum_g += gi;
    sum_gx = fma(gi, (x[i] - mean) * invstd, sum_gx);
  }
  parts_out[(2u * chunk) * pu.groups + cg] = sum_g;
  parts_out[(2u * chunk + 1u) * pu.groups + cg] = sum_gx;
}

struct Backward { n: u32, groups: u32, rows: u32, }
@group(0) @binding(0) var<uniform> bu: Backward;
// [2, groups]: sum(g) and sum(g * xhat) over all rows.
@group(0) @binding(11) var<storage, read> sums: array<Elem>;
@group(0) @binding(12) var<storage, read_write> dx: array<Elem>;

// Training: the batch statistics depend on x, so
// dx = gamma * invstd * (g - mean(g) - xhat * mean(g * xhat)).
@compute @workgroup_size(256)
fn backward_batch(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  let step = channel_step(nwg, bu.groups);
  if (i >= step) { return; }
  let cg = i % bu.groups;
  let inv_rows = 1.0 / f32(bu.rows);
  let mean = stats_in[cg];
  let invstd = stats_in[bu.groups + cg];
  let scale = stats_in[2u * bu.groups + cg];
  let shift = stats_in[3u * bu.groups + cg];
  let mean_g = sums[cg] * inv_rows;
  let mean_gx = sums[bu.groups + cg] * inv_rows;
  for (var j = i; j < bu.n; j += step) {
    let xhat = (x[j] - mean) * invstd;
    dx[j] = scale * (act_g(j, scale, shift) - mean_g - xhat * mean_gx);
  }
}

struct BackwardRunning { n: u32, groups: u32, }
@group(0) @binding(0) var<uniform> eu: BackwardRunning;

// Evaluation: a fixed per-channel affine map, dx = gamma * invstd * g.
@compute @workgroup_size(256)
fn backward_running(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  let step = channel_step(nwg, eu.groups);
  if (i >= step) { return; }
  let cg = i % eu.groups;
  let scale = stats_in[2u * eu.groups + cg];
  let shift = stats_in[3u * eu.groups + cg];
  for (var j = i; j < eu.n; j += step) { dx[j] = act_g(j, scale, shift) * scale; }
}

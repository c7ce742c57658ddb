// Image ingestion: packed RGBA8 pixels to float RGB, and per-channel
// normalisation, both (x - mean[c]) * scale[c] in f32.
//!include common.wgsl

struct Params {
  n: u32,             // output elements
  channels: u32,      // of the output (3 for unpacked RGBA)
  mean: vec4<f32>,
  scale: vec4<f32>,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> pixels: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

// One u32 per pixel, R in the low byte (RGBA bytes read little-endian); the
// alpha byte is dropped. Uploading packed bytes is 4x less traffic than floats.
@compute @workgroup_size(256)
fn unpack_rgba(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let c = i % 3u;
  let byte = (pixels[i / 3u] >> (8u * c)) & 0xffu;
  y[i] = (f32(byte) - u.mean[c]) * u.scale[c];
}

// Channel c of an NHWC tensor; with more than 4 channels mean and scale hold
// one value repeated (the host checks).
@compute @workgroup_size(256)
fn normalize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let c = (i % u.channels) % 4u;
  y[i] = (x[i] - u.mean[c]) * u.scale[c];
}

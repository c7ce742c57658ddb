// Shared helpers, pulled into a shader with `//!include common.wgsl`.

// Flat thread index of a 1-D kernel dispatched with grid1d(): workgroup counts
// above 65535 spill into y.
fn linear_index(gid: vec3<u32>, nwg: vec3<u32>, wg_size: u32) -> u32 {
  return gid.x + gid.y * nwg.x * wg_size;
}

// Dropout kernel (dropout_body.wgsl), four neighbouring elements per thread as
// one vec4 load and store: for sizes divisible by 4.
alias Elem = vec4<f32>;

fn kept_lanes(i: u32) -> vec4<bool> {
  let first = 4u * i;
  return vec4<bool>(element_kept(first), element_kept(first + 1u), element_kept(first + 2u), element_kept(first + 3u));
}
//!include dropout_body.wgsl

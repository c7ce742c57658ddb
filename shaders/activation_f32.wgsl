// Activation kernels (activation_body.wgsl), one element per thread: any size.
alias Elem = f32;

fn alpha_at(i: u32, alpha_len: u32) -> f32 {
  if (alpha_len == 1u) { return alpha[0]; }
  return alpha[i % alpha_len];
}

// Elems after which the slopes repeat along the tensor.
fn alpha_period(alpha_len: u32) -> u32 {
  return alpha_len;
}

//!include activation_body.wgsl

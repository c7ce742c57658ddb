// Activation kernels (activation_body.wgsl), four neighbouring elements per
// thread as one vec4 load and store: for sizes divisible by 4 and, for prelu,
// a single alpha or a channel count divisible by 4.
alias Elem = vec4<f32>;

fn alpha_at(i: u32, alpha_len: u32) -> vec4<f32> {
  if (alpha_len == 1u) { return vec4<f32>(alpha[0]); }
  // alpha_len % 4 == 0, so the four lanes are channels c .. c + 3 of one row.
  let c = (4u * i) % alpha_len;
  return vec4<f32>(alpha[c], alpha[c + 1u], alpha[c + 2u], alpha[c + 3u]);
}

// Elems after which the slopes repeat along the tensor.
fn alpha_period(alpha_len: u32) -> u32 {
  return select(alpha_len / 4u, 1u, alpha_len == 1u);
}

//!include activation_body.wgsl

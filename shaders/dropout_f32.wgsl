// Dropout kernel (dropout_body.wgsl), one element per thread: any size.
alias Elem = f32;

fn kept_lanes(i: u32) -> bool {
  return element_kept(i);
}
//!include dropout_body.wgsl

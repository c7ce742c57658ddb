// Depthwise convolution kernels (depthwise_body.wgsl), one channel per thread: any channel count.
alias Elem = f32;
//!include depthwise_body.wgsl

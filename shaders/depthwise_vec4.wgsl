// Depthwise convolution kernels (depthwise_body.wgsl), four neighbouring channels
// per thread as one vec4 load and store: for channel counts divisible by 4.
alias Elem = vec4<f32>;
//!include depthwise_body.wgsl

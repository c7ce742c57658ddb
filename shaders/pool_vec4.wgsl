// Pooling kernels (pool_body.wgsl), four neighbouring channels per thread as one
// vec4 load and store: for channel counts divisible by 4.
alias Elem = vec4<f32>;
alias Index = vec4<u32>;
//!include pool_body.wgsl

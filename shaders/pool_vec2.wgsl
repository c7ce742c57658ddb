// Pooling kernels (pool_body.wgsl), two neighbouring channels per thread: for
// even channel counts not divisible by 4 (P-Net's 10).
alias Elem = vec2<f32>;
alias Index = vec2<u32>;
//!include pool_body.wgsl

// Pooling kernels (pool_body.wgsl), one channel per thread: any channel count.
alias Elem = f32;
alias Index = u32;
//!include pool_body.wgsl

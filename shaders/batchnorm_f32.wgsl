// Batch normalisation kernels (batchnorm_body.wgsl), one channel per thread: any channel count.
alias Elem = f32;
//!include batchnorm_body.wgsl

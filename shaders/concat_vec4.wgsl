// Row copies (concat_body.wgsl) four 32-bit words at a time.
alias Word = vec4<u32>;
//!include concat_body.wgsl

// Row copies (concat_body.wgsl) one 32-bit word at a time.
alias Word = u32;
//!include concat_body.wgsl

// Deliberately broken: the engine test checks that the compile error names
// this file and line 6 (the `let` of an undeclared identifier).
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(1)
fn main() {
  let v = undeclared_value;
  y[0] = v;
}

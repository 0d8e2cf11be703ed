//! A type that does not implement `Component`.

#[derive(Default)]
struct Plain;

airssys_wasm_component::component!(Plain);

fn main() {}

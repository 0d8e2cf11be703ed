//! `component!` takes a type, not a value.

airssys_wasm_component::component!("calculator");

fn main() {}

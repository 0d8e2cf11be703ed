//! `handle` is the one handler without a default.

use airssys_wasm_component::Component;

#[derive(Default)]
struct Silent;

impl Component for Silent {}

airssys_wasm_component::component!(Silent);

fn main() {}

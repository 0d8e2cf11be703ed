//! A component must be `Default`: the host builds a fresh value for each instance.

use airssys_wasm_component::{Component, Message, Payload};

struct NoDefault(u32);

impl Component for NoDefault {
    fn handle(&mut self, _message: Message) -> Result<Option<Payload>, String> {
        Ok(Some(Payload::text(&self.0.to_string())))
    }
}

airssys_wasm_component::component!(NoDefault);

fn main() {}

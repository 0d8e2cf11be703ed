//! A complete component: only `handle`, everything else defaulted.

use airssys_wasm_component::{Component, Message, Payload};

#[derive(Default)]
struct Echo;

impl Component for Echo {
    fn handle(&mut self, message: Message) -> Result<Option<Payload>, String> {
        Ok(Some(message.payload))
    }
}

airssys_wasm_component::component!(Echo);

fn main() {}

//! A counter whose count lives in durable storage: it survives crashes, restarts of the
//! component and restarts of the app. `incr` adds one and answers the count; `get` answers it.

use airssys_wasm_component::{Component, Message, Payload, storage};

#[derive(Default)]
struct Counter;

impl Component for Counter {
    fn handle(&mut self, message: Message) -> Result<Option<Payload>, String> {
        let count = match message.text().unwrap_or_default().trim() {
            "incr" => storage::increment("count", 1),
            "get" => storage::increment("count", 0),
            other => return Err(format!("unknown command {other:?}: use incr or get")),
        }
        .map_err(|e| format!("{e:?}"))?;
        Ok(Some(Payload::text(&count.to_string())))
    }
}

airssys_wasm_component::component!(Counter);

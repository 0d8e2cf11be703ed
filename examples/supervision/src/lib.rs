//! A worker that crashes on demand. `work` counts in memory and in durable storage and
//! answers both; `crash` panics (a trap). Its supervisor restarts it in place: the memory
//! count starts again, the stored one carries on.

use airssys_wasm_component::{Component, Message, Payload, storage};

#[derive(Default)]
struct Worker {
    in_memory: u64,
}

impl Component for Worker {
    fn handle(&mut self, message: Message) -> Result<Option<Payload>, String> {
        match message.text().unwrap_or_default().trim() {
            "work" => {
                self.in_memory += 1;
                let stored = storage::increment("jobs", 1).map_err(|e| format!("{e:?}"))?;
                Ok(Some(Payload::text(&format!("in memory {}, stored {stored}", self.in_memory))))
            }
            "crash" => panic!("asked to crash"),
            other => Err(format!("unknown command {other:?}: use work or crash")),
        }
    }
}

airssys_wasm_component::component!(Worker);

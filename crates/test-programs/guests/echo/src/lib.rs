//! Answers every message with its own payload.

wit_bindgen::generate!({ path: "../../../../wit", world: "component" });

#[allow(unused_imports)]
use airssys::component::types::{Message, Notice, Payload, RequestError};

struct Echo;

impl exports::airssys::component::actor::Guest for Echo {
    fn init(_config: Vec<(String, String)>) -> Result<(), String> {
        Ok(())
    }

    fn handle_message(message: Message) -> Result<Option<Payload>, String> {
        Ok(Some(message.payload))
    }

    fn handle_callback(_id: u64, _outcome: Result<Option<Payload>, RequestError>) {}

    fn handle_notice(_notice: Notice) {}

    fn shutdown() {}
}

export!(Echo);

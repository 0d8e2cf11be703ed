//! Answers every message with its own payload.

wit_bindgen::generate!({ path: "../../../../wit", world: "component" });



struct Echo;

impl Guest for Echo {
    fn init(_config: Vec<(String, String)>) -> Result<(), String> {
        Ok(())
    }

    fn handle_message(message: Message) -> Result<Option<Payload>, String> {
        Ok(Some(message.payload))
    }

    fn shutdown() {}
}

export!(Echo);

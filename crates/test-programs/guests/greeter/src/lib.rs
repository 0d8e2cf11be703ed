//! A guest of the embedding example (`crates/airssys-wasm/examples/embedding.rs`): it imports
//! an interface the embedder added to the linker (`example:embedding/greeting`) next to the
//! airssys contract, and calls a native service of the embedder's (`tally`) as it would call
//! a component.
//!
//! Every message is answered with the host's greeting for the message's text and the
//! service's answer: `<greeting>; tally: <answer>`.

wit_bindgen::generate!({
    path: ["../../../../wit", "../../../airssys-wasm/examples/embedding/wit"],
    world: "example:embedding/guest",
    generate_all,
});

use airssys::component::messaging;
use airssys::component::types::{Message, Notice, Payload, RequestError};
use example::embedding::greeting;

const RAW: u32 = 0x55;

struct Greeter;

impl exports::airssys::component::actor::Guest for Greeter {
    fn init(_config: Vec<(String, String)>) -> Result<(), String> {
        Ok(())
    }

    fn handle_message(message: Message) -> Result<Option<Payload>, String> {
        let name = String::from_utf8_lossy(&message.payload.bytes).into_owned();
        let greeting = greeting::greet(&name);
        let ask = Payload { codec: RAW, bytes: name.into_bytes() };
        let tally = match messaging::call("tally", &ask, 5_000) {
            Ok(Some(answer)) => String::from_utf8_lossy(&answer.bytes).into_owned(),
            Ok(None) => "(no answer)".into(),
            Err(e) => format!("error {e:?}"),
        };
        let text = format!("{greeting}; tally: {tally}");
        Ok(Some(Payload { codec: RAW, bytes: text.into_bytes() }))
    }

    fn handle_callback(_id: u64, _outcome: Result<Option<Payload>, RequestError>) {}

    fn handle_notice(_notice: Notice) {}

    fn shutdown() {}
}

export!(Greeter);

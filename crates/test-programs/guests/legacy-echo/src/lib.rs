//! A component built against the previous contract, `airssys:component@0.1.0` (bare exports
//! in the world): the host must keep running it unchanged. Answers every message with its
//! own payload, except `whoami` (the sender) and `call:<target>:<text>` (calls the target
//! with `<text>` and answers with its response).

wit_bindgen::generate!({ path: "../../../../wit/0.1.0", world: "component" });

use airssys::component::messaging::call;

struct LegacyEcho;

impl Guest for LegacyEcho {
    fn init(_config: Vec<(String, String)>) -> Result<(), String> {
        Ok(())
    }

    fn handle_message(message: Message) -> Result<Option<Payload>, String> {
        let text = String::from_utf8_lossy(&message.payload.bytes).into_owned();
        if text == "whoami" {
            return Ok(Some(Payload { codec: 0x55, bytes: message.sender.into_bytes() }));
        }
        if let Some(rest) = text.strip_prefix("call:") {
            let (target, text) = rest.split_once(':').ok_or("expected call:<target>:<text>")?;
            let payload = Payload { codec: 0x55, bytes: text.as_bytes().to_vec() };
            return match call(target, &payload, 5000) {
                Ok(Some(answer)) => Ok(Some(answer)),
                Ok(None) => Ok(None),
                Err(e) => Err(format!("{e:?}")),
            };
        }
        Ok(Some(message.payload))
    }

    fn handle_callback(_id: u64, _outcome: Result<Option<Payload>, RequestError>) {}

    fn shutdown() {}
}

export!(LegacyEcho);

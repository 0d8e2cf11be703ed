//! Talks to another component, named by the `target` config key:
//! - `call:<text>`: calls the target with `<text>` and answers with its response;
//! - `send:<text>`: sends `<text>` to the target and answers `sent`;
//! - `whoami`: answers with the sender address the host stamped on the message;
//! - `self`: answers with its own address.

wit_bindgen::generate!({ path: "../../../../wit", world: "component" });

use std::cell::RefCell;

use airssys::component::messaging::{call, self_address, send};
use airssys::component::types::{RequestError, SendError};

const RAW: u64 = 0x55;

thread_local! {
    static TARGET: RefCell<String> = const { RefCell::new(String::new()) };
}

fn raw(text: &str) -> Payload {
    Payload { codec: RAW, bytes: text.as_bytes().to_vec() }
}

struct Relay;

impl Guest for Relay {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        let target = config.into_iter().find(|(k, _)| k == "target").map(|(_, v)| v);
        TARGET.with(|t| *t.borrow_mut() = target.unwrap_or_default());
        Ok(())
    }

    fn handle_message(message: Message) -> Result<Option<Payload>, String> {
        let text = String::from_utf8_lossy(&message.payload.bytes).into_owned();
        let target = TARGET.with(|t| t.borrow().clone());
        if let Some(rest) = text.strip_prefix("call:") {
            return match call(&target, &raw(rest), 1000) {
                Ok(Some(p)) => Ok(Some(p)),
                Ok(None) => Ok(Some(raw("(no response)"))),
                Err(RequestError::Timeout) => Ok(Some(raw("error: timeout"))),
                Err(e) => Ok(Some(raw(&format!("error: {e:?}")))),
            };
        }
        if let Some(rest) = text.strip_prefix("send:") {
            return match send(&target, &raw(rest)) {
                Ok(()) => Ok(Some(raw("sent"))),
                Err(SendError::UnknownTarget(t)) => Ok(Some(raw(&format!("unknown target {t}")))),
                Err(e) => Ok(Some(raw(&format!("error: {e:?}")))),
            };
        }
        match text.as_str() {
            "whoami" => Ok(Some(raw(&message.sender))),
            "self" => Ok(Some(raw(&self_address()))),
            _ => Err(format!("unknown command {text:?}")),
        }
    }

    fn shutdown() {}
}

export!(Relay);

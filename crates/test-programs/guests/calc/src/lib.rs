//! A calculator written with the guest SDK (`airssys-wasm-component`): typed requests in
//! whichever codec they come in (json, cbor, messagepack), answered in the same codec; a
//! call counter in durable storage; a name from its configuration; a typed call to another
//! calculator; a log line at start.

use std::time::Duration;

use airssys_wasm_component::{Codec, Component, Message, Payload, config, log, messaging, storage};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Request {
    Add {
        a: i64,
        b: i64,
    },
    Div {
        a: i64,
        b: i64,
    },
    Count,
    /// Ask another calculator (by address) to add, with a typed CBOR call.
    Ask {
        target: String,
        a: i64,
        b: i64,
    },
    Greet,
}

#[derive(Serialize, Deserialize)]
struct Answer {
    value: i64,
    calls: i64,
}

#[derive(Default)]
struct Calc {
    name: String,
}

impl Component for Calc {
    fn init(&mut self, _config: &[(String, String)]) -> Result<(), String> {
        self.name = config::get("name").unwrap_or_else(|| "calc".into());
        log::log(log::LogLevel::Info, "calculator ready", &[("name", &self.name)]);
        Ok(())
    }

    fn handle(&mut self, message: Message) -> Result<Option<Payload>, String> {
        let request: Request = message.decode().map_err(|e| e.to_string())?;
        let calls = storage::increment("calls", 1).map_err(|e| format!("{e:?}"))?;
        let value = match request {
            Request::Add { a, b } => a.checked_add(b).ok_or("overflow")?,
            Request::Div { a, b } => a.checked_div(b).ok_or("division by zero")?,
            Request::Count => calls,
            Request::Ask { target, a, b } => {
                let answer: Answer = messaging::call_as(
                    &target,
                    Codec::Cbor,
                    &Request::Add { a, b },
                    Duration::from_secs(5),
                )
                .map_err(|e| e.to_string())?;
                answer.value
            }
            Request::Greet => {
                return Ok(Some(Payload::text(&format!("hello from {}", self.name))));
            }
        };
        let answer = Answer { value, calls };
        Ok(Some(Payload::encode(message.codec(), &answer).map_err(|e| e.to_string())?))
    }
}

airssys_wasm_component::component!(Calc);

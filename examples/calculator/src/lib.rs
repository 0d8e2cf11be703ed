//! A calculator that answers typed JSON requests (`{"op": "add", "a": 1, "b": 2}`), and a
//! client that asks it with a timeout: `{"op": "slow", "ms": 500}` makes the calculator take
//! its time, and the client (configured with `timeout-ms`) reports the timeout.

use std::time::Duration;

use airssys_wasm_component::{Codec, Component, Message, Payload, config, messaging};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Request {
    Add { a: f64, b: f64 },
    Mul { a: f64, b: f64 },
    Div { a: f64, b: f64 },
    Slow { ms: u64 },
}

#[derive(Serialize, Deserialize)]
struct Answer {
    value: f64,
}

#[derive(Default)]
struct Calculator;

impl Component for Calculator {
    fn handle(&mut self, message: Message) -> Result<Option<Payload>, String> {
        let request: Request = message.decode().map_err(|e| e.to_string())?;
        // The client role: forward to the calculator with a deadline.
        if let Some(target) = config::get("calculator") {
            let timeout = Duration::from_millis(config::parse("timeout-ms").unwrap_or(200));
            let answer: Result<Answer, _> =
                messaging::call_as(&target, Codec::Json, &request, timeout);
            return Ok(Some(Payload::text(&match answer {
                Ok(a) => format!("{}", a.value),
                Err(e) => format!("no answer: {e}"),
            })));
        }
        let value = match request {
            Request::Add { a, b } => a + b,
            Request::Mul { a, b } => a * b,
            Request::Div { b, .. } if b == 0.0 => return Err("division by zero".into()),
            Request::Div { a, b } => a / b,
            Request::Slow { ms } => {
                std::thread::sleep(Duration::from_millis(ms));
                ms as f64
            }
        };
        Ok(Some(Payload::encode(message.codec(), &Answer { value }).map_err(|e| e.to_string())?))
    }
}

airssys_wasm_component::component!(Calculator);

//! Counts the messages it handled since its instance started and answers with the count
//! (decimal text, raw codec). State lives in linear memory, so it persists across messages
//! and starts again from zero after a restart. The message `crash` traps; `fail` returns an
//! error; `shutdown` is logged. Config `fail-init = true` fails `init`; `init-delay-ms = N`
//! makes `init` take N milliseconds (a slow start); `subscribe = PATTERN` subscribes to it
//! (what is published there is counted too).

wit_bindgen::generate!({ path: "../../../../wit", world: "component" });

#[allow(unused_imports)]
use airssys::component::types::{Message, Notice, Payload, RequestError};

use std::sync::atomic::{AtomicU64, Ordering};

use airssys::component::logging::{Level, log};

static COUNT: AtomicU64 = AtomicU64::new(0);

const RAW: u32 = 0x55;

struct Counter;

impl exports::airssys::component::actor::Guest for Counter {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        if config.iter().any(|(k, v)| k == "fail-init" && v == "true") {
            return Err("configured to fail".into());
        }
        for (_, pattern) in config.iter().filter(|(k, _)| k == "subscribe") {
            airssys::component::messaging::subscribe(pattern).map_err(|e| format!("{e:?}"))?;
        }
        if let Some((_, ms)) = config.iter().find(|(k, _)| k == "init-delay-ms") {
            let ms: u64 = ms.parse().map_err(|_| "bad init-delay-ms".to_string())?;
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        Ok(())
    }

    fn handle_message(message: Message) -> Result<Option<Payload>, String> {
        match message.payload.bytes.as_slice() {
            b"crash" => panic!("asked to crash"),
            b"fail" => return Err("asked to fail".into()),
            _ => {}
        }
        let n = COUNT.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(Some(Payload { codec: RAW, bytes: n.to_string().into_bytes() }))
    }

    fn handle_callback(_id: u64, _outcome: Result<Option<Payload>, RequestError>) {}

    fn handle_notice(_notice: Notice) {}

    fn shutdown() {
        log(
            Level::Info,
            "counter shutting down",
            &[("count".into(), COUNT.load(Ordering::Relaxed).to_string())],
        );
    }
}

export!(Counter);

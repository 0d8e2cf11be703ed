// A counter of the `upgradable` world, built twice (`versioned-one` as "v1", `versioned-two`
// as "v2"), for code upgrades: every message is answered with `VERSION:n`, `n` the messages
// counted, and the count is handed over to the next version (`hand-over`, `take-over`).
//
// The message `crash` traps. Config, each naming the version it applies to (`= v2`):
// `fail-init` fails its `init`; `fail-hand-over` and `fail-take-over` fail those exports.

wit_bindgen::generate!({ path: "../../../../wit", world: "upgradable" });

#[allow(unused_imports)]
use airssys::component::types::{Message, Notice, Payload, RequestError};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static COUNT: AtomicU64 = AtomicU64::new(0);
static FAIL_HAND_OVER: AtomicBool = AtomicBool::new(false);
static FAIL_TAKE_OVER: AtomicBool = AtomicBool::new(false);

const RAW: u32 = 0x55;

struct Versioned;

/// Whether the config sets `key` for this version.
fn set_for_me(config: &[(String, String)], key: &str) -> bool {
    config.iter().any(|(k, v)| k == key && v == VERSION)
}

impl exports::airssys::component::actor::Guest for Versioned {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        if set_for_me(&config, "fail-init") {
            return Err(format!("{VERSION} is configured to fail its init"));
        }
        FAIL_HAND_OVER.store(set_for_me(&config, "fail-hand-over"), Ordering::Relaxed);
        FAIL_TAKE_OVER.store(set_for_me(&config, "fail-take-over"), Ordering::Relaxed);
        Ok(())
    }

    fn handle_message(message: Message) -> Result<Option<Payload>, String> {
        if message.payload.bytes == b"crash" {
            panic!("{VERSION} asked to crash");
        }
        let n = COUNT.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(Some(Payload { codec: RAW, bytes: format!("{VERSION}:{n}").into_bytes() }))
    }

    fn handle_callback(_id: u64, _outcome: Result<Option<Payload>, RequestError>) {}

    fn handle_notice(_notice: Notice) {}

    fn shutdown() {}
}

impl exports::airssys::component::handover::Guest for Versioned {
    fn hand_over() -> Result<Payload, String> {
        if FAIL_HAND_OVER.load(Ordering::Relaxed) {
            return Err(format!("{VERSION} refuses to hand over"));
        }
        let count = COUNT.load(Ordering::Relaxed);
        Ok(Payload { codec: RAW, bytes: count.to_string().into_bytes() })
    }

    fn take_over(state: Payload) -> Result<(), String> {
        if FAIL_TAKE_OVER.load(Ordering::Relaxed) {
            return Err(format!("{VERSION} refuses to take over"));
        }
        let text = String::from_utf8(state.bytes).map_err(|_| "state is not text".to_string())?;
        let count: u64 = text.parse().map_err(|_| format!("state {text:?} is not a count"))?;
        COUNT.store(count, Ordering::Relaxed);
        Ok(())
    }
}

export!(Versioned);

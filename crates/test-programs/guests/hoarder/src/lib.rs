//! A component that hoards host resources on request, to test the per-component limits:
//! - config `subscribe = <n>`: `init` subscribes to `flood.<i>` for `i` in `0..n` (and fails
//!   if one is refused);
//! - `subscribe:<n>`: subscribes to `more.<i>` for `i` in `0..n`;
//! - `udp:<n>`: binds `n` UDP sockets on `0.0.0.0:0` and keeps them open;
//! - `open:<path>:<n>`: opens the file `n` times and keeps the handles;
//! - `release`: closes every socket and file it keeps;
//! - `log:<n>`: logs `n` lines through the `logging` import;
//! - `print:<n>:<len>`: writes `n` lines of `len` bytes to stdout;
//! - `store:<n>`: makes `n` storage writes;
//! - `trap`: traps;
//! - anything else: answers `ok`.
//!
//! A loop answers `<verb> <count>` when every step succeeded, or `<verb> <count>, then
//! <error>` for the first refusal.

wit_bindgen::generate!({ path: "../../../../wit", world: "component" });

#[allow(unused_imports)]
use airssys::component::types::{Message, Notice, Payload, RequestError};

use std::cell::RefCell;

use airssys::component::{logging, messaging, storage};

const RAW: u32 = 0x55;

thread_local! {
    static SOCKETS: RefCell<Vec<std::net::UdpSocket>> = const { RefCell::new(Vec::new()) };
    static FILES: RefCell<Vec<std::fs::File>> = const { RefCell::new(Vec::new()) };
}

struct Hoarder;

fn answer(text: String) -> Result<Option<Payload>, String> {
    Ok(Some(Payload { codec: RAW, bytes: text.into_bytes() }))
}

fn count(arg: &str) -> Result<usize, String> {
    arg.parse().map_err(|_| format!("bad count {arg:?}"))
}

/// Run `step` `n` times, stopping at the first error.
fn repeat<E: std::fmt::Debug>(
    verb: &str,
    n: usize,
    mut step: impl FnMut(usize) -> Result<(), E>,
) -> String {
    for i in 0..n {
        if let Err(e) = step(i) {
            return format!("{verb} {i}, then {e:?}");
        }
    }
    format!("{verb} {n}")
}

impl exports::airssys::component::actor::Guest for Hoarder {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        if let Some((_, n)) = config.iter().find(|(k, _)| k == "subscribe") {
            let n = count(n)?;
            for i in 0..n {
                messaging::subscribe(&format!("flood.{i}"))
                    .map_err(|e| format!("subscription {i} refused: {e:?}"))?;
            }
        }
        Ok(())
    }

    fn handle_message(message: Message) -> Result<Option<Payload>, String> {
        let text = String::from_utf8_lossy(&message.payload.bytes).into_owned();
        let (verb, rest) = text.split_once(':').unwrap_or((&text, ""));
        match verb {
            "subscribe" => answer(repeat("subscribed", count(rest)?, |i| {
                messaging::subscribe(&format!("more.{i}"))
            })),
            "udp" => answer(repeat("bound", count(rest)?, |_| {
                let socket = std::net::UdpSocket::bind("0.0.0.0:0")
                    .map_err(|e| format!("{:?}: {e}", e.kind()))?;
                SOCKETS.with(|s| s.borrow_mut().push(socket));
                Ok::<(), String>(())
            })),
            "open" => {
                let (path, n) = rest.rsplit_once(':').ok_or("expected open:<path>:<n>")?;
                answer(repeat("opened", count(n)?, |_| {
                    let file =
                        std::fs::File::open(path).map_err(|e| format!("{:?}: {e}", e.kind()))?;
                    FILES.with(|f| f.borrow_mut().push(file));
                    Ok::<(), String>(())
                }))
            }
            "release" => {
                SOCKETS.with(|s| s.borrow_mut().clear());
                FILES.with(|f| f.borrow_mut().clear());
                answer("released".into())
            }
            "log" => {
                let n = count(rest)?;
                for i in 0..n {
                    logging::log(logging::Level::Info, &format!("hoarder log line {i}"), &[]);
                }
                answer(format!("logged {n}"))
            }
            "print" => {
                let (n, len) = rest.split_once(':').ok_or("expected print:<n>:<len>")?;
                let (n, len) = (count(n)?, count(len)?);
                let line = "x".repeat(len);
                for _ in 0..n {
                    println!("{line}");
                }
                answer(format!("printed {n}"))
            }
            "store" => answer(repeat("stored", count(rest)?, |i| {
                storage::set(&format!("key{}", i % 8), b"value")
            })),
            "trap" => std::process::abort(),
            _ => answer("ok".into()),
        }
    }

    fn handle_callback(_id: u64, _outcome: Result<Option<Payload>, RequestError>) {}

    fn handle_notice(_notice: Notice) {}

    fn shutdown() {}
}

export!(Hoarder);

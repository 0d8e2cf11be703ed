//! Talks to another component, named by the `target` config key:
//! - `call:<text>`: calls the target with `<text>` and answers with its response;
//! - `send:<text>`: sends `<text>` to the target and answers `sent`;
//! - `request:<ms>:<text>`: requests `<text>` from the target with a timeout of `<ms>` and
//!   answers `requested <id>`; the outcome arrives in `handle-callback` and is recorded;
//! - `cancel:<id>`: cancels a pending request and answers `true` or `false`;
//! - `callbacks`: answers with the recorded callback outcomes, one per line;
//! - `subscribe:<pattern>`, `unsubscribe:<pattern>`, `publish:<topic>:<text>`: pub/sub (the
//!   `subscribe` config key subscribes in `init`, and `init-request` requests its text from
//!   the target in `init`); published messages it receives are
//!   recorded as `<topic>:<text> from <sender>` and `received` answers with them;
//! - `burst:<n>`: sends `<n>` messages to the target and answers `sent <n>`;
//! - `window:<n>:<w>`: sends `<n>` messages to the target, calling it after every `<w>` (so
//!   that its mailbox drains and no send is refused) and answers `sent <n>`;
//! - `publish-bench:<n>:<topic>`: publishes `<n>` messages to `<topic>` and answers
//!   `delivered <total>` (the sum of what each publish was queued for);
//! - `request-bench:<n>`: makes `<n>` requests to the target one after the other, each made
//!   by the callback of the one before, timing each round trip (request to callback) with
//!   the WASI clock; `request-bench-result` answers `<p50> <p99>` in nanoseconds once all
//!   are done (`running` before);
//! - `flood:<n>`: sends `<n>` messages without retrying and answers `sent <k>, refused <r>
//!   <first error>`;
//! - `request-many:<n>:<ms>:<text>`: makes `<n>` requests and answers `requested <k>,
//!   refused <r> <first error>`;
//! - `send-to:<address>:<text>`: sends to any address and answers `sent` or the error;
//! - `call-bench:<n>`: calls the target `<n>` times and answers with the median and 99th
//!   percentile round trip in nanoseconds (`<p50> <p99>`), timed with the WASI clock;
//! - `whoami`: answers with the sender address the host stamped on the message;
//! - `self`: answers with its own address;
//! - `req:<ms>:<tag>:<text>`: like `request`, remembering `<tag>` for the request's id; the
//!   outcome is recorded as `<tag> ok:<response>`, `<tag> timeout`, `<tag> crashed` or
//!   `<tag> error:<error>` (a callback for an id it does not know goes to `callbacks`);
//! - `take`: answers with the recorded tagged outcomes, one per line, and forgets them;
//! - `pending`: answers how many tagged requests have not called back yet;
//! - `take-received`: answers how many published messages it recorded, and forgets them.
//! - `crash`: traps (the instance's state, recorded outcomes included, is lost).
//! - `link:<address>`, `unlink:<address>`, `monitor:<address>` (answers `monitor <id>`),
//!   `demonitor:<id>`, `trap-exits:<true|false>`, `monitor-many:<n>:<address>` (answers
//!   `monitored <k>[, then <error>]`): links and monitors; the notices it gets
//!   are recorded as `down <id> <target> <reason>` or `exit <partner> <reason>`, and
//!   `notices` answers with them, one per line (the `monitor` and `link` config keys do the
//!   same in `init`, and `trap-exits` too);
//! - `log:<text>`: recorded as `log:<text> from <sender>` (with published messages, in the
//!   order received; `received` answers with them), answers `logged`;
//! - `mixed:<n>:<topic>`: sends `log:0`, requests `log:1` (tagged `r1`), publishes `log:2` to
//!   `<topic>`, calls `log:3`, and so on round the four kinds up to `log:<n-1>`; answers
//!   `done` or the first error;
//! - `correlation`: answers with the correlation the message came with (`none` if none);
//! - `trace`: answers with the trace context the message came with (`none` if none);
//! - `request-trace:<ms>`: requests `trace` from the target (tagged `trace`, so that `take`
//!   shows the trace the target saw) and answers `requested <id> <its own trace>`.

wit_bindgen::generate!({ path: "../../../../wit", world: "component" });

#[allow(unused_imports)]
use airssys::component::types::{Message, Notice, Payload, RequestError};

use std::cell::RefCell;

use airssys::component::links;
use airssys::component::messaging::{
    call, cancel, publish, request, self_address, send, subscribe, unsubscribe,
};
use airssys::component::types::{ExitReason, SendError};

const RAW: u32 = 0x55;

thread_local! {
    static TARGET: RefCell<String> = const { RefCell::new(String::new()) };
    static CALLBACKS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static RECEIVED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static TAGS: RefCell<std::collections::HashMap<u64, String>> =
        RefCell::new(std::collections::HashMap::new());
    static OUTCOMES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static NOTICES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// `request-bench`: the requests still to make, the id and start of the one in flight,
    /// and the round trips so far.
    static BENCH: RefCell<RequestBench> = const { RefCell::new(RequestBench::new()) };
}

struct RequestBench {
    left: u32,
    in_flight: Option<(u64, std::time::Instant)>,
    times: Vec<u64>,
}

impl RequestBench {
    const fn new() -> Self {
        RequestBench { left: 0, in_flight: None, times: Vec::new() }
    }
}

/// Make the next `request-bench` request, if any is left.
fn next_bench_request() -> Result<(), String> {
    let target = TARGET.with(|t| t.borrow().clone());
    BENCH.with(|b| {
        let mut b = b.borrow_mut();
        if b.left == 0 {
            return Ok(());
        }
        b.left -= 1;
        let start = std::time::Instant::now();
        let id = request(&target, &raw("x"), 5000).map_err(|e| format!("{e:?}"))?;
        b.in_flight = Some((id, start));
        Ok(())
    })
}

fn reason_text(reason: &ExitReason) -> String {
    match reason {
        ExitReason::Normal => "normal".into(),
        ExitReason::Shutdown => "shutdown".into(),
        ExitReason::Killed => "killed".into(),
        ExitReason::NoSuchComponent => "no-such-component".into(),
        ExitReason::Crashed(why) => format!("crashed:{why}"),
    }
}

fn raw(text: &str) -> Payload {
    Payload { codec: RAW, bytes: text.as_bytes().to_vec() }
}

struct Relay;

impl exports::airssys::component::actor::Guest for Relay {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        for (_, pattern) in config.iter().filter(|(k, _)| k == "subscribe") {
            subscribe(pattern).map_err(|e| format!("{e:?}"))?;
        }
        let get = |key: &str| config.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let target = get("target").unwrap_or_default();
        if let Some(text) = get("init-request") {
            request(&target, &raw(&text), 5000).map_err(|e| format!("{e:?}"))?;
        }
        if get("trap-exits").as_deref() == Some("true") {
            links::trap_exits(true);
        }
        for (_, address) in config.iter().filter(|(k, _)| k == "link") {
            links::link(address).map_err(|e| format!("{e:?}"))?;
        }
        for (_, address) in config.iter().filter(|(k, _)| k == "monitor") {
            links::monitor(address).map_err(|e| format!("{e:?}"))?;
        }
        TARGET.with(|t| *t.borrow_mut() = target);
        Ok(())
    }

    fn handle_message(message: Message) -> Result<Option<Payload>, String> {
        let text = String::from_utf8_lossy(&message.payload.bytes).into_owned();
        if let Some(topic) = &message.topic {
            RECEIVED
                .with(|r| r.borrow_mut().push(format!("{topic}:{text} from {}", message.sender)));
            return Ok(None);
        }
        if let Some(pattern) = text.strip_prefix("subscribe:") {
            return Ok(Some(raw(&format!("{:?}", subscribe(pattern)))));
        }
        if let Some(pattern) = text.strip_prefix("unsubscribe:") {
            return Ok(Some(raw(&unsubscribe(pattern).to_string())));
        }
        if let Some(rest) = text.strip_prefix("publish:") {
            let (topic, body) = rest.split_once(':').ok_or("expected publish:<topic>:<text>")?;
            return Ok(Some(raw(&match publish(topic, &raw(body)) {
                Ok(n) => format!("published {n}"),
                Err(e) => format!("error: {e:?}"),
            })));
        }
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
        if let Some(rest) = text.strip_prefix("request:") {
            let (ms, body) = rest.split_once(':').ok_or("expected request:<ms>:<text>")?;
            let ms: u32 = ms.parse().map_err(|_| "bad timeout".to_string())?;
            return match request(&target, &raw(body), ms) {
                Ok(id) => Ok(Some(raw(&format!("requested {id}")))),
                Err(e) => Ok(Some(raw(&format!("error: {e:?}")))),
            };
        }
        if let Some(rest) = text.strip_prefix("req:") {
            let mut parts = rest.splitn(3, ':');
            let (Some(ms), Some(tag), Some(body)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err("expected req:<ms>:<tag>:<text>".into());
            };
            let ms: u32 = ms.parse().map_err(|_| "bad timeout".to_string())?;
            return match request(&target, &raw(body), ms) {
                Ok(id) => {
                    TAGS.with(|t| t.borrow_mut().insert(id, tag.to_string()));
                    Ok(Some(raw(&format!("requested {id}"))))
                }
                Err(e) => Ok(Some(raw(&format!("error: {e:?}")))),
            };
        }
        if let Some(id) = text.strip_prefix("cancel:") {
            let id: u64 = id.parse().map_err(|_| "bad id".to_string())?;
            return Ok(Some(raw(&cancel(id).to_string())));
        }
        if let Some(rest) = text.strip_prefix("window:") {
            let (n, w) = rest.split_once(':').ok_or("expected window:<n>:<w>")?;
            let n: u32 = n.parse().map_err(|_| "bad count".to_string())?;
            let w: u32 = w.parse().map_err(|_| "bad window".to_string())?;
            let msg = raw("x");
            for i in 1..=n {
                send(&target, &msg).map_err(|e| format!("{e:?}"))?;
                if i % w.max(1) == 0 {
                    call(&target, &msg, 60_000).map_err(|e| format!("{e:?}"))?;
                }
            }
            return Ok(Some(raw(&format!("sent {n}"))));
        }
        if let Some(rest) = text.strip_prefix("publish-bench:") {
            let (n, topic) = rest.split_once(':').ok_or("expected publish-bench:<n>:<topic>")?;
            let n: u32 = n.parse().map_err(|_| "bad count".to_string())?;
            let msg = raw("x");
            let mut total: u64 = 0;
            for _ in 0..n {
                total += u64::from(publish(topic, &msg).map_err(|e| format!("{e:?}"))?);
            }
            return Ok(Some(raw(&format!("delivered {total}"))));
        }
        if let Some(n) = text.strip_prefix("request-bench:") {
            let n: u32 = n.parse().map_err(|_| "bad count".to_string())?;
            BENCH.with(|b| *b.borrow_mut() = RequestBench { left: n, ..RequestBench::new() });
            next_bench_request()?;
            return Ok(Some(raw("started")));
        }
        if text == "request-bench-result" {
            return Ok(Some(raw(&BENCH.with(|b| {
                let b = b.borrow();
                if b.left > 0 || b.in_flight.is_some() || b.times.is_empty() {
                    return "running".to_string();
                }
                let mut times = b.times.clone();
                times.sort_unstable();
                let p = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize];
                format!("{} {}", p(0.5), p(0.99))
            }))));
        }
        if let Some(n) = text.strip_prefix("burst:") {
            let n: u32 = n.parse().map_err(|_| "bad count".to_string())?;
            let msg = raw("x");
            let mut sent = 0;
            for _ in 0..n {
                // A full mailbox refuses; try again (the target drains it meanwhile).
                loop {
                    match send(&target, &msg) {
                        Ok(()) => break,
                        Err(SendError::MailboxFull) => continue,
                        Err(e) => return Err(format!("{e:?}")),
                    }
                }
                sent += 1;
            }
            return Ok(Some(raw(&format!("sent {sent}"))));
        }
        if let Some(n) = text.strip_prefix("flood:") {
            let n: u32 = n.parse().map_err(|_| "bad count".to_string())?;
            let (mut sent, mut refused, mut first) = (0, 0, String::new());
            for _ in 0..n {
                match send(&target, &raw("x")) {
                    Ok(()) => sent += 1,
                    Err(e) => {
                        refused += 1;
                        if first.is_empty() {
                            first = format!("{e:?}");
                        }
                    }
                }
            }
            return Ok(Some(raw(&format!("sent {sent}, refused {refused} {first}")
                .trim_end()
                .to_string())));
        }
        if let Some(rest) = text.strip_prefix("request-many:") {
            let mut parts = rest.splitn(3, ':');
            let (Some(n), Some(ms), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
                return Err("expected request-many:<n>:<ms>:<text>".into());
            };
            let n: u32 = n.parse().map_err(|_| "bad count".to_string())?;
            let ms: u32 = ms.parse().map_err(|_| "bad timeout".to_string())?;
            let (mut ok, mut refused, mut first) = (0, 0, String::new());
            for _ in 0..n {
                match request(&target, &raw(body), ms) {
                    Ok(_) => ok += 1,
                    Err(e) => {
                        refused += 1;
                        if first.is_empty() {
                            first = format!("{e:?}");
                        }
                    }
                }
            }
            return Ok(Some(raw(&format!("requested {ok}, refused {refused} {first}")
                .trim_end()
                .to_string())));
        }
        if let Some(rest) = text.strip_prefix("send-to:") {
            let (address, body) =
                rest.split_once(':').ok_or("expected send-to:<address>:<text>")?;
            return Ok(Some(raw(&match send(address, &raw(body)) {
                Ok(()) => "sent".to_string(),
                Err(e) => format!("error: {e:?}"),
            })));
        }
        if text.starts_with("log:") {
            RECEIVED.with(|r| r.borrow_mut().push(format!("{text} from {}", message.sender)));
            return Ok(Some(raw("logged")));
        }
        if let Some(rest) = text.strip_prefix("mixed:") {
            let (n, topic) = rest.split_once(':').ok_or("expected mixed:<n>:<topic>")?;
            let n: u32 = n.parse().map_err(|_| "bad count".to_string())?;
            for i in 0..n {
                let body = raw(&format!("log:{i}"));
                let done = match i % 4 {
                    0 => send(&target, &body).map_err(|e| format!("{e:?}")),
                    1 => request(&target, &body, 5000).map_err(|e| format!("{e:?}")).map(|id| {
                        TAGS.with(|t| t.borrow_mut().insert(id, format!("r{i}")));
                    }),
                    2 => publish(topic, &body).map(|_| ()).map_err(|e| format!("{e:?}")),
                    _ => call(&target, &body, 5000).map(|_| ()).map_err(|e| format!("{e:?}")),
                };
                if let Err(e) = done {
                    return Ok(Some(raw(&format!("log:{i} failed: {e}"))));
                }
            }
            return Ok(Some(raw("done")));
        }
        if let Some(address) = text.strip_prefix("link:") {
            return Ok(Some(raw(&match links::link(address) {
                Ok(()) => "linked".to_string(),
                Err(e) => format!("{e:?}"),
            })));
        }
        if let Some(rest) = text.strip_prefix("monitor-many:") {
            let (n, address) = rest.split_once(':').ok_or("expected monitor-many:<n>:<address>")?;
            let n: u32 = n.parse().map_err(|_| "bad count".to_string())?;
            let mut made = 0;
            for _ in 0..n {
                match links::monitor(address) {
                    Ok(_) => made += 1,
                    Err(e) => return Ok(Some(raw(&format!("monitored {made}, then {e:?}")))),
                }
            }
            return Ok(Some(raw(&format!("monitored {made}"))));
        }
        if let Some(address) = text.strip_prefix("unlink:") {
            return Ok(Some(raw(&links::unlink(address).to_string())));
        }
        if let Some(address) = text.strip_prefix("monitor:") {
            return Ok(Some(raw(&match links::monitor(address) {
                Ok(id) => format!("monitor {id}"),
                Err(e) => format!("{e:?}"),
            })));
        }
        if let Some(id) = text.strip_prefix("demonitor:") {
            let id: u64 = id.parse().map_err(|_| "bad id".to_string())?;
            return Ok(Some(raw(&links::demonitor(id).to_string())));
        }
        if let Some(on) = text.strip_prefix("trap-exits:") {
            links::trap_exits(on == "true");
            return Ok(Some(raw("ok")));
        }
        if let Some(ms) = text.strip_prefix("request-trace:") {
            let ms: u32 = ms.parse().map_err(|_| "bad timeout".to_string())?;
            let id = request(&target, &raw("trace"), ms).map_err(|e| format!("{e:?}"))?;
            TAGS.with(|t| t.borrow_mut().insert(id, "trace".into()));
            let mine = message.trace.as_deref().unwrap_or("none");
            return Ok(Some(raw(&format!("requested {id} {mine}"))));
        }
        if let Some(n) = text.strip_prefix("call-bench:") {
            let n: usize = n.parse().map_err(|_| "bad count".to_string())?;
            let msg = raw("x");
            let mut times = Vec::with_capacity(n);
            for _ in 0..n {
                let start = std::time::Instant::now();
                call(&target, &msg, 1000).map_err(|e| format!("{e:?}"))?;
                times.push(start.elapsed().as_nanos() as u64);
            }
            times.sort_unstable();
            let p = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize];
            return Ok(Some(raw(&format!("{} {}", p(0.5), p(0.99)))));
        }
        match text.as_str() {
            "received" => Ok(Some(raw(&RECEIVED.with(|r| r.borrow().join("\n"))))),
            "callbacks" => Ok(Some(raw(&CALLBACKS.with(|c| c.borrow().join("\n"))))),
            "take" => {
                Ok(Some(raw(&OUTCOMES.with(|o| std::mem::take(&mut *o.borrow_mut())).join("\n"))))
            }
            "pending" => Ok(Some(raw(&TAGS.with(|t| t.borrow().len()).to_string()))),
            "take-received" => Ok(Some(raw(&RECEIVED
                .with(|r| std::mem::take(&mut *r.borrow_mut()))
                .len()
                .to_string()))),
            "whoami" => Ok(Some(raw(&message.sender))),
            "notices" => Ok(Some(raw(&NOTICES.with(|n| n.borrow().join("\n"))))),
            "correlation" => {
                Ok(Some(raw(&message.correlation.map_or("none".to_string(), |c| c.to_string()))))
            }
            "trace" => Ok(Some(raw(message.trace.as_deref().unwrap_or("none")))),
            "self" => Ok(Some(raw(&self_address()))),
            "crash" => panic!("asked to crash"),
            _ => Err(format!("unknown command {text:?}")),
        }
    }

    fn handle_callback(id: u64, outcome: Result<Option<Payload>, RequestError>) {
        let bench = BENCH.with(|b| {
            let mut b = b.borrow_mut();
            match b.in_flight {
                Some((in_flight, start)) if in_flight == id => {
                    b.in_flight = None;
                    b.times.push(start.elapsed().as_nanos() as u64);
                    true
                }
                _ => false,
            }
        });
        if bench {
            if outcome.is_err() {
                BENCH.with(|b| b.borrow_mut().left = 0);
            } else if next_bench_request().is_err() {
                BENCH.with(|b| b.borrow_mut().left = 0);
            }
            return;
        }
        if let Some(tag) = TAGS.with(|t| t.borrow_mut().remove(&id)) {
            let line = match &outcome {
                Ok(Some(p)) => format!("{tag} ok:{}", String::from_utf8_lossy(&p.bytes)),
                Ok(None) => format!("{tag} ok:"),
                Err(RequestError::Timeout) => format!("{tag} timeout"),
                Err(RequestError::ReceiverCrashed(_)) => format!("{tag} crashed"),
                Err(e) => format!("{tag} error:{e:?}"),
            };
            OUTCOMES.with(|o| o.borrow_mut().push(line));
            return;
        }
        let line = match outcome {
            Ok(Some(p)) => format!("{id}:ok:{}", String::from_utf8_lossy(&p.bytes)),
            Ok(None) => format!("{id}:ok"),
            Err(RequestError::Timeout) => format!("{id}:timeout"),
            Err(RequestError::ReceiverCrashed(_)) => format!("{id}:crashed"),
            Err(e) => format!("{id}:error:{e:?}"),
        };
        CALLBACKS.with(|c| c.borrow_mut().push(line));
    }

    fn handle_notice(notice: Notice) {
        let line = match notice {
            Notice::Down(d) => {
                format!("down {} {} {}", d.monitor, d.target, reason_text(&d.reason))
            }
            Notice::Exit(e) => format!("exit {} {}", e.partner, reason_text(&e.reason)),
        };
        NOTICES.with(|n| n.borrow_mut().push(line));
    }

    fn shutdown() {}
}

export!(Relay);

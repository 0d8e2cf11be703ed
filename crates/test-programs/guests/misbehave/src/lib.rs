//! A component that misbehaves on request:
//! - `spin`: loops forever (the host's CPU deadline must trap it);
//! - `grow:<MiB>`: allocates and touches that many MiB (the memory limit must trap it);
//! - `print:<text>`: writes `<text>` to stdout and `err:<text>` to stderr;
//! - `recurse`: recurses without bound (a stack overflow must trap, not crash the host);
//! - `sleep:<ms>`: answers `slept` after that many milliseconds (a slow responder);
//! - `burn:<n>`: runs a compute loop of `n` iterations and answers its result;
//! - `read:<path>` / `write:<path>:<text>`: file access through WASI; answers the contents,
//!   `written`, or `error: <what>`;
//! - `env:<name>`: answers the variable's value or `unset`;
//! - `connect:<ip:port>`: opens a TCP connection through WASI sockets; answers `connected`
//!   or `error: <what>`;
//! - `listen:<ip:port>`: binds a TCP listener; answers `listening` or `error: <what>`;
//! - `udp:<bind ip:port>:<peer ip:port>`: binds a UDP socket and sends `x` to the peer;
//!   answers `sent` or `error: <what>`;
//! - `run:<timeout ms>:<command>\t<arg>\t<arg>...`: runs a host command through the
//!   `process` import; answers `exit <code>: <stdout>`, `signal <n>`, `timed out`, or
//!   `error: <what>`;
//! - `log:<text>`: logs `<text>` through the `logging` import (with a field `note=<text>`);
//! - `span:<name>:<text>`: opens a span of its own named `<name>` (a log line with the field
//!   `span.start`), logs `<text>` in it, and closes it (`span.end`); answers `spanned`;
//! - `send:<target>:<text>`: sends `<text>` to `<target>`; answers `sent` or `error: <what>`;
//! - `big:<n>`: answers `n` bytes of `x`;
//! - `codec:<code>:<text>`: answers `<text>` in the codec `<code>` (decimal);
//! - anything else: answers `ok`.
//!
//! Its `init` misbehaves on configuration: `init-sleep-ms` sleeps that long, only when the
//! file named by `init-sleep-if` exists if that is set as well (a start that becomes slow
//! after a crash); `init-error` fails `init` with that text.

wit_bindgen::generate!({ path: "../../../../wit", world: "component" });

#[allow(unused_imports)]
use airssys::component::types::{Message, Notice, Payload, RequestError};

const RAW: u32 = 0x55;

struct Misbehave;

impl exports::airssys::component::actor::Guest for Misbehave {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        let get = |key: &str| config.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        if let Some(text) = get("init-error") {
            return Err(text);
        }
        if let Some(ms) = get("init-sleep-ms") {
            let ms: u64 = ms.parse().map_err(|_| "bad init-sleep-ms".to_string())?;
            let armed = get("init-sleep-if").is_none_or(|p| std::path::Path::new(&p).exists());
            if armed {
                std::thread::sleep(std::time::Duration::from_millis(ms));
            }
        }
        Ok(())
    }

    fn handle_message(message: Message) -> Result<Option<Payload>, String> {
        let text = String::from_utf8_lossy(&message.payload.bytes).into_owned();
        if text == "spin" {
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        if let Some(mib) = text.strip_prefix("grow:") {
            let mib: usize = mib.parse().map_err(|_| "bad size".to_string())?;
            let mut block = vec![0u8; mib << 20];
            for i in (0..block.len()).step_by(4096) {
                block[i] = 1;
            }
            let touched = std::hint::black_box(&block).iter().filter(|b| **b == 1).count();
            return Ok(Some(Payload { codec: RAW, bytes: touched.to_string().into_bytes() }));
        }
        if text == "recurse" {
            let depth = recurse(std::hint::black_box(1));
            return Ok(Some(Payload { codec: RAW, bytes: depth.to_string().into_bytes() }));
        }
        if let Some(ms) = text.strip_prefix("sleep:") {
            let ms: u64 = ms.parse().map_err(|_| "bad duration".to_string())?;
            std::thread::sleep(std::time::Duration::from_millis(ms));
            return Ok(Some(Payload { codec: RAW, bytes: b"slept".to_vec() }));
        }
        if let Some(n) = text.strip_prefix("burn:") {
            let n: u64 = n.parse().map_err(|_| "bad count".to_string())?;
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            for i in 0..n {
                x = std::hint::black_box(x.rotate_left(5) ^ i).wrapping_mul(0x100_0000_01b3);
            }
            return Ok(Some(Payload { codec: RAW, bytes: x.to_string().into_bytes() }));
        }
        if let Some(path) = text.strip_prefix("read:") {
            let answer = match std::fs::read_to_string(path) {
                Ok(contents) => contents,
                Err(e) => format!("error: {e}"),
            };
            return Ok(Some(Payload { codec: RAW, bytes: answer.into_bytes() }));
        }
        if let Some(rest) = text.strip_prefix("write:") {
            let (path, body) = rest.split_once(':').ok_or("expected write:<path>:<text>")?;
            let answer = match std::fs::write(path, body) {
                Ok(()) => "written".to_string(),
                Err(e) => format!("error: {e}"),
            };
            return Ok(Some(Payload { codec: RAW, bytes: answer.into_bytes() }));
        }
        if let Some(name) = text.strip_prefix("env:") {
            let answer = std::env::var(name).unwrap_or_else(|_| "unset".into());
            return Ok(Some(Payload { codec: RAW, bytes: answer.into_bytes() }));
        }
        if let Some(addr) = text.strip_prefix("connect:") {
            let answer = match std::net::TcpStream::connect(addr) {
                Ok(_) => "connected".to_string(),
                Err(e) => format!("error: {e}"),
            };
            return Ok(Some(Payload { codec: RAW, bytes: answer.into_bytes() }));
        }
        if let Some(addr) = text.strip_prefix("listen:") {
            let answer = match std::net::TcpListener::bind(addr) {
                Ok(_) => "listening".to_string(),
                Err(e) => format!("error: {e}"),
            };
            return Ok(Some(Payload { codec: RAW, bytes: answer.into_bytes() }));
        }
        if let Some(rest) = text.strip_prefix("udp:") {
            let parts: Vec<&str> = rest.splitn(4, ':').collect();
            let [bind_ip, bind_port, peer_ip, peer_port] = parts[..] else {
                return Err("expected udp:<ip:port>:<ip:port>".into());
            };
            let sent = std::net::UdpSocket::bind(format!("{bind_ip}:{bind_port}"))
                .and_then(|socket| socket.send_to(b"x", format!("{peer_ip}:{peer_port}")));
            let answer = match sent {
                Ok(_) => "sent".to_string(),
                Err(e) => format!("error: {e}"),
            };
            return Ok(Some(Payload { codec: RAW, bytes: answer.into_bytes() }));
        }
        if let Some(rest) = text.strip_prefix("run:") {
            let (ms, rest) = rest.split_once(':').ok_or("expected run:<ms>:<command>")?;
            let ms: u32 = ms.parse().map_err(|_| "bad timeout".to_string())?;
            let mut parts = rest.split('\t').map(str::to_string);
            let command = parts.next().unwrap_or_default();
            let args: Vec<String> = parts.collect();
            let answer = match airssys::component::process::run(&command, &args, ms) {
                Ok(out) if out.timed_out => "timed out".to_string(),
                Ok(out) => match (out.exit_code, out.signal) {
                    (Some(code), _) => {
                        format!("exit {code}: {}", String::from_utf8_lossy(&out.stdout))
                    }
                    (None, signal) => format!("signal {}", signal.unwrap_or(-1)),
                },
                Err(e) => format!("error: {e:?}"),
            };
            return Ok(Some(Payload { codec: RAW, bytes: answer.into_bytes() }));
        }
        if let Some(n) = text.strip_prefix("big:") {
            let n: usize = n.parse().map_err(|_| "bad size".to_string())?;
            return Ok(Some(Payload { codec: RAW, bytes: vec![b'x'; n] }));
        }
        if let Some(rest) = text.strip_prefix("codec:") {
            let (code, body) = rest.split_once(':').ok_or("expected codec:<code>:<text>")?;
            let codec: u32 = code.parse().map_err(|_| "bad codec".to_string())?;
            return Ok(Some(Payload { codec, bytes: body.as_bytes().to_vec() }));
        }
        if let Some(rest) = text.strip_prefix("log:") {
            use airssys::component::logging::{Level, log};
            log(Level::Warn, rest, &[("note".to_string(), rest.to_string())]);
            return Ok(Some(Payload { codec: RAW, bytes: b"logged".to_vec() }));
        }
        if let Some(rest) = text.strip_prefix("span:") {
            use airssys::component::logging::{Level, log};
            let (name, inner) = rest.split_once(':').ok_or("expected span:<name>:<text>")?;
            log(Level::Debug, "begin", &[("span.start".to_string(), name.to_string())]);
            log(Level::Info, inner, &[]);
            log(Level::Debug, "end", &[("span.end".to_string(), name.to_string())]);
            return Ok(Some(Payload { codec: RAW, bytes: b"spanned".to_vec() }));
        }
        if let Some(rest) = text.strip_prefix("send:") {
            let (target, body) = rest.split_once(':').ok_or("expected send:<target>:<text>")?;
            let payload = Payload { codec: RAW, bytes: body.as_bytes().to_vec() };
            let answer = match airssys::component::messaging::send(target, &payload) {
                Ok(()) => "sent".to_string(),
                Err(e) => format!("error: {e:?}"),
            };
            return Ok(Some(Payload { codec: RAW, bytes: answer.into_bytes() }));
        }
        if let Some(rest) = text.strip_prefix("print:") {
            println!("{rest}");
            eprintln!("err:{rest}");
        }
        Ok(Some(Payload { codec: RAW, bytes: b"ok".to_vec() }))
    }

    fn handle_callback(_id: u64, _outcome: Result<Option<Payload>, RequestError>) {}

    fn handle_notice(_notice: Notice) {}

    fn shutdown() {}
}

/// Recurses until the wasm call stack runs out. The call goes through a function pointer the
/// compiler cannot see through, so it cannot turn the recursion into a loop.
#[allow(unconditional_recursion, reason = "unbounded on purpose: it must overflow the stack")]
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let next: fn(u64) -> u64 = std::hint::black_box(recurse);
    next(depth + 1).wrapping_mul(3) ^ depth
}

export!(Misbehave);

//! A component that uses its durable storage on request (text commands, answers as text):
//! - `get:<key>` → the value, or `none`;
//! - `set:<key>=<value>` → `ok`;
//! - `del:<key>` → `true` or `false`;
//! - `exists:<key>` → `true` or `false`;
//! - `incr:<key>:<delta>` → the new value;
//! - `incr-loop:<key>:<n>` → increments `n` times by 1, answers the last value;
//! - `cas-loop:<key>:<n>` → adds 1 `n` times with read + compare-and-swap retries, answers
//!   how many swaps failed and were retried;
//! - `cas:<key>:<expected or ->:<new or ->` → `true` or `false`;
//! - `batch:<op>,<op>,...` with ops `set <key> <value>` or `del <key>` → `ok`;
//! - `list:<prefix>:<page size>` → every key, one per line, read page by page;
//! - `usage` → `<bytes> <keys> <quota bytes> <quota keys>`;
//! - `big:<key>:<bytes>` → sets a value of that many bytes;
//! - `bench-set:<prefix>:<n>` → sets `<prefix><i>` to 16 bytes for i in 0..n, answers the
//!   mean ns per set (timed inside the guest with the WASI monotonic clock);
//! - `bench-get:<prefix>:<n>` → gets `<prefix><i % 1000>` n times, answers the mean ns;
//! - `config:<key>` → the configuration value (the `config` import), or `unset`;
//! - `crash` → traps.
//!
//! Any storage error answers `error: <error>`.

wit_bindgen::generate!({ path: "../../../../wit", world: "component" });

#[allow(unused_imports)]
use airssys::component::types::{Message, Notice, Payload, RequestError};

use airssys::component::storage::{self, BatchWrite, StorageError};

const RAW: u32 = 0x55;

struct Kv;

fn answer(text: impl Into<String>) -> Result<Option<Payload>, String> {
    Ok(Some(Payload { codec: RAW, bytes: text.into().into_bytes() }))
}

fn opt(text: &str) -> Option<Vec<u8>> {
    (text != "-").then(|| text.as_bytes().to_vec())
}

fn run(text: &str) -> Result<String, StorageError> {
    if let Some(key) = text.strip_prefix("get:") {
        return Ok(match storage::get(key)? {
            Some(v) => String::from_utf8_lossy(&v).into_owned(),
            None => "none".into(),
        });
    }
    if let Some(rest) = text.strip_prefix("set:") {
        let (key, value) = rest.split_once('=').unwrap_or((rest, ""));
        storage::set(key, value.as_bytes())?;
        return Ok("ok".into());
    }
    if let Some(key) = text.strip_prefix("del:") {
        return Ok(storage::delete(key)?.to_string());
    }
    if let Some(key) = text.strip_prefix("exists:") {
        return Ok(storage::exists(key)?.to_string());
    }
    if let Some(rest) = text.strip_prefix("incr-loop:") {
        let (key, n) = rest.rsplit_once(':').unwrap_or((rest, "1"));
        let mut last = 0;
        for _ in 0..n.parse::<u32>().unwrap_or(1) {
            last = storage::increment(key, 1)?;
        }
        return Ok(last.to_string());
    }
    if let Some(rest) = text.strip_prefix("incr:") {
        let (key, delta) = rest.rsplit_once(':').unwrap_or((rest, "1"));
        return Ok(storage::increment(key, delta.parse().unwrap_or(1))?.to_string());
    }
    if let Some(rest) = text.strip_prefix("cas-loop:") {
        let (key, n) = rest.rsplit_once(':').unwrap_or((rest, "1"));
        let mut retries = 0;
        for _ in 0..n.parse::<u32>().unwrap_or(1) {
            loop {
                let old = storage::get(key)?;
                let current: u64 = old
                    .as_deref()
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let new = (current + 1).to_string().into_bytes();
                if storage::compare_and_swap(key, old.as_deref(), Some(&new))? {
                    break;
                }
                retries += 1;
            }
        }
        return Ok(retries.to_string());
    }
    if let Some(rest) = text.strip_prefix("cas:") {
        let mut parts = rest.splitn(3, ':');
        let (key, expected, new) =
            (parts.next().unwrap_or(""), parts.next().unwrap_or("-"), parts.next().unwrap_or("-"));
        let (expected, new) = (opt(expected), opt(new));
        return Ok(storage::compare_and_swap(key, expected.as_deref(), new.as_deref())?.to_string());
    }
    if let Some(rest) = text.strip_prefix("batch:") {
        let writes: Vec<BatchWrite> = rest
            .split(',')
            .map(|op| {
                let parts: Vec<&str> = op.split(' ').collect();
                match parts[..] {
                    ["set", key, value] => BatchWrite::Set((key.into(), value.as_bytes().to_vec())),
                    ["del", key] => BatchWrite::Delete(key.into()),
                    _ => BatchWrite::Delete(String::new()),
                }
            })
            .collect();
        storage::batch(&writes)?;
        return Ok("ok".into());
    }
    if let Some(rest) = text.strip_prefix("list:") {
        let (prefix, size) = rest.rsplit_once(':').unwrap_or((rest, "100"));
        let size = size.parse().unwrap_or(100);
        let mut keys = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = storage::list_keys(prefix, cursor.as_deref(), size)?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        return Ok(keys.join("\n"));
    }
    if text == "usage" {
        let u = storage::usage()?;
        return Ok(format!("{} {} {} {}", u.bytes, u.keys, u.quota_bytes, u.quota_keys));
    }
    if let Some(rest) = text.strip_prefix("bench-set:") {
        let (prefix, n) = rest.rsplit_once(':').unwrap_or((rest, "1"));
        let n: u64 = n.parse().unwrap_or(1).max(1);
        let start = std::time::Instant::now();
        for i in 0..n {
            storage::set(&format!("{prefix}{i}"), b"0123456789abcdef")?;
        }
        return Ok((start.elapsed().as_nanos() as u64 / n).to_string());
    }
    if let Some(rest) = text.strip_prefix("bench-get:") {
        let (prefix, n) = rest.rsplit_once(':').unwrap_or((rest, "1"));
        let n: u64 = n.parse().unwrap_or(1).max(1);
        let start = std::time::Instant::now();
        for i in 0..n {
            std::hint::black_box(storage::get(&format!("{prefix}{}", i % 1000))?);
        }
        return Ok((start.elapsed().as_nanos() as u64 / n).to_string());
    }
    if let Some(key) = text.strip_prefix("config:") {
        return Ok(airssys::component::config::get(key).unwrap_or_else(|| "unset".into()));
    }
    if let Some(rest) = text.strip_prefix("big:") {
        let (key, n) = rest.rsplit_once(':').unwrap_or((rest, "0"));
        storage::set(key, &vec![b'x'; n.parse().unwrap_or(0)])?;
        return Ok("ok".into());
    }
    Ok("unknown command".into())
}

impl exports::airssys::component::actor::Guest for Kv {
    fn init(_config: Vec<(String, String)>) -> Result<(), String> {
        Ok(())
    }

    fn handle_message(message: Message) -> Result<Option<Payload>, String> {
        let text = String::from_utf8_lossy(&message.payload.bytes).into_owned();
        if text == "crash" {
            core::arch::wasm32::unreachable();
        }
        match run(&text) {
            Ok(text) => answer(text),
            Err(e) => answer(format!("error: {e:?}")),
        }
    }

    fn handle_callback(_id: u64, _outcome: Result<Option<Payload>, RequestError>) {}

    fn handle_notice(_notice: Notice) {}

    fn shutdown() {}
}

export!(Kv);

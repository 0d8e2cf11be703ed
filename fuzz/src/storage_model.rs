//! A model of component storage (`airssys_wasm::storage`): one map per scope, and what a
//! write group does to it. Shared by the `storage` fuzz target and the property test in
//! `crates/airssys-wasm/tests/all/fuzz_inputs.rs` (which includes this file by path), so
//! that both check the store against the same rules:
//! - keys are 1 to `MAX_KEY` bytes, values at most `MAX_VALUE`: checked for the whole group
//!   before anything is applied;
//! - a group applies in order, atomically: a counter that is not one, or that would
//!   overflow, refuses the whole group;
//! - a group is over quota when, after it, usage is past the quota *and* grew (a group that
//!   shrinks or keeps usage is accepted even above the quota);
//! - usage is the sum of key and value lengths, and the number of keys.

use std::collections::BTreeMap;

use airssys_wasm::storage::{MAX_KEY, MAX_VALUE, Quota, StorageError, Usage, Write, Written};

/// One scope's data.
pub type Data = BTreeMap<String, Vec<u8>>;

/// Every scope's data.
pub type Model = BTreeMap<String, Data>;

/// The usage of a scope's data.
pub fn usage(data: &Data) -> Usage {
    Usage {
        bytes: data.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum(),
        keys: data.len() as u64,
    }
}

/// Whether the store takes this key.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY
}

/// Which kind of refusal an error is (the model names refusals by kind).
pub fn kind(e: &StorageError) -> &'static str {
    match e {
        StorageError::InvalidKey(_) => "invalid key",
        StorageError::ValueTooLarge(_) => "too large",
        StorageError::QuotaExceeded(_) => "quota",
        StorageError::NotACounter(_) => "not a counter",
        StorageError::Import { .. } => "import",
        _ => "unavailable",
    }
}

/// What a write group does to a scope's `data`: the data after it and what each write did,
/// or the kind of refusal (then the data is as it was).
pub fn write(
    data: &Data,
    quota: Quota,
    writes: &[Write],
) -> Result<(Data, Vec<Written>), &'static str> {
    for w in writes {
        let (key, value) = match w {
            Write::Set(k, v) => (k, Some(v)),
            Write::Delete(k) | Write::Increment(k, _) => (k, None),
            Write::CompareAndSwap { key, new, .. } => (key, new.as_ref()),
        };
        if !valid_key(key) {
            return Err("invalid key");
        }
        if value.is_some_and(|v| v.len() > MAX_VALUE) {
            return Err("too large");
        }
    }
    let before = usage(data);
    let mut next = data.clone();
    let mut done = Vec::new();
    for w in writes {
        match w {
            Write::Set(k, v) => {
                next.insert(k.clone(), v.clone());
                done.push(Written::Set);
            }
            Write::Delete(k) => done.push(Written::Deleted(next.remove(k).is_some())),
            Write::Increment(k, delta) => {
                let current = match next.get(k) {
                    None => 0,
                    Some(v) => std::str::from_utf8(v)
                        .ok()
                        .and_then(|t| t.parse::<i64>().ok())
                        .ok_or("not a counter")?,
                };
                let n = current.checked_add(*delta).ok_or("not a counter")?;
                next.insert(k.clone(), n.to_string().into_bytes());
                done.push(Written::Counter(n));
            }
            Write::CompareAndSwap { key, expected, new } => {
                let swap = next.get(key) == expected.as_ref();
                done.push(Written::Swapped(swap));
                if swap {
                    match new {
                        Some(v) => next.insert(key.clone(), v.clone()),
                        None => next.remove(key),
                    };
                }
            }
        }
    }
    let after = usage(&next);
    if (after.bytes > quota.bytes && after.bytes > before.bytes)
        || (after.keys > quota.keys && after.keys > before.keys)
    {
        return Err("quota");
    }
    Ok((next, done))
}

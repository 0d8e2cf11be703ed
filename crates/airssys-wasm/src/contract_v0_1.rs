//! Components built against `airssys:component@0.1.0` run unchanged: their imports are served
//! by the current host functions, and what crosses between the two versions is converted here.
//!
//! The differences: 0.1.0 codecs are `u64` (a code past `u32::MAX` is no multicodec code and
//! is refused as `not-supported`); its messages carry no trace and its `correlation` is
//! `Some(0)` for any request; it has no `too-many-subscriptions` (it gets `not-permitted`), no
//! storage `rate-limited` (it gets `unavailable("rate limited: ...")`), and no links,
//! monitors or notices.

use crate::bindings::current::airssys::component as now;
use crate::bindings::v0_1::airssys::component as old;
use crate::state::HostState;

/// A 0.1.0 payload as the current one, if its codec is a multicodec code.
pub(crate) fn payload_in(p: old::types::Payload) -> Result<crate::types::Payload, String> {
    match u32::try_from(p.codec) {
        Ok(codec) => Ok(crate::types::Payload { codec, bytes: p.bytes }),
        Err(_) => {
            Err(format!("codec {:#x} is not a multicodec code (they fit in 32 bits)", p.codec))
        }
    }
}

pub(crate) fn payload_out(p: crate::types::Payload) -> old::types::Payload {
    old::types::Payload { codec: u64::from(p.codec), bytes: p.bytes }
}

pub(crate) fn message_out(m: &crate::types::Message) -> old::types::Message {
    old::types::Message {
        sender: m.sender.clone(),
        payload: payload_out(m.payload.clone()),
        correlation: m.correlation.map(|_| 0),
        topic: m.topic.clone(),
    }
}

pub(crate) fn send_error_out(e: crate::types::SendError) -> old::types::SendError {
    use crate::types::SendError as N;
    use old::types::SendError as O;
    match e {
        N::UnknownTarget(a) => O::UnknownTarget(a),
        N::MailboxFull => O::MailboxFull,
        N::PayloadTooLarge(n) => O::PayloadTooLarge(n),
        N::CodecNotAccepted(codecs) => {
            O::CodecNotAccepted(codecs.into_iter().map(u64::from).collect())
        }
        N::NotPermitted => O::NotPermitted,
        N::RateLimited => O::RateLimited,
        N::TooManyRequests => O::TooManyRequests,
        N::TargetStopped => O::TargetStopped,
        N::NotSupported(why) => O::NotSupported(why),
    }
}

pub(crate) fn request_error_out(e: crate::types::RequestError) -> old::types::RequestError {
    use crate::types::RequestError as N;
    use old::types::RequestError as O;
    match e {
        N::Refused(e) => O::Refused(send_error_out(e)),
        N::Timeout => O::Timeout,
        N::ReceiverCrashed(why) => O::ReceiverCrashed(why),
        N::HandlerError(why) => O::HandlerError(why),
    }
}

fn topic_error_out(e: crate::types::TopicError) -> old::types::TopicError {
    use crate::types::TopicError as N;
    use old::types::TopicError as O;
    match e {
        N::Invalid(why) => O::Invalid(why),
        N::NotPermitted | N::TooManySubscriptions(_) => O::NotPermitted,
        N::RateLimited => O::RateLimited,
    }
}

fn storage_error_out(e: now::storage::StorageError) -> old::storage::StorageError {
    use now::storage::StorageError as N;
    use old::storage::StorageError as O;
    match e {
        N::NotPermitted => O::NotPermitted,
        N::InvalidKey(k) => O::InvalidKey(k),
        N::ValueTooLarge(n) => O::ValueTooLarge(n),
        N::QuotaExceeded(why) => O::QuotaExceeded(why),
        N::NotACounter(why) => O::NotACounter(why),
        N::RateLimited => O::Unavailable(
            "rate limited: storage writes count against the component's message rate; \
             try again later"
                .into(),
        ),
        N::Unavailable(why) => O::Unavailable(why),
    }
}

fn unsupported_codec(why: String) -> old::types::SendError {
    old::types::SendError::NotSupported(why)
}

impl old::types::Host for HostState {}

impl old::messaging::Host for HostState {
    fn send(
        &mut self,
        target: String,
        payload: old::types::Payload,
    ) -> Result<(), old::types::SendError> {
        let payload = payload_in(payload).map_err(unsupported_codec)?;
        now::messaging::Host::send(self, target, payload).map_err(send_error_out)
    }

    fn request(
        &mut self,
        target: String,
        payload: old::types::Payload,
        timeout_ms: u32,
    ) -> Result<u64, old::types::SendError> {
        let payload = payload_in(payload).map_err(unsupported_codec)?;
        now::messaging::Host::request(self, target, payload, timeout_ms).map_err(send_error_out)
    }

    fn cancel(&mut self, id: u64) -> bool {
        now::messaging::Host::cancel(self, id)
    }

    async fn call(
        &mut self,
        target: String,
        payload: old::types::Payload,
        timeout_ms: u32,
    ) -> Result<Option<old::types::Payload>, old::types::RequestError> {
        let payload = payload_in(payload)
            .map_err(|why| old::types::RequestError::Refused(unsupported_codec(why)))?;
        match now::messaging::Host::call(self, target, payload, timeout_ms).await {
            Ok(answer) => Ok(answer.map(payload_out)),
            Err(e) => Err(request_error_out(e)),
        }
    }

    fn publish(
        &mut self,
        topic: String,
        payload: old::types::Payload,
    ) -> Result<u32, old::types::TopicError> {
        let payload = payload_in(payload).map_err(old::types::TopicError::Invalid)?;
        now::messaging::Host::publish(self, topic, payload).map_err(topic_error_out)
    }

    fn subscribe(&mut self, pattern: String) -> Result<(), old::types::TopicError> {
        now::messaging::Host::subscribe(self, pattern).map_err(topic_error_out)
    }

    fn unsubscribe(&mut self, pattern: String) -> bool {
        now::messaging::Host::unsubscribe(self, pattern)
    }

    fn self_address(&mut self) -> String {
        now::messaging::Host::self_address(self)
    }
}

impl old::logging::Host for HostState {
    fn log(&mut self, level: old::logging::Level, message: String, fields: Vec<(String, String)>) {
        use now::logging::Level as N;
        use old::logging::Level as O;
        let level = match level {
            O::Trace => N::Trace,
            O::Debug => N::Debug,
            O::Info => N::Info,
            O::Warn => N::Warn,
            O::Error => N::Error,
        };
        now::logging::Host::log(self, level, message, fields)
    }
}

impl old::config::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        now::config::Host::get(self, key)
    }
}

impl old::process::Host for HostState {
    async fn run(
        &mut self,
        command: String,
        args: Vec<String>,
        timeout_ms: u32,
    ) -> Result<old::process::Output, old::process::ProcessError> {
        use now::process::ProcessError as N;
        use old::process::ProcessError as O;
        match now::process::Host::run(self, command, args, timeout_ms).await {
            Ok(o) => Ok(old::process::Output {
                exit_code: o.exit_code,
                signal: o.signal,
                timed_out: o.timed_out,
                stdout: o.stdout,
                stderr: o.stderr,
                truncated: o.truncated,
            }),
            Err(N::NotPermitted) => Err(O::NotPermitted),
            Err(N::RateLimited) => Err(O::RateLimited),
            Err(N::Failed(why)) => Err(O::Failed(why)),
        }
    }
}

impl old::storage::Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, old::storage::StorageError> {
        now::storage::Host::get(self, key).await.map_err(storage_error_out)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), old::storage::StorageError> {
        now::storage::Host::set(self, key, value).await.map_err(storage_error_out)
    }

    async fn delete(&mut self, key: String) -> Result<bool, old::storage::StorageError> {
        now::storage::Host::delete(self, key).await.map_err(storage_error_out)
    }

    async fn exists(&mut self, key: String) -> Result<bool, old::storage::StorageError> {
        now::storage::Host::exists(self, key).await.map_err(storage_error_out)
    }

    async fn list_keys(
        &mut self,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<old::storage::KeyPage, old::storage::StorageError> {
        let page = now::storage::Host::list_keys(self, prefix, cursor, limit)
            .await
            .map_err(storage_error_out)?;
        Ok(old::storage::KeyPage { keys: page.keys, cursor: page.cursor })
    }

    async fn increment(
        &mut self,
        key: String,
        delta: i64,
    ) -> Result<i64, old::storage::StorageError> {
        now::storage::Host::increment(self, key, delta).await.map_err(storage_error_out)
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, old::storage::StorageError> {
        now::storage::Host::compare_and_swap(self, key, expected, new)
            .await
            .map_err(storage_error_out)
    }

    async fn batch(
        &mut self,
        writes: Vec<old::storage::BatchWrite>,
    ) -> Result<(), old::storage::StorageError> {
        let writes = writes
            .into_iter()
            .map(|w| match w {
                old::storage::BatchWrite::Set(kv) => now::storage::BatchWrite::Set(kv),
                old::storage::BatchWrite::Delete(k) => now::storage::BatchWrite::Delete(k),
            })
            .collect();
        now::storage::Host::batch(self, writes).await.map_err(storage_error_out)
    }

    async fn usage(&mut self) -> Result<old::storage::StorageUsage, old::storage::StorageError> {
        let u = now::storage::Host::usage(self).await.map_err(storage_error_out)?;
        Ok(old::storage::StorageUsage {
            bytes: u.bytes,
            keys: u.keys,
            quota_bytes: u.quota_bytes,
            quota_keys: u.quota_keys,
        })
    }
}

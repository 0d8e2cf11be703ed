//! The contract's errors told as sentences, for the SDK's own error types (the generated
//! types print as their Rust names).

use crate::bindings::airssys::component::storage::StorageError;
use crate::{Codec, RequestError, SendError, TopicError};

/// A codec by its name.
pub(crate) fn codec(codec: &Codec) -> &'static str {
    match codec {
        Codec::Raw => "raw bytes",
        Codec::Json => "JSON",
        Codec::Cbor => "CBOR",
        Codec::MessagePack => "MessagePack",
    }
}

/// Why a message was not queued.
pub(crate) fn send(e: &SendError) -> String {
    match e {
        SendError::UnknownTarget(a) => format!("no component has the address {a:?}"),
        SendError::MailboxFull => "the target's mailbox is full".into(),
        SendError::PayloadTooLarge(n) => format!("the payload is larger than {n} bytes"),
        SendError::CodecNotAccepted(codecs) => {
            let list: Vec<String> = codecs.iter().map(|c| format!("0x{c:x}")).collect();
            format!("the target does not accept this codec; it accepts {}", list.join(", "))
        }
        SendError::NotPermitted => "this component is not granted it".into(),
        SendError::RateLimited => "this component is over its message rate".into(),
        SendError::TooManyRequests => {
            "this component has as many requests pending as it may".into()
        }
        SendError::TargetStopped => "the target is stopping or has stopped".into(),
        SendError::NotSupported(what) => format!("not supported: {what}"),
    }
}

/// Why a request or call produced no response.
pub(crate) fn request(e: &RequestError) -> String {
    match e {
        RequestError::Refused(why) => format!("refused: {}", send(why)),
        RequestError::Timeout => "no response within the timeout".into(),
        RequestError::ReceiverCrashed(why) => format!("the receiver crashed: {why}"),
        RequestError::HandlerError(why) => format!("the handler returned an error: {why}"),
    }
}

/// Why a publish, subscribe or unsubscribe failed.
pub(crate) fn topic(e: &TopicError) -> String {
    match e {
        TopicError::Invalid(why) => format!("invalid topic: {why}"),
        TopicError::NotPermitted => "this component is not granted the topic".into(),
        TopicError::TooManySubscriptions(n) => {
            format!("this instance holds as many subscriptions as it may ({n})")
        }
        TopicError::RateLimited => "this component is over its message rate".into(),
    }
}

/// Why the store refused.
pub(crate) fn storage(e: &StorageError) -> String {
    match e {
        StorageError::NotPermitted => "this component is not granted storage".into(),
        StorageError::InvalidKey(why) => format!("invalid key: {why}"),
        StorageError::ValueTooLarge(n) => format!("the value is larger than {n} bytes"),
        StorageError::QuotaExceeded(why) => format!("over the storage quota: {why}"),
        StorageError::NotACounter(key) => format!("the value of {key:?} is not a counter"),
        StorageError::RateLimited => "this component is over its storage rate".into(),
        StorageError::Unavailable(why) => format!("the store is unavailable: {why}"),
    }
}

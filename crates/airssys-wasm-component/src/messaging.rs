//! Messaging: send, request, call, publish and subscribe, raw and typed. Timeouts are
//! [`Duration`]s (at most `u32::MAX` milliseconds are passed on).

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::airssys::component::messaging as raw;
use crate::{Codec, CodecError, Payload, RequestError, SendError, TopicError};

pub use raw::{cancel, self_address, unsubscribe};

/// A typed helper failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The value could not be encoded, or the response decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The host refused to queue the message.
    #[error("refused: {}", crate::sentences::send(.0))]
    Send(SendError),
    /// The request produced no response.
    #[error("no response: {}", crate::sentences::request(.0))]
    Request(RequestError),
    /// The topic or pattern was refused.
    #[error("topic refused: {}", crate::sentences::topic(.0))]
    Topic(TopicError),
    /// The target answered without a payload, where one was expected.
    #[error("the target returned no response payload")]
    NoResponse,
}

fn millis(timeout: Duration) -> u32 {
    u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX)
}

/// Fire-and-forget: returns once the message is queued at `target`, or refused.
pub fn send(target: &str, payload: &Payload) -> Result<(), SendError> {
    raw::send(target, payload)
}

/// Send `value` encoded with `codec`.
pub fn send_as<T: Serialize + ?Sized>(target: &str, codec: Codec, value: &T) -> Result<(), Error> {
    send(target, &Payload::encode(codec, value)?).map_err(Error::Send)
}

/// Asynchronous request: its outcome comes to [`Component::callback`](crate::Component::callback)
/// with the returned id.
pub fn request(target: &str, payload: &Payload, timeout: Duration) -> Result<u64, SendError> {
    raw::request(target, payload, millis(timeout))
}

/// Blocking request-response: waits for the target's response (handling nothing else
/// meanwhile) at most `timeout`.
pub fn call(
    target: &str,
    payload: &Payload,
    timeout: Duration,
) -> Result<Option<Payload>, RequestError> {
    raw::call(target, payload, millis(timeout))
}

/// Call with a typed request, encoded with `codec`, and decode the typed response.
pub fn call_as<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
    target: &str,
    codec: Codec,
    request: &Req,
    timeout: Duration,
) -> Result<Resp, Error> {
    let answer =
        call(target, &Payload::encode(codec, request)?, timeout).map_err(Error::Request)?;
    Ok(answer.ok_or(Error::NoResponse)?.decode()?)
}

/// Publish to every subscriber of a matching pattern; how many it was queued for.
pub fn publish(topic: &str, payload: &Payload) -> Result<u32, TopicError> {
    raw::publish(topic, payload)
}

/// Publish `value` encoded with `codec`.
pub fn publish_as<T: Serialize + ?Sized>(
    topic: &str,
    codec: Codec,
    value: &T,
) -> Result<u32, Error> {
    publish(topic, &Payload::encode(codec, value)?).map_err(Error::Topic)
}

/// Receive what is published to topics matching `pattern` (`*` one segment, `#` the rest).
/// Subscriptions belong to the instance: subscribe again in `init` after a restart.
pub fn subscribe(pattern: &str) -> Result<(), TopicError> {
    raw::subscribe(pattern)
}

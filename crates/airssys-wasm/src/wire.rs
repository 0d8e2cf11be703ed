//! The versioned wire form of AirsSys envelopes: what crosses from one host to another.
//!
//! # Frame layout
//!
//! A frame is one version byte followed by the [postcard] encoding of one [`Envelope`]:
//!
//! ```text
//! +---------+----------------------------------------------+
//! | version | body: postcard(Envelope), nothing after it   |
//! | 1 byte  | the rest of the frame                        |
//! +---------+----------------------------------------------+
//! ```
//!
//! Postcard encodes the fields of a struct or struct-like variant in declaration order, with
//! no field names or tags; an enum variant is its index as a varint, integers wider than a
//! byte are varints, and strings and byte strings are a varint length followed by the bytes
//! (see <https://postcard.jamesmunns.com/wire-format>). The frame carries no length of its
//! own: the transport delimits frames (one transport message is one frame).
//!
//! # Versioning
//!
//! The first byte is the version, [`WIRE_VERSION`] for frames this module writes. A receiver
//! refuses a version it does not know with [`WireError::UnsupportedVersion`] rather than
//! guessing at the body. Since postcard is not self-describing, any change to the body
//! (a new envelope variant, a new or reordered field, a new reason variant) means a new
//! version number.
//!
//! # Decoding
//!
//! [`decode`] never panics: arbitrary bytes give either an envelope or a typed [`WireError`].
//! It checks, in this order, the size limit, that the frame is not empty, the version, the
//! body, and that nothing follows the body.

use serde::{Deserialize, Serialize};

pub use crate::trace::TraceContext;

/// The wire version this module writes and the only one it reads.
pub const WIRE_VERSION: u8 = 2;

/// Self-describing bytes: the codec travels with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WirePayload {
    /// A multicodec code from the official table (raw `0x55`, json `0x0200`, cbor `0x51`, ...).
    pub codec: u32,
    /// The encoded bytes.
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

/// Why a component ended, as told to the components linked to or monitoring it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitReason {
    /// It stopped by itself or was asked to stop.
    Normal,
    /// It was stopped by its supervisor or by the host shutting down.
    Shutdown,
    /// It was killed without finishing its current message.
    Killed,
    /// There was no such component when the link or monitor was set up.
    NoSuchComponent,
    /// It crashed; the text says why.
    Crashed(String),
}

/// Why a message was refused; nothing was delivered. Mirrors the host's `send-error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefusalReason {
    /// No component has this address.
    UnknownTarget(String),
    /// The target's mailbox is full.
    MailboxFull,
    /// The payload is larger than the limit (in bytes).
    PayloadTooLarge(u64),
    /// The target does not accept this codec; these are the codecs it accepts.
    CodecNotAccepted(Vec<u32>),
    /// The sender's grants do not allow this, or the target does not accept messages
    /// from the sender.
    NotPermitted,
    /// The sender is over its message rate.
    RateLimited,
    /// The sender has as many requests pending as it may.
    TooManyRequests,
    /// The target is stopping or has stopped.
    TargetStopped,
    /// The receiving host does not support the operation; the text says which.
    NotSupported(String),
}

/// Why a request or call produced no response. Mirrors the host's `request-error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestFailure {
    /// The request was never queued, or its response was refused.
    Refused(RefusalReason),
    /// No response within the timeout.
    Timeout,
    /// The receiver crashed while handling the request; the crash reason.
    ReceiverCrashed(String),
    /// The receiver's handler returned an error; its text.
    HandlerError(String),
}

/// One envelope on the wire. Addresses are plain strings: the same address names a
/// component wherever it runs.
///
/// The order of the variants and of their fields is part of the wire format: postcard
/// writes the variant index, then the fields in declaration order. Changing either means a
/// new [`WIRE_VERSION`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Envelope {
    /// A fire-and-forget message (variant index 0).
    Message {
        /// The true sender's address, stamped by the sending host.
        sender: String,
        /// The receiver's address.
        target: String,
        /// The message.
        payload: WirePayload,
        /// The trace the message belongs to, if any.
        trace: Option<TraceContext>,
    },
    /// A message that waits for a [`Envelope::Response`]: an asynchronous request or a
    /// blocking call; the receiver treats both the same (variant index 1).
    Request {
        /// The requester's address, stamped by the sending host.
        sender: String,
        /// The receiver's address.
        target: String,
        /// The request.
        payload: WirePayload,
        /// The requester's own id for this request: the receiver sees it as the message's
        /// correlation, as it would on the requester's host.
        correlation: u64,
        /// Identifies this request among those the requester's host is waiting on; the
        /// response carries it back.
        ticket: u64,
        /// How long the requester waits for the response, in milliseconds.
        timeout_ms: u32,
        /// The trace the request belongs to, if any.
        trace: Option<TraceContext>,
    },
    /// The outcome of a request or call, going back to the requester (variant index 2).
    Response {
        /// The address of the component that handled the request.
        sender: String,
        /// The requester's address.
        target: String,
        /// The ticket of the request this answers.
        ticket: u64,
        /// What the handler returned (a payload or nothing), or why there is no response.
        outcome: Result<Option<WirePayload>, RequestFailure>,
        /// The trace the response belongs to, if any.
        trace: Option<TraceContext>,
    },
    /// A message published to a topic (variant index 3).
    Publish {
        /// The publisher's address, stamped by the sending host.
        sender: String,
        /// The topic: dot-separated non-empty segments.
        topic: String,
        /// The message.
        payload: WirePayload,
        /// The trace the message belongs to, if any.
        trace: Option<TraceContext>,
    },
    /// A linked component ended (variant index 4).
    Exit {
        /// The address of the component that ended.
        from: String,
        /// The address of the component linked to it.
        to: String,
        /// Why it ended.
        reason: ExitReason,
    },
    /// A monitored component ended (variant index 5).
    Down {
        /// The address of the component that ended.
        from: String,
        /// The address of the component monitoring it.
        to: String,
        /// The monitor's id, as the monitoring side made it.
        monitor: u64,
        /// Why it ended.
        reason: ExitReason,
    },
}

impl Envelope {
    /// The address of the component the envelope comes from (`from` for exits and downs).
    pub fn sender(&self) -> &str {
        match self {
            Envelope::Message { sender, .. }
            | Envelope::Request { sender, .. }
            | Envelope::Response { sender, .. }
            | Envelope::Publish { sender, .. } => sender,
            Envelope::Exit { from, .. } | Envelope::Down { from, .. } => from,
        }
    }

    /// The address of the component the envelope goes to (`to` for exits and downs);
    /// `None` for a publish, which goes to a topic.
    pub fn target(&self) -> Option<&str> {
        match self {
            Envelope::Message { target, .. }
            | Envelope::Request { target, .. }
            | Envelope::Response { target, .. } => Some(target),
            Envelope::Exit { to, .. } | Envelope::Down { to, .. } => Some(to),
            Envelope::Publish { .. } => None,
        }
    }

    /// The trace context the envelope carries; exits and downs carry none.
    pub fn trace(&self) -> Option<&TraceContext> {
        match self {
            Envelope::Message { trace, .. }
            | Envelope::Request { trace, .. }
            | Envelope::Response { trace, .. }
            | Envelope::Publish { trace, .. } => trace.as_ref(),
            Envelope::Exit { .. } | Envelope::Down { .. } => None,
        }
    }
}

/// Why a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The frame has no bytes at all.
    #[error("empty frame")]
    Empty,
    /// The frame's version byte is not one this side reads.
    #[error("unsupported wire version {found} (this side supports {supported})")]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
        /// The version this side reads, [`WIRE_VERSION`].
        supported: u8,
    },
    /// The body is not a valid envelope of this version (truncated, a bad variant index,
    /// invalid UTF-8, an overlong varint, ...).
    #[error("malformed envelope")]
    Malformed(#[source] postcard::Error),
    /// A valid envelope is followed by this many more bytes.
    #[error("{0} trailing bytes after the envelope")]
    TrailingBytes(usize),
    /// The frame is larger than the receiver's limit; nothing was decoded.
    #[error("frame of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The frame's length in bytes, version byte included.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The envelope could not be encoded. Postcard does not fail on these types; the
    /// variant exists so that encoding never has to panic.
    #[error("could not encode envelope")]
    Encode(#[source] postcard::Error),
}

/// Encodes an envelope as a frame: [`WIRE_VERSION`] then the postcard body.
///
/// # Errors
///
/// [`WireError::Encode`] if postcard fails, which it does not for these types.
pub fn encode(envelope: &Envelope) -> Result<Vec<u8>, WireError> {
    postcard::to_extend(envelope, vec![WIRE_VERSION]).map_err(WireError::Encode)
}

/// Decodes one frame, refusing frames longer than `limit` bytes (version byte included)
/// before reading anything.
///
/// # Errors
///
/// In the order checked: [`WireError::TooLarge`], [`WireError::Empty`],
/// [`WireError::UnsupportedVersion`], [`WireError::Malformed`], [`WireError::TrailingBytes`].
pub fn decode(frame: &[u8], limit: usize) -> Result<Envelope, WireError> {
    if frame.len() > limit {
        return Err(WireError::TooLarge { len: frame.len(), limit });
    }
    let Some((&version, body)) = frame.split_first() else {
        return Err(WireError::Empty);
    };
    if version != WIRE_VERSION {
        return Err(WireError::UnsupportedVersion { found: version, supported: WIRE_VERSION });
    }
    let (envelope, rest) =
        postcard::take_from_bytes::<Envelope>(body).map_err(WireError::Malformed)?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes(rest.len()));
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMIT: usize = 1 << 20;

    fn text() -> impl Strategy<Value = String> {
        any::<String>()
    }

    fn payload() -> impl Strategy<Value = WirePayload> {
        (any::<u32>(), prop::collection::vec(any::<u8>(), 0..4096))
            .prop_map(|(codec, bytes)| WirePayload { codec, bytes })
    }

    fn trace() -> impl Strategy<Value = Option<TraceContext>> {
        prop::option::of(
            (any::<[u8; 16]>(), any::<[u8; 8]>(), any::<u8>())
                .prop_map(|(trace_id, span_id, flags)| TraceContext { trace_id, span_id, flags }),
        )
    }

    fn exit_reason() -> impl Strategy<Value = ExitReason> {
        prop_oneof![
            Just(ExitReason::Normal),
            Just(ExitReason::Shutdown),
            Just(ExitReason::Killed),
            Just(ExitReason::NoSuchComponent),
            text().prop_map(ExitReason::Crashed),
        ]
    }

    fn refusal_reason() -> impl Strategy<Value = RefusalReason> {
        prop_oneof![
            text().prop_map(RefusalReason::UnknownTarget),
            Just(RefusalReason::MailboxFull),
            any::<u64>().prop_map(RefusalReason::PayloadTooLarge),
            prop::collection::vec(any::<u32>(), 0..8).prop_map(RefusalReason::CodecNotAccepted),
            Just(RefusalReason::NotPermitted),
            Just(RefusalReason::RateLimited),
            Just(RefusalReason::TooManyRequests),
            Just(RefusalReason::TargetStopped),
            text().prop_map(RefusalReason::NotSupported),
        ]
    }

    fn request_failure() -> impl Strategy<Value = RequestFailure> {
        prop_oneof![
            refusal_reason().prop_map(RequestFailure::Refused),
            Just(RequestFailure::Timeout),
            text().prop_map(RequestFailure::ReceiverCrashed),
            text().prop_map(RequestFailure::HandlerError),
        ]
    }

    fn outcome() -> impl Strategy<Value = Result<Option<WirePayload>, RequestFailure>> {
        prop_oneof![
            Just(Ok(None)),
            payload().prop_map(|p| Ok(Some(p))),
            request_failure().prop_map(Err),
        ]
    }

    fn envelope() -> impl Strategy<Value = Envelope> {
        prop_oneof![
            (text(), text(), payload(), trace()).prop_map(|(sender, target, payload, trace)| {
                Envelope::Message { sender, target, payload, trace }
            }),
            (text(), text(), payload(), any::<(u64, u64)>(), any::<u32>(), trace()).prop_map(
                |(sender, target, payload, (correlation, ticket), timeout_ms, trace)| {
                    Envelope::Request {
                        sender,
                        target,
                        payload,
                        correlation,
                        ticket,
                        timeout_ms,
                        trace,
                    }
                }
            ),
            (text(), text(), any::<u64>(), outcome(), trace()).prop_map(
                |(sender, target, ticket, outcome, trace)| Envelope::Response {
                    sender,
                    target,
                    ticket,
                    outcome,
                    trace
                }
            ),
            (text(), text(), payload(), trace()).prop_map(|(sender, topic, payload, trace)| {
                Envelope::Publish { sender, topic, payload, trace }
            }),
            (text(), text(), exit_reason()).prop_map(|(from, to, reason)| Envelope::Exit {
                from,
                to,
                reason
            }),
            (text(), text(), any::<u64>(), exit_reason()).prop_map(
                |(from, to, monitor, reason)| Envelope::Down { from, to, monitor, reason }
            ),
        ]
    }

    fn sample() -> Envelope {
        Envelope::Message {
            sender: "a".to_owned(),
            target: "b".to_owned(),
            payload: WirePayload { codec: 0x55, bytes: b"hi".to_vec() },
            trace: None,
        }
    }

    proptest! {
        #[test]
        fn every_envelope_round_trips(envelope in envelope()) {
            let frame = encode(&envelope)?;
            prop_assert_eq!(frame[0], WIRE_VERSION);
            let back = decode(&frame, LIMIT)?;
            prop_assert_eq!(back, envelope);
        }

        #[test]
        fn arbitrary_bytes_decode_without_panicking(
            bytes in prop::collection::vec(any::<u8>(), 0..512),
            versioned in any::<bool>(),
        ) {
            // Half the time force the version byte so that the body decoder is exercised.
            let mut frame = bytes;
            if versioned {
                frame.insert(0, WIRE_VERSION);
            }
            if let Ok(envelope) = decode(&frame, LIMIT) {
                // Whatever decodes re-encodes to a frame that decodes to the same envelope.
                let again = decode(&encode(&envelope)?, LIMIT)?;
                prop_assert_eq!(again, envelope);
            }
        }

        #[test]
        fn every_strict_prefix_is_an_error(envelope in envelope()) {
            let frame = encode(&envelope)?;
            prop_assert!(matches!(decode(&[], LIMIT), Err(WireError::Empty)), "empty frame");
            for len in 1..frame.len() {
                let result = decode(&frame[..len], LIMIT);
                prop_assert!(
                    matches!(
                        result,
                        Err(WireError::Malformed(postcard::Error::DeserializeUnexpectedEnd))
                    ),
                    "prefix of {} of {} bytes gave {:?}", len, frame.len(), result
                );
            }
        }

        #[test]
        fn any_other_version_is_refused(envelope in envelope(), version in any::<u8>()) {
            prop_assume!(version != WIRE_VERSION);
            let mut frame = encode(&envelope)?;
            frame[0] = version;
            let result = decode(&frame, LIMIT);
            prop_assert!(
                matches!(
                    result,
                    Err(WireError::UnsupportedVersion { found, supported: WIRE_VERSION })
                        if found == version
                ),
                "version {} gave {:?}", version, result
            );
        }

        #[test]
        fn a_trailing_byte_is_refused(envelope in envelope(), extra in any::<u8>()) {
            let mut frame = encode(&envelope)?;
            frame.push(extra);
            let result = decode(&frame, LIMIT);
            prop_assert!(matches!(result, Err(WireError::TrailingBytes(1))), "gave {:?}", result);
        }

    }

    #[test]
    fn empty_frame_is_refused() {
        assert!(matches!(decode(&[], LIMIT), Err(WireError::Empty)));
        assert!(matches!(decode(&[], 0), Err(WireError::Empty)));
    }

    #[test]
    fn wrong_version_is_refused() {
        let mut frame = encode(&sample()).unwrap();
        // Version 1 too: its requests had no ticket.
        for version in [0, 1, 3, 0xff] {
            frame[0] = version;
            assert!(matches!(
                decode(&frame, LIMIT),
                Err(WireError::UnsupportedVersion { found, supported: WIRE_VERSION })
                    if found == version
            ));
        }
    }

    #[test]
    fn frame_over_the_limit_is_refused_before_reading() {
        let frame = encode(&sample()).unwrap();
        let len = frame.len();
        assert!(decode(&frame, len).is_ok());
        assert!(matches!(
            decode(&frame, len - 1),
            Err(WireError::TooLarge { len: l, limit }) if l == len && limit == len - 1
        ));
        // The limit is checked before the version.
        let mut bad = frame.clone();
        bad[0] = 9;
        assert!(matches!(decode(&bad, 1), Err(WireError::TooLarge { .. })));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut frame = encode(&sample()).unwrap();
        frame.extend_from_slice(&[0, 0, 0]);
        assert!(matches!(decode(&frame, LIMIT), Err(WireError::TrailingBytes(3))));
    }

    #[test]
    fn known_frame_layout() {
        // Pins the byte layout documented in wire-format.md.
        let frame = encode(&sample()).unwrap();
        assert_eq!(frame, [2, 0, 1, b'a', 1, b'b', 0x55, 2, b'h', b'i', 0]);
        let down = Envelope::Down {
            from: "w".to_owned(),
            to: "s".to_owned(),
            monitor: 300,
            reason: ExitReason::Crashed("x".to_owned()),
        };
        assert_eq!(encode(&down).unwrap(), [2, 5, 1, b'w', 1, b's', 0xac, 0x02, 4, 1, b'x']);
    }

    #[test]
    fn bad_variant_index_is_malformed() {
        let frame = [WIRE_VERSION, 6];
        assert!(matches!(decode(&frame, LIMIT), Err(WireError::Malformed(_))));
    }

    #[test]
    fn huge_lengths_and_overlong_varints_are_malformed() {
        let huge = [0xff, 0xff, 0xff, 0xff, 0x0f];
        // A Message whose sender claims to be 4 GiB long.
        let mut frame = vec![WIRE_VERSION, 0];
        frame.extend_from_slice(&huge);
        assert!(matches!(decode(&frame, LIMIT), Err(WireError::Malformed(_))));
        // A refused Response whose CodecNotAccepted list claims 2^32 - 1 codecs.
        let mut frame = vec![WIRE_VERSION, 2, 0, 0, 0, 1, 0, 3];
        frame.extend_from_slice(&huge);
        assert!(matches!(decode(&frame, LIMIT), Err(WireError::Malformed(_))));
        // A ticket varint longer than a u64 can be.
        let mut frame = vec![WIRE_VERSION, 2, 0, 0];
        frame.extend_from_slice(&[0xff; 11]);
        assert!(matches!(decode(&frame, LIMIT), Err(WireError::Malformed(_))));
    }

    #[test]
    fn errors_read_well_and_keep_sources() {
        use std::error::Error as _;
        assert_eq!(WireError::Empty.to_string(), "empty frame");
        let err = decode(&[WIRE_VERSION, 6], LIMIT).unwrap_err();
        assert_eq!(err.to_string(), "malformed envelope");
        assert!(err.source().is_some());
        let err = decode(&[7], LIMIT).unwrap_err();
        assert_eq!(err.to_string(), "unsupported wire version 7 (this side supports 2)");
    }

    #[test]
    fn accessors() {
        let envelope = sample();
        assert_eq!(envelope.sender(), "a");
        assert_eq!(envelope.target(), Some("b"));
        assert_eq!(envelope.trace(), None);
        let publish = Envelope::Publish {
            sender: "p".to_owned(),
            topic: "t.x".to_owned(),
            payload: WirePayload { codec: 0x55, bytes: vec![] },
            trace: None,
        };
        assert_eq!(publish.target(), None);
    }
}

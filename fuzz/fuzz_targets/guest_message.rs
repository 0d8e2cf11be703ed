//! Arbitrary bytes as guest message fields: codec codes, payload bytes and target names sent,
//! called, requested and published from the host to real guests. Every operation must end
//! in a response or a typed error within its timeout, the answers that can be predicted must
//! be exactly those, and afterwards every component must still answer.

#![no_main]

use airssys_fuzz::{CALC, CALL_TIMEOUT, COUNTER, ECHO, POOL, RELAY, STRICT, block_on, fixture};
use airssys_wasm::{Payload, RequestError, SendError, TopicError, codec};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Target {
    Echo,
    Strict,
    Calc,
    Counter,
    Relay,
    Pool,
    PoolMember(u8),
    Other(String),
}

impl Target {
    fn address(&self) -> String {
        match self {
            Target::Echo => ECHO.into(),
            Target::Strict => STRICT.into(),
            Target::Calc => CALC.into(),
            Target::Counter => COUNTER.into(),
            Target::Relay => RELAY.into(),
            Target::Pool => POOL.into(),
            Target::PoolMember(n) => format!("{POOL}/{n}"),
            Target::Other(s) => s.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Codec {
    Raw,
    Json,
    Cbor,
    MessagePack,
    Protobuf,
    Any(u64),
}

impl Codec {
    fn code(&self) -> u64 {
        match self {
            Codec::Raw => codec::RAW,
            Codec::Json => codec::JSON,
            Codec::Cbor => codec::CBOR,
            Codec::MessagePack => codec::MESSAGEPACK,
            Codec::Protobuf => codec::PROTOBUF,
            Codec::Any(c) => *c,
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Op {
    Send {
        target: Target,
        codec: Codec,
        bytes: Vec<u8>,
    },
    Call {
        target: Target,
        codec: Codec,
        bytes: Vec<u8>,
    },
    Request {
        target: Target,
        codec: Codec,
        bytes: Vec<u8>,
    },
    Publish {
        topic: String,
        codec: Codec,
        bytes: Vec<u8>,
    },
    /// A payload just over `strict`'s 64-byte limit.
    Oversized {
        codec: Codec,
        extra: u8,
    },
}

/// What the router must answer before delivery, when it can be predicted.
fn refusal(address: &str, payload: &Payload) -> Option<SendError> {
    let known = [ECHO, STRICT, CALC, COUNTER, RELAY, POOL, "pool/0", "pool/1"];
    if !known.contains(&address) {
        return Some(SendError::UnknownTarget(address.to_owned()));
    }
    if address == STRICT {
        if payload.bytes.len() > 64 {
            return Some(SendError::PayloadTooLarge(64));
        }
        if ![codec::RAW, codec::JSON].contains(&payload.codec) {
            return Some(SendError::CodecNotAccepted(vec![codec::RAW, codec::JSON]));
        }
    }
    None
}

fn echoes(address: &str) -> bool {
    [ECHO, STRICT, POOL, "pool/0", "pool/1"].contains(&address)
}

fn check_outcome(address: &str, payload: &Payload, outcome: Result<Option<Payload>, RequestError>) {
    if let Some(refused) = refusal(address, payload) {
        assert_eq!(outcome, Err(RequestError::Refused(refused)), "to {address:?}");
        return;
    }
    if address == ECHO && outcome == Err(RequestError::Refused(SendError::MailboxFull)) {
        // The relay may flood echo (it is granted to send there).
        return;
    }
    if echoes(address) {
        assert_eq!(outcome, Ok(Some(payload.clone())), "echo {address:?} answered otherwise");
        return;
    }
    // The other guests answer or fail in a typed way; a crash is only what `counter` does on
    // `crash`, and a relay waits on echo at most its own timeouts.
    match outcome {
        Ok(_) | Err(RequestError::HandlerError(_)) => {}
        Err(RequestError::ReceiverCrashed(reason)) => {
            assert!(
                address == COUNTER || address == RELAY,
                "{address} crashed on {payload:?}: {reason}"
            );
        }
        Err(RequestError::Timeout) => {
            assert_eq!(address, RELAY, "{address} did not answer {payload:?} in time");
        }
        Err(RequestError::Refused(e)) => {
            // A mailbox filled by earlier sends, or a relay's own refusals.
            assert!(
                matches!(e, SendError::MailboxFull | SendError::TargetStopped),
                "{address} refused {payload:?}: {e:?}"
            );
        }
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let fixture = fixture();
    let host = &fixture.host;
    for op in ops.into_iter().take(8) {
        match op {
            Op::Send { target, codec, bytes } => {
                let address = target.address();
                let payload = Payload { codec: codec.code(), bytes };
                let outcome = host.send(&address, payload.clone());
                match refusal(&address, &payload) {
                    Some(refused) => assert_eq!(outcome, Err(refused)),
                    None => assert!(
                        matches!(outcome, Ok(()) | Err(SendError::MailboxFull)),
                        "send to {address}: {outcome:?}"
                    ),
                }
            }
            Op::Call { target, codec, bytes } => {
                let address = target.address();
                let payload = Payload { codec: codec.code(), bytes };
                let outcome = block_on("call", host.call(&address, payload.clone(), CALL_TIMEOUT));
                check_outcome(&address, &payload, outcome);
            }
            Op::Request { target, codec, bytes } => {
                let address = target.address();
                let payload = Payload { codec: codec.code(), bytes };
                let outcome = match host.request(&address, payload.clone(), CALL_TIMEOUT) {
                    Ok(pending) => block_on("request", pending),
                    Err(refused) => Err(RequestError::Refused(refused)),
                };
                check_outcome(&address, &payload, outcome);
            }
            Op::Publish { topic, codec, bytes } => {
                // Only the relay can subscribe (when an input tells it to).
                let payload = Payload { codec: codec.code(), bytes };
                match host.publish(&topic, payload) {
                    Ok(n) => assert!(n <= 1, "published {topic:?} to {n} subscribers"),
                    // A malformed topic is refused with the reason.
                    Err(TopicError::Invalid(why)) => assert!(!why.is_empty()),
                    Err(other) => panic!("the host's publish to {topic:?} failed: {other:?}"),
                }
            }
            Op::Oversized { codec, extra } => {
                let payload =
                    Payload { codec: codec.code(), bytes: vec![b'x'; 65 + usize::from(extra)] };
                let outcome = block_on("call", host.call(STRICT, payload, CALL_TIMEOUT));
                assert_eq!(outcome, Err(RequestError::Refused(SendError::PayloadTooLarge(64))));
            }
        }
    }
    airssys_fuzz::assert_serving(host);
});

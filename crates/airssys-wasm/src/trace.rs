//! Trace context (W3C Trace Context, <https://www.w3.org/TR/trace-context/>): which trace a
//! message belongs to. It travels in every envelope: each handler runs in a span of its own,
//! a child of the message's, and what it sends while handling the message carries that span
//! as the parent (`spans.rs`). A message from the host (no component) starts a new trace.

use serde::{Deserialize, Serialize};

/// A trace id, the id of the span that caused a message, and the trace flags.
///
/// On the wire (`wire.rs`) it is the 16 trace-id bytes, the 8 span-id bytes and the flags
/// byte, raw; to a guest, the `traceparent` text ([`TraceContext::to_traceparent`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TraceContext {
    /// The trace id; all zeros is invalid.
    pub trace_id: [u8; 16],
    /// The id of the parent span (the sender's span); all zeros is invalid.
    pub span_id: [u8; 8],
    /// The trace flags; bit 0 is `sampled`.
    pub flags: u8,
}

/// Why a `traceparent` was not accepted; the text says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid traceparent: {0}")]
pub struct InvalidTraceparent(pub String);

impl TraceContext {
    /// A new trace with a random id, sampled.
    pub fn new_root() -> Self {
        TraceContext { trace_id: nonzero_bytes(), span_id: nonzero_bytes(), flags: 1 }
    }

    /// A span in the same trace whose parent is this one.
    pub fn child(&self) -> Self {
        TraceContext { trace_id: self.trace_id, span_id: nonzero_bytes(), flags: self.flags }
    }

    /// Whether neither id is all zeros, as the W3C specification requires.
    pub fn is_valid(&self) -> bool {
        self.trace_id != [0; 16] && self.span_id != [0; 8]
    }

    /// Formats the context as a version-00 `traceparent` header value:
    /// `00-<32 hex trace-id>-<16 hex span-id>-<2 hex flags>`, lowercase.
    pub fn to_traceparent(&self) -> String {
        let mut out = String::with_capacity(55);
        out.push_str("00-");
        push_hex(&mut out, &self.trace_id);
        out.push('-');
        push_hex(&mut out, &self.span_id);
        out.push('-');
        push_hex(&mut out, &[self.flags]);
        out
    }

    /// Parses a version-00 `traceparent` header value strictly: version `00`, exactly
    /// 32, 16 and 2 lowercase hex digits separated by `-`, and neither id all zeros.
    ///
    /// # Errors
    ///
    /// [`InvalidTraceparent`] saying what is wrong with the value.
    pub fn from_traceparent(value: &str) -> Result<TraceContext, InvalidTraceparent> {
        let mut parts = value.split('-');
        let (Some(version), Some(trace), Some(span), Some(flags), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("expected four fields separated by `-`"));
        };
        let [version] = parse_hex::<1>(version, "version")?;
        if version == 0xff {
            return Err(invalid("version ff is forbidden"));
        }
        if version != 0 {
            return Err(InvalidTraceparent(format!(
                "unsupported version {version:02x}, only 00 is accepted"
            )));
        }
        let trace_id = parse_hex::<16>(trace, "trace-id")?;
        let span_id = parse_hex::<8>(span, "parent-id")?;
        let [flags] = parse_hex::<1>(flags, "trace-flags")?;
        if trace_id == [0; 16] {
            return Err(invalid("trace-id is all zeros"));
        }
        if span_id == [0; 8] {
            return Err(invalid("parent-id is all zeros"));
        }
        Ok(TraceContext { trace_id, span_id, flags })
    }
}

fn invalid(reason: &str) -> InvalidTraceparent {
    InvalidTraceparent(reason.to_owned())
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        out.push(char::from(HEX_DIGITS[usize::from(b >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(b & 0x0f)]));
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// Parses exactly `2 * N` lowercase hex digits.
fn parse_hex<const N: usize>(text: &str, field: &str) -> Result<[u8; N], InvalidTraceparent> {
    let digits = text.as_bytes();
    let wrong = || InvalidTraceparent(format!("{field} must be {} lowercase hex digits", 2 * N));
    if digits.len() != 2 * N {
        return Err(wrong());
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let (Some(high), Some(low)) = (hex_value(pair[0]), hex_value(pair[1])) else {
            return Err(wrong());
        };
        *byte = high << 4 | low;
    }
    Ok(out)
}

impl std::fmt::Display for TraceContext {
    /// The `traceparent` form.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_traceparent())
    }
}

fn nonzero_bytes<const N: usize>() -> [u8; N] {
    loop {
        let mut out = [0; N];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&fastrand::u64(..).to_le_bytes()[..chunk.len()]);
        }
        if out != [0; N] {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn traceparent_round_trips(
            trace_id in any::<[u8; 16]>(),
            span_id in any::<[u8; 8]>(),
            flags in any::<u8>(),
        ) {
            let context = TraceContext { trace_id, span_id, flags };
            let text = context.to_traceparent();
            prop_assert_eq!(text.len(), 55);
            match TraceContext::from_traceparent(&text) {
                Ok(parsed) => prop_assert_eq!(parsed, context),
                Err(_) => prop_assert!(!context.is_valid()),
            }
        }

        #[test]
        fn arbitrary_traceparent_text_does_not_panic(text in any::<String>()) {
            let _ = TraceContext::from_traceparent(&text);
        }
    }

    const W3C_EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_parses_the_w3c_example() {
        let context = TraceContext::from_traceparent(W3C_EXAMPLE).unwrap();
        assert_eq!(
            context.trace_id,
            [
                0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
                0x47, 0x36
            ]
        );
        assert_eq!(context.span_id, [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
        assert_eq!(context.flags, 0x01);
        assert!(context.is_valid());
        assert_eq!(context.to_traceparent(), W3C_EXAMPLE);
    }

    #[test]
    fn traceparent_rejects_invalid_values() {
        let invalid = [
            // wrong lengths
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            // uppercase
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
            // not hex, or not ASCII in the right number of bytes
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47é-00f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            // versions
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "FF-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // all-zero ids
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        ];
        for value in invalid {
            assert!(TraceContext::from_traceparent(value).is_err(), "{value:?} was accepted");
        }
        let err = TraceContext::from_traceparent(
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "invalid traceparent: version ff is forbidden");
    }

    #[test]
    fn all_zero_ids_are_not_valid() {
        let context = TraceContext { trace_id: [0; 16], span_id: [1; 8], flags: 0 };
        assert!(!context.is_valid());
        let context = TraceContext { trace_id: [1; 16], span_id: [0; 8], flags: 0 };
        assert!(!context.is_valid());
    }

    #[test]
    fn a_child_is_in_the_same_trace_with_a_span_of_its_own() {
        let root = TraceContext::new_root();
        assert!(root.is_valid());
        let child = root.child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
        assert_eq!(child.flags, root.flags);
    }
}

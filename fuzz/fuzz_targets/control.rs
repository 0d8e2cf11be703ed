//! The control protocol of a running host: arbitrary request lines, parsed and carried out
//! against a host with real guests and storage exactly as the control socket does. Each line
//! gets one answer, `{"ok": ..}` or `{"error": "<text>"}`, within a bounded time, and the
//! host keeps serving every component afterwards.

#![no_main]

use airssys_fuzz::{assert_serving, block_on, fixture, respawn_missing};
use airssys_wasm_cli::protocol::{self, Request};
use libfuzzer_sys::fuzz_target;

fn check_answer(answer: &serde_json::Value) {
    let object = answer.as_object().expect("an answer is a JSON object");
    assert_eq!(object.len(), 1, "one field: {answer}");
    match (object.get("ok"), object.get("error")) {
        (Some(_), None) => {}
        (None, Some(serde_json::Value::String(text))) => assert!(!text.is_empty()),
        _ => panic!("neither ok nor a textual error: {answer}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let fixture = fixture();
    let host = &fixture.host;
    // The socket reads lines: each one is a request.
    for line in text.lines().take(4) {
        let answer = match protocol::parse(line) {
            Err(e) => {
                assert!(e.starts_with("not a request: "), "{e}");
                protocol::answer(Err(e))
            }
            // `logs` is served by the socket itself (it may stream).
            Ok(Request::Logs { .. }) => continue,
            Ok(mut request) => {
                // A long call timeout on a component that never answers is the caller's
                // choice, not a hang: keep fuzzed waits short.
                if let Request::Call { timeout_ms, .. } = &mut request {
                    *timeout_ms = (*timeout_ms).min(2000);
                }
                protocol::answer(block_on(
                    "a control request",
                    protocol::handle(host, None, request),
                ))
            }
        };
        check_answer(&answer);
        // The answer is one line of JSON.
        let line = answer.to_string();
        assert!(!line.contains('\n'));
    }
    respawn_missing(host);
    assert_serving(host);
});

//! Who may use the observer: only a request with its token; and only on loopback unless
//! asked otherwise.

use std::net::SocketAddr;

use airssys_observer::{Observer, ObserverError};

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_a_request_without_the_token() {
    let host = host().await;
    let observer = Observer::new(host.clone()).start().await.unwrap();
    let addr = observer.local_addr();
    assert!(addr.ip().is_loopback(), "loopback by default: {addr}");
    for path in ["/", "/events", "/metrics", "/api/snapshot", "/api/describe/worker"] {
        let (status, body) = http(addr, "GET", path, None, None).await;
        assert_eq!(status, 401, "{path} without a token: {body}");
        assert!(body.contains("token"), "the refusal says what is missing: {body}");
        let (status, _) = http(addr, "GET", path, Some("not-the-token-at-all"), None).await;
        assert_eq!(status, 401, "{path} with a wrong token");
    }
    // An action without the token changes nothing: the component still runs.
    let (status, _) = http(addr, "POST", "/api/stop/worker", None, None).await;
    assert_eq!(status, 401);
    assert!(host.components().await.iter().any(|c| &*c.address == "worker"));
    // The query token is for the page and its stream only (a browser opens them without
    // headers): the API and /metrics want the header.
    let query = format!("/metrics?token={}", observer.token());
    assert_eq!(http(addr, "GET", &query, None, None).await.0, 401);
    let query = format!("/api/stop/worker?token={}", observer.token());
    assert_eq!(http(addr, "POST", &query, None, None).await.0, 401);
    // With it, in the query (as the printed address has it) or as a bearer token.
    let (status, page) =
        http(addr, "GET", &format!("/?token={}", observer.token()), None, None).await;
    assert_eq!(status, 200);
    assert!(page.contains("AirsSys observer"));
    let (status, snapshot) = http(addr, "GET", "/api/snapshot", Some(observer.token()), None).await;
    assert_eq!(status, 200);
    let snapshot: serde_json::Value = serde_json::from_str(&snapshot).unwrap();
    assert_eq!(snapshot["total"], 3, "worker and the two echo members: {snapshot}");
    observer.stop().await;
    host.shutdown(T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_address_needs_to_be_allowed_and_a_short_token_is_refused() {
    let host = host().await;
    let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let refused = Observer::new(host.clone()).addr(any).start().await.unwrap_err();
    assert!(matches!(refused, ObserverError::NotLoopback(_)), "{refused}");
    assert!(refused.to_string().contains("not a loopback address"), "{refused}");
    let short = Observer::new(host.clone()).token("abc").start().await.unwrap_err();
    assert!(matches!(short, ObserverError::BadToken), "{short}");
    let odd = Observer::new(host.clone()).token("0123456789abcdef&x=1").start().await.unwrap_err();
    assert!(matches!(odd, ObserverError::BadToken), "{odd}");
    let allowed = Observer::new(host.clone()).addr(any).allow_remote(true).start().await.unwrap();
    allowed.stop().await;
    host.shutdown(T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_answer_what_happened_and_refuse_bad_input() {
    let host = host().await;
    let observer = Observer::new(host.clone()).start().await.unwrap();
    let (addr, token) = (observer.local_addr(), Some(observer.token()));
    let (status, body) =
        http(addr, "POST", "/api/send/worker", token, Some(r#"{"text":"{\"a\":1}"}"#)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        http(addr, "POST", "/api/send/worker", token, Some(r#"{"text":"not json"}"#)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not JSON"), "{body}");
    let (status, body) =
        http(addr, "POST", "/api/send/nobody", token, Some(r#"{"text":"1"}"#)).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = http(addr, "POST", "/api/restart/nobody", token, None).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) =
        http(addr, "POST", "/api/upgrade/worker", token, Some(r#"{"file":"/no/such.wasm"}"#)).await;
    assert!(status >= 400, "{status} {body}");
    assert!(host.components().await.iter().any(|c| &*c.address == "worker"), "worker still runs");
    let (status, body) = http(addr, "GET", "/api/describe/worker", token, None).await;
    assert_eq!(status, 200, "{body}");
    let d: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(d["config"][0], serde_json::json!(["role", "test"]), "{d}");
    let (status, body) = http(addr, "POST", "/api/stop/worker", token, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(!host.components().await.iter().any(|c| &*c.address == "worker"), "worker stopped");
    observer.stop().await;
    host.shutdown(T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_observer_ends_open_pages_streams() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = host().await;
    let observer = Observer::new(host.clone()).start().await.unwrap();
    let addr = observer.local_addr();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request =
        format!("GET /events?token={} HTTP/1.1\r\nHost: {addr}\r\n\r\n", observer.token());
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut first = vec![0u8; 4096];
    let n = stream.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).contains("200 OK"), "the stream is open");
    // A page is open: stopping still ends, and the page's stream ends with it.
    tokio::time::timeout(T, observer.stop()).await.expect("stop ends with a page open");
    let mut rest = Vec::new();
    tokio::time::timeout(T, stream.read_to_end(&mut rest)).await.expect("the stream ends").unwrap();
    host.shutdown(T).await;
}

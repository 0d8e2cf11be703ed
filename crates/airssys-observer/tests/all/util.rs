//! What the observer's tests share: a host running real guests, and a minimal HTTP client
//! (the observer speaks plain HTTP/1.1 on loopback).

use std::net::SocketAddr;
use std::time::Duration;

use airssys_wasm::{ComponentSpec, Host, Payload, Source};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const T: Duration = Duration::from_secs(10);

pub fn raw(text: &str) -> Payload {
    Payload { codec: airssys_wasm::codec::RAW, bytes: text.as_bytes().to_vec() }
}

/// A host with `worker` (the misbehaving guest: crashes, refusals and output on request,
/// a short CPU budget) and `echo`, a pool of two.
pub async fn host() -> Host {
    Host::builder()
        .audit(airssys_osl::AuditLog::memory())
        .component(
            ComponentSpec::new("worker", Source::File(test_programs::MISBEHAVE.into()))
                .cpu_per_message(Duration::from_millis(200))
                .config("role", "test"),
        )
        .component(
            ComponentSpec::new("echo", Source::File(test_programs::ECHO.into())).instances(2),
        )
        .start()
        .await
        .expect("the host starts")
}

/// A GET (or a POST with a JSON body) with an optional bearer token; the status and body.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        unchunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

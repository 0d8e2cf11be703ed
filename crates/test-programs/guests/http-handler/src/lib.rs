//! A standard `wasi:http/proxy` component, written without the AirsSys SDK (with the `wasip2`
//! crate's bindings), that also imports `wasi:keyvalue@0.2.0-draft`. It serves one route per
//! behaviour the host's tests need: plain answers, state kept between requests, traps, sleeping,
//! spinning, echoing a body, streaming one, outgoing requests, and the key-value interfaces
//! (`0.2.0-draft`, and `0.2.0-draft2` under `/kv2/`).

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingRequest, InputStream, Method, OutgoingBody,
    OutgoingRequest, OutgoingResponse, ResponseOutparam, Scheme,
};
use wasip2::io::streams::StreamError;

/// Bindings for the imports of `wasi:keyvalue/imports` (store, atomics, batch).
mod keyvalue {
    wit_bindgen::generate!({
        path: "../../../../wit/deps/keyvalue",
        world: "wasi:keyvalue/imports",
        generate_all,
    });
}

use keyvalue::wasi::keyvalue::{atomics, batch, store};

/// Bindings for `wasi:keyvalue@0.2.0-draft2` (the draft Spin serves), for `/kv2/...`.
mod keyvalue2 {
    wit_bindgen::generate!({
        path: "../../../../wit/deps/keyvalue-draft2",
        world: "wasi:keyvalue/imports",
        generate_all,
    });
}

use keyvalue2::wasi::keyvalue as kv2;

/// Requests to `/count` so far, in this instance: shows whether the instance persists.
static COUNT: AtomicU64 = AtomicU64::new(0);

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let target = request.path_with_query().unwrap_or_default();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let reply = match path {
            // A fixed answer, with a header.
            "/hello" => Reply::text(200, "hello from wasi:http"),
            // A counter in the instance's memory: 1 on a fresh instance, then 2, 3, ...
            "/count" => {
                let n = COUNT.fetch_add(1, Ordering::Relaxed) + 1;
                Reply::new(200, n.to_string())
            }
            // A trap before any response is set.
            "/crash" => core::arch::wasm32::unreachable(),
            // Blocks on a monotonic-clock pollable for `ms` milliseconds.
            "/sleep" => match param(query, "ms").and_then(|ms| ms.parse::<u64>().ok()) {
                Some(ms) => {
                    wasip2::clocks::monotonic_clock::subscribe_duration(
                        ms.saturating_mul(1_000_000),
                    )
                    .block();
                    Reply::new(200, "slept")
                }
                None => Reply::new(400, "missing or bad ms"),
            },
            // Burns CPU forever without ever yielding to the host.
            "/spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            // Answers with the request's own body.
            "/echo" => match read_request_body(&request) {
                Ok(body) => Reply::new(200, body),
                Err(e) => Reply::new(400, format!("error={e}")),
            },
            // A GET through wasi:http/outgoing-handler to the URL after `url=`.
            "/fetch" => match url_param(query) {
                Some(url) => fetch(&url),
                None => Reply::new(400, "missing url"),
            },
            // `kb` KiB of body, written as the client reads it; a write that fails (the
            // client or the host ended the response) ends the handler without a trap.
            "/stream" => {
                let kb = param(query, "kb").and_then(|kb| kb.parse::<usize>().ok()).unwrap_or(1);
                stream(out, kb);
                return;
            }
            "/kv/get" => kv_get(query),
            "/kv/set" => match read_request_body(&request) {
                Ok(body) => kv_set(query, &body),
                Err(e) => Reply::new(400, format!("error={e}")),
            },
            "/kv/incr" => kv_incr(query),
            "/kv/many" => kv_many(query),
            "/kv/keys" => kv_keys(query),
            "/kv2/get" => kv2_get(query),
            "/kv2/cas" => kv2_cas(query),
            "/kv2/keys" => kv2_keys(query),
            _ => Reply::new(404, "not found"),
        };
        reply.send(out);
    }
}

/// A response to send: status, optional content type, whole body.
struct Reply {
    status: u16,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

impl Reply {
    fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply { status, content_type: None, body: body.into() }
    }

    fn text(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply { content_type: Some("text/plain"), ..Reply::new(status, body) }
    }

    /// Sets the response, then writes the body and finishes it.
    fn send(self, out: ResponseOutparam) {
        let headers = Fields::new();
        if let Some(content_type) = self.content_type {
            headers.append("content-type", content_type.as_bytes()).expect("a valid header");
        }
        let response = OutgoingResponse::new(headers);
        response.set_status_code(self.status).expect("a valid status");
        let body = response.body().expect("the body, taken once");
        ResponseOutparam::set(out, Ok(response));
        {
            // The stream is a child of the body: dropped before the body is finished.
            let mut stream = body.write().expect("the body's stream, taken once");
            stream.write_all(&self.body).expect("write the response body");
            stream.flush().expect("flush the response body");
        }
        OutgoingBody::finish(body, None).expect("finish the response body");
    }
}

/// Send `kb` KiB of `x`, 64 KiB at a time; stop quietly at the first failed write.
fn stream(out: ResponseOutparam, kb: usize) {
    let response = OutgoingResponse::new(Fields::new());
    let body = response.body().expect("the body, taken once");
    ResponseOutparam::set(out, Ok(response));
    let chunk = vec![b'x'; 64 * 1024];
    {
        let mut stream = body.write().expect("the body's stream, taken once");
        let mut left = kb * 1024;
        while left > 0 {
            let n = left.min(chunk.len());
            if stream
                .write_all(&chunk[..n])
                .and_then(|()| std::io::Write::flush(&mut stream))
                .is_err()
            {
                return;
            }
            left -= n;
        }
    }
    let _ = OutgoingBody::finish(body, None);
}

/// The whole body of the incoming request.
fn read_request_body(request: &IncomingRequest) -> Result<Vec<u8>, String> {
    let body = request.consume().map_err(|()| "body already consumed".to_string())?;
    let bytes = read_stream(&body)?;
    // The trailers, if any, are not wanted.
    drop(IncomingBody::finish(body));
    Ok(bytes)
}

/// Reads an incoming body's stream to its end.
fn read_stream(body: &IncomingBody) -> Result<Vec<u8>, String> {
    let stream: InputStream = body.stream().map_err(|()| "stream already taken".to_string())?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(bytes),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(match wasip2::http::types::http_error_code(&e) {
                    Some(code) => format!("{code:?}"),
                    None => e.to_debug_string(),
                });
            }
        }
    }
}

/// `/fetch`: GET `url`, answer `status=<code> body=<text>`, or 502 `error=<ErrorCode>`.
fn fetch(url: &str) -> Reply {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        return Reply::new(400, "url must start with http:// or https://");
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let path_with_query = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };

    let request = OutgoingRequest::new(Fields::new());
    let valid = request.set_method(&Method::Get).is_ok()
        && request.set_scheme(Some(&scheme)).is_ok()
        && request.set_authority(Some(authority)).is_ok()
        && request.set_path_with_query(Some(&path_with_query)).is_ok();
    if !valid {
        return Reply::new(400, "bad url");
    }
    let future = match outgoing_handler::handle(request, None) {
        Ok(future) => future,
        Err(code) => return failed(code),
    };
    // The pollable is a child of the future: dropped before it.
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return failed(code),
        Some(Err(())) => return Reply::new(500, "response already taken"),
        None => return Reply::new(500, "response not ready after block"),
    };
    let status = response.status();
    let body = match response.consume() {
        Ok(body) => body,
        Err(()) => return Reply::new(500, "response body already consumed"),
    };
    let text = match read_stream(&body) {
        Ok(bytes) => bytes,
        Err(e) => return Reply::new(502, format!("error={e}")),
    };
    drop(IncomingBody::finish(body));
    let mut reply = format!("status={status} body=").into_bytes();
    reply.extend_from_slice(&text);
    Reply::new(200, reply)
}

/// An outgoing request that failed with an HTTP error code.
fn failed(code: ErrorCode) -> Reply {
    Reply::new(502, format!("error={code:?}"))
}

/// `/kv/get?bucket=B&key=K`: the value, 404 when absent.
fn kv_get(query: &str) -> Reply {
    let Some(key) = param(query, "key") else { return Reply::new(400, "missing key") };
    with_bucket(query, |bucket| {
        Ok(match bucket.get(&key)? {
            Some(value) => Reply::new(200, value),
            None => Reply::new(404, "absent"),
        })
    })
}

/// `/kv/set?bucket=B&key=K`: stores the request body; a refusal (quota, ...) is a 500.
fn kv_set(query: &str, value: &[u8]) -> Reply {
    let Some(key) = param(query, "key") else { return Reply::new(400, "missing key") };
    with_bucket(query, |bucket| {
        bucket.set(&key, value)?;
        Ok(Reply::new(200, "ok"))
    })
}

/// `/kv/incr?bucket=B&key=K&by=N`: atomics::increment, the new value in decimal.
fn kv_incr(query: &str) -> Reply {
    let Some(key) = param(query, "key") else { return Reply::new(400, "missing key") };
    let by = match param(query, "by") {
        None => 1,
        Some(by) => match by.parse::<u64>() {
            Ok(by) => by,
            Err(_) => return Reply::new(400, "bad by"),
        },
    };
    with_bucket(query, |bucket| {
        let value = atomics::increment(bucket, &key, by)?;
        Ok(Reply::new(200, value.to_string()))
    })
}

/// `/kv/many?bucket=B`: batch set-many of a=1, b=2, then get-many of a, b, c: `a=1,b=2,c=-`.
fn kv_many(query: &str) -> Reply {
    with_bucket(query, |bucket| {
        batch::set_many(
            bucket,
            &[("a".to_string(), b"1".to_vec()), ("b".to_string(), b"2".to_vec())],
        )?;
        let keys = ["a", "b", "c"].map(String::from);
        let values = batch::get_many(bucket, &keys)?;
        let parts: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| match values.get(i) {
                Some(Some((_, value))) => format!("{key}={}", String::from_utf8_lossy(value)),
                _ => format!("{key}=-"),
            })
            .collect();
        Ok(Reply::new(200, parts.join(",")))
    })
}

/// `/kv/keys?bucket=B`: every key (following the cursors to the end), sorted, joined by `,`.
fn kv_keys(query: &str) -> Reply {
    with_bucket(query, |bucket| {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = bucket.list_keys(cursor)?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        keys.sort();
        Ok(Reply::new(200, keys.join(",")))
    })
}

/// `/kv2/get?bucket=B&key=K` through draft2: the value, 404 when absent.
fn kv2_get(query: &str) -> Reply {
    let Some(key) = param(query, "key") else { return Reply::new(400, "missing key") };
    with_bucket2(query, |bucket| {
        Ok(match bucket.get(&key)? {
            Some(value) => Reply::new(200, value),
            None => Reply::new(404, "absent"),
        })
    })
}

/// `/kv2/cas?bucket=B&key=K&to=V`: a compare-and-swap handle, then a swap to `V`:
/// `swapped from OLD` (`-` when there was none), or 409 when another write came between.
fn kv2_cas(query: &str) -> Reply {
    let (Some(key), Some(to)) = (param(query, "key"), param(query, "to")) else {
        return Reply::new(400, "missing key or to");
    };
    with_bucket2(query, |bucket| {
        let cas = kv2::atomics::Cas::new(bucket, &key)?;
        let old = cas.current()?;
        let old = old.map_or("-".to_string(), |v| String::from_utf8_lossy(&v).into_owned());
        Ok(match kv2::atomics::swap(cas, to.as_bytes()) {
            Ok(()) => Reply::new(200, format!("swapped from {old}")),
            Err(kv2::atomics::CasError::CasFailed(_)) => Reply::new(409, "cas-failed"),
            Err(kv2::atomics::CasError::StoreError(e)) => return Err(e),
        })
    })
}

/// `/kv2/keys?bucket=B` through draft2 (string cursors): every key, sorted, joined by `,`.
fn kv2_keys(query: &str) -> Reply {
    with_bucket2(query, |bucket| {
        let mut keys = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = bucket.list_keys(cursor.as_deref())?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        keys.sort();
        Ok(Reply::new(200, keys.join(",")))
    })
}

/// `with_bucket` through draft2.
fn with_bucket2(
    query: &str,
    f: impl FnOnce(&kv2::store::Bucket) -> Result<Reply, kv2::store::Error>,
) -> Reply {
    let Some(name) = param(query, "bucket") else { return Reply::new(400, "missing bucket") };
    match kv2::store::open(&name).and_then(|bucket| f(&bucket)) {
        Ok(reply) => reply,
        Err(e) => Reply::new(500, format!("error={e:?}")),
    }
}

/// Opens the bucket named by `bucket=` and runs `f` on it; a store error is a 500 `error=...`.
fn with_bucket(
    query: &str,
    f: impl FnOnce(&store::Bucket) -> Result<Reply, store::Error>,
) -> Reply {
    let Some(name) = param(query, "bucket") else { return Reply::new(400, "missing bucket") };
    match store::open(&name).and_then(|bucket| f(&bucket)) {
        Ok(reply) => reply,
        Err(e) => Reply::new(500, format!("error={e:?}")),
    }
}

/// The percent-decoded value of `name` in a query string.
fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')).map(percent_decode)
}

/// The URL of `/fetch`: everything after `url=` (a plain URL may hold `&` and `=`), decoded.
fn url_param(query: &str) -> Option<String> {
    let start = if query.starts_with("url=") { 0 } else { query.find("&url=")? + 1 };
    Some(percent_decode(&query[start + "url=".len()..]))
}

/// Decodes `%XX` escapes; anything else (including a malformed escape) is kept as it is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

//! Components written for other hosts: a `wasi:http/proxy` component built with the standard
//! Rust tooling (`wasip2` and `wit-bindgen`, no AirsSys SDK) served over real loopback HTTP,
//! its outgoing requests behind grants, and its `wasi:keyvalue` data in durable storage.
//! Components of our own world routed to over HTTP, through the documented codec.

use std::net::SocketAddr;
use std::time::Duration;

use airssys_wasm::storage::Quota;
use airssys_wasm::{ComponentSpec, Host, HostBuilder, HttpRoute};

use crate::util::*;

/// The test guest: every route it has is in its source
/// (`test-programs/guests/http-handler/src/lib.rs`).
fn web(name: &str) -> ComponentSpec {
    guest(name, test_programs::HTTP_HANDLER)
}

/// A route of every path on a free loopback port to `component`.
fn route(component: &str) -> HttpRoute {
    HttpRoute::new("127.0.0.1:0".parse().unwrap(), "/", component)
}

fn base(host: &Host) -> String {
    format!("http://{}", host.http_addresses()[0])
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn post(url: &str, body: Vec<u8>) -> (u16, String) {
    let response = reqwest::Client::new().post(url).body(body).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Requests reuse one persistent instance; a trap is a crash its supervisor restarts, the
/// client gets a 500, and the next request is served by the new instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasi_http_component_serves_from_a_persistent_instance_and_survives_a_trap() {
    let host =
        HostBuilder::default().component(web("web")).http(route("web")).start().await.unwrap();
    let url = base(&host);
    assert_eq!(get(&format!("{url}/hello")).await, (200, "hello from wasi:http".into()));
    let response = reqwest::get(format!("{url}/hello")).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/plain");
    // One instance across requests: its counter goes on.
    assert_eq!(get(&format!("{url}/count")).await, (200, "1".into()));
    assert_eq!(get(&format!("{url}/count")).await, (200, "2".into()));
    let (status, _) = get(&format!("{url}/crash")).await;
    assert_eq!(status, 500);
    // Restarted in place: the next request works, on a fresh instance.
    assert_eq!(get(&format!("{url}/hello")).await.0, 200);
    assert_eq!(get(&format!("{url}/count")).await, (200, "1".into()));
    assert_eq!(host.restarts("web"), Some(1));
    assert_eq!(get(&format!("{url}/nothing-here")).await.0, 404);
    host.shutdown(T).await;
}

/// A pool serves a route round-robin, each member with an instance of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_serves_a_route_round_robin() {
    let host = HostBuilder::default()
        .component(web("web").instances(2))
        .http(route("web"))
        .start()
        .await
        .unwrap();
    let url = format!("{}/count", base(&host));
    let mut counts = Vec::new();
    for _ in 0..4 {
        counts.push(get(&url).await.1);
    }
    counts.sort();
    assert_eq!(counts, ["1", "1", "2", "2"]);
    host.shutdown(T).await;
}

/// A request over its time limit gets 503 (and its instance is restarted); a body over the
/// route's limit gets 413; both leave the route serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_their_limits_get_503_and_413() {
    let mut limited = route("web");
    limited.timeout = Duration::from_millis(300);
    limited.max_body = 1024;
    let host = HostBuilder::default().component(web("web")).http(limited).start().await.unwrap();
    let url = base(&host);
    let (status, body) = get(&format!("{url}/sleep?ms=10000")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("time limit"), "{body}");
    assert_eq!(get(&format!("{url}/hello")).await.0, 200);
    assert_eq!(post(&format!("{url}/echo"), vec![b'x'; 2048]).await.0, 413);
    assert_eq!(post(&format!("{url}/echo"), b"small".to_vec()).await, (200, "small".into()));
    // A guest that computes without end is trapped by its CPU budget: a 500, then service.
    let spec_host = HostBuilder::default()
        .component(web("spin").cpu_per_message(Duration::from_millis(100)))
        .http(route("spin"))
        .start()
        .await
        .unwrap();
    assert_eq!(get(&format!("{}/spin", base(&spec_host))).await.0, 500);
    assert_eq!(get(&format!("{}/hello", base(&spec_host))).await.0, 200);
    spec_host.shutdown(T).await;
    host.shutdown(T).await;
}

/// More requests at once than the route allows are refused at once with 503; the one in
/// flight completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_routes_concurrency_get_503() {
    let mut one = route("web");
    one.concurrency = 1;
    let host = HostBuilder::default().component(web("web")).http(one).start().await.unwrap();
    let url = base(&host);
    let slow = tokio::spawn(get_owned(format!("{url}/sleep?ms=2000")));
    // The refusal is the signal that the slow request holds the route's one slot; asked
    // until it comes or the slow request is over.
    let mut refused = false;
    while !slow.is_finished() {
        if get(&format!("{url}/hello")).await.0 == 503 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(refused, "a second request at once was not refused");
    assert_eq!(slow.await.unwrap(), (200, "slept".into()));
    assert_eq!(get(&format!("{url}/hello")).await.0, 200);
    host.shutdown(T).await;
}

async fn get_owned(url: String) -> (u16, String) {
    get(&url).await
}

/// A one-response HTTP server on loopback: answers every request with `body`.
async fn origin(body: &'static str) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    address
}

/// An outgoing request to a granted loopback server works; one to an address not granted is
/// refused with a typed error and audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_requests_reach_granted_addresses_only() {
    let granted = origin("from the origin").await;
    let other = origin("should not be reached").await;
    let spec = web("web").network(&[granted.to_string().as_str()], &[], &[]);
    let host = HostBuilder::default().component(spec).http(route("web")).start().await.unwrap();
    let url = base(&host);
    let (status, body) = get(&format!("{url}/fetch?url=http://{granted}/path")).await;
    assert_eq!((status, body.as_str()), (200, "status=200 body=from the origin"));
    let (status, body) = get(&format!("{url}/fetch?url=http://{other}/path")).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");
    let refused = host.denials();
    assert!(
        refused.iter().any(|(who, what, n)| who == "web" && *what == "http.outgoing" && *n >= 1),
        "{refused:?}"
    );
    let audited = host.audit_since(0);
    assert!(
        audited.iter().any(|(_, r)| format!("{r:?}").contains(&other.to_string())),
        "the refusal names the address it refused"
    );
    // A name no grant names is not even looked up (a lookup is a message out, too).
    let (status, body) =
        get(&format!("{url}/fetch?url=http://localhost:{}/path", granted.port())).await;
    assert_eq!(status, 502, "{body}");
    let audited = host.audit_since(0);
    assert!(
        audited.iter().any(|(_, r)| r.resource.starts_with("localhost:") && r.decision == "deny"),
        "{audited:?}"
    );
    // A component without any network grant reaches nothing.
    let bare =
        HostBuilder::default().component(web("bare")).http(route("bare")).start().await.unwrap();
    let (status, body) = get(&format!("{}/fetch?url=http://{granted}/path", base(&bare))).await;
    assert_eq!(status, 502, "{body}");
    bare.shutdown(T).await;
    host.shutdown(T).await;
}

/// `wasi:keyvalue` data is the component's durable storage: it survives a crash and a host
/// restart, stays within the quota, and shows under `bucket/key` in the host's store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyvalue_data_survives_crashes_and_host_restarts_within_its_quota() {
    let dir = tempfile::tempdir().unwrap();
    let quota = Quota { bytes: 4096, keys: 100 };
    let start = || {
        HostBuilder::default()
            .data_dir(dir.path())
            .component(web("web").storage(quota))
            .http(route("web"))
            .start()
    };
    let host = start().await.unwrap();
    let url = base(&host);
    assert_eq!(
        post(&format!("{url}/kv/set?bucket=b&key=k"), b"v1".to_vec()).await,
        (200, "ok".into())
    );
    assert_eq!(get(&format!("{url}/kv/incr?bucket=b&key=n&by=2")).await, (200, "2".into()));
    assert_eq!(get(&format!("{url}/crash")).await.0, 500);
    assert_eq!(get(&format!("{url}/kv/get?bucket=b&key=k")).await, (200, "v1".into()));
    assert_eq!(get(&format!("{url}/kv/get?bucket=b&key=absent")).await.0, 404);
    assert_eq!(get(&format!("{url}/kv/many?bucket=m")).await, (200, "a=1,b=2,c=-".into()));
    assert_eq!(get(&format!("{url}/kv/keys?bucket=b")).await, (200, "k,n".into()));
    // The later draft Spin serves (draft2) reaches the same data in the same store, with
    // string cursors and compare-and-swap.
    assert_eq!(get(&format!("{url}/kv2/get?bucket=b&key=k")).await, (200, "v1".into()));
    assert_eq!(get(&format!("{url}/kv2/keys?bucket=b")).await, (200, "k,n".into()));
    let swapped = get(&format!("{url}/kv2/cas?bucket=b&key=k&to=v2")).await;
    assert_eq!(swapped, (200, "swapped from v1".into()));
    assert_eq!(get(&format!("{url}/kv/get?bucket=b&key=k")).await, (200, "v2".into()));
    assert_eq!(post(&format!("{url}/kv/set?bucket=b&key=k"), b"v1".to_vec()).await.0, 200);
    // Buckets are namespaces of the component's own keys.
    let stored = host.storage().unwrap().get("web", "b/k").await.unwrap();
    assert_eq!(stored.as_deref(), Some(&b"v1"[..]));
    // Over the quota: an error the guest sees, nothing written.
    let (status, body) = post(&format!("{url}/kv/set?bucket=b&key=big"), vec![b'x'; 8192]).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("quota"), "{body}");
    host.shutdown(T).await;

    let host = start().await.unwrap();
    let url = base(&host);
    assert_eq!(get(&format!("{url}/kv/get?bucket=b&key=k")).await, (200, "v1".into()));
    assert_eq!(get(&format!("{url}/kv/incr?bucket=b&key=n&by=1")).await, (200, "3".into()));
    assert_eq!(get(&format!("{url}/kv/get?bucket=b&key=big")).await.0, 404);
    host.shutdown(T).await;
}

/// Without a storage grant, opening a bucket is `access-denied`, not a trap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyvalue_without_a_storage_grant_is_access_denied() {
    let host =
        HostBuilder::default().component(web("web")).http(route("web")).start().await.unwrap();
    let (status, body) = get(&format!("{}/kv/get?bucket=b&key=k", base(&host))).await;
    assert_eq!(status, 500);
    assert!(body.contains("AccessDenied"), "{body}");
    assert_eq!(host.restarts("web"), Some(0));
    host.shutdown(T).await;
}

/// A component of our own world takes HTTP requests as messages (JSON, documented in
/// `docs/http.md`) and its answer is the response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_of_our_world_takes_requests_as_messages() {
    let host = HostBuilder::default()
        .component(guest("echo", test_programs::ECHO))
        .http(HttpRoute::new("127.0.0.1:0".parse().unwrap(), "/api", "echo"))
        .start()
        .await
        .unwrap();
    let url = base(&host);
    let response = reqwest::Client::new()
        .post(format!("{url}/api/orders?id=7"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let echoed: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["path"], "/api/orders");
    assert_eq!(echoed["query"], "id=7");
    assert_eq!(echoed["body"], "hello");
    // Outside the route's prefix: no route.
    assert_eq!(get(&format!("{url}/apis")).await.0, 404);
    host.shutdown(T).await;
}

/// `inspect` says which world a component fits.
#[test]
fn inspect_names_the_world() {
    let world = |path: &str| {
        let bytes = std::fs::read(path).unwrap();
        airssys_wasm::inspect::inspect(&bytes, None).unwrap().world
    };
    assert_eq!(world(test_programs::HTTP_HANDLER), Some("wasi:http/proxy"));
    assert_eq!(world(test_programs::ECHO), Some("airssys:component"));
}

/// A client that stops reading a response does not crash the component: the body stops
/// moving, its connection is ended after the route's time limit, the guest's next write
/// fails, and the same instance serves the next requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_does_not_crash_the_component() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut limited = route("web");
    limited.timeout = Duration::from_millis(500);
    let host = HostBuilder::default().component(web("web")).http(limited).start().await.unwrap();
    let address = host.http_addresses()[0];
    let mut stalled = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET /stream?kb=262144 HTTP/1.1\r\nHost: {address}\r\n\r\n");
    stalled.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 1024];
    let n = stalled.read(&mut head).await.unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
    // From here on nothing is read from `stalled`. The next request waits for the stalled
    // one's handler, which returns once its connection is ended.
    let url = format!("{}/count", base(&host));
    let mut served = None;
    for _ in 0..100 {
        match get(&url).await {
            (200, count) => {
                served = Some(count);
                break;
            }
            (503, _) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(served.as_deref(), Some("1"), "served by the instance that streamed");
    assert_eq!(host.restarts("web"), Some(0), "no crash");
    // The stalled connection was ended by the host: reading it now reaches its end.
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(T, stalled.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the stalled connection is closed");
    assert!(rest.len() < 256 << 20, "not the whole body");
    host.shutdown(T).await;
}

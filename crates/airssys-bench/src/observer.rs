//! What an open observer page costs the message path: component → component sends per
//! message while a page streams snapshots (every 100 ms) and `/metrics` is scraped (every
//! 100 ms), against the same host with no page open, samples alternating in one run.

use std::sync::Arc;
use std::time::Duration;

use airssys_observer::Observer;
use airssys_wasm::Host;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

use crate::Scale;
use crate::report::Figure;

/// Read an HTTP response on `addr` for `path` until it ends (or forever, for a stream).
async fn get(
    addr: std::net::SocketAddr,
    path: &str,
    token: &str,
    first: Option<tokio::sync::oneshot::Sender<()>>,
) {
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else { return };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return;
    }
    let mut first = first;
    let mut buf = vec![0u8; 64 << 10];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            return;
        }
        if let Some(first) = first.take() {
            let _ = first.send(());
        }
    }
}

/// A page open on the observer: its event stream, and a scrape of `/metrics` every 100 ms.
fn open_page(
    rt: &Runtime,
    addr: std::net::SocketAddr,
    token: &str,
) -> Vec<tokio::task::JoinHandle<()>> {
    let (seen, first) = tokio::sync::oneshot::channel();
    let token = token.to_owned();
    let events = rt.spawn({
        let token = token.clone();
        async move { get(addr, "/events", &token, Some(seen)).await }
    });
    let scrapes = rt.spawn(async move {
        loop {
            get(addr, "/metrics", &token, None).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    // Measured once the page has its first snapshot.
    let _ = rt.block_on(first);
    vec![events, scrapes]
}

/// Send throughput with the page open against closed.
pub fn overhead(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let n = scale.round_trips;
    let host = crate::wasm::counter_and_relay(rt, "counter", test_programs::COUNTER)?;
    let host = Arc::new(host);
    let observer =
        rt.block_on(Observer::new((*host).clone()).refresh(Duration::from_millis(100)).start())?;
    let mut handled: u64 = 0;
    let mut sample = |host: &Host| crate::wasm::windowed_sends(rt, host, n, &mut handled);
    // Warm up.
    sample(&host)?;
    let (mut closed, mut open) = (Vec::new(), Vec::new());
    for _ in 0..scale.samples {
        closed.push(sample(&host)?);
        let page = open_page(rt, observer.local_addr(), observer.token());
        open.push(sample(&host)?);
        for task in page {
            task.abort();
        }
    }
    rt.block_on(observer.stop());
    crate::wasm::shut_down(rt, host);
    let mut f = Figure::vs(
        "wasm.observer_overhead",
        crate::harness::median(open),
        "ns/msg",
        "the same sends, no page open",
        crate::harness::median(closed),
        1.05,
    );
    f.note = Some(
        "component → component sends (windows of 256); the open page streams a snapshot every \
         100 ms and /metrics is scraped every 100 ms"
            .into(),
    );
    Ok(f)
}

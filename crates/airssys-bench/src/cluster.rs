//! Across hosts (`airssys-cluster`): two hosts in this process joined through a real
//! `nats-server` on loopback, next to raw `async-nats` doing the same exchange with the same
//! payload over the same server in the same run.

use std::time::{Duration, Instant};

use airssys_cluster::{Cluster, ClusterConfig};
use airssys_wasm::{ComponentSpec, Host, Source};
use futures_util::StreamExt;
use tokio::runtime::Runtime;

use crate::Scale;
use crate::report::Figure;
use crate::wasm::{raw_text, text};

/// Host a runs the relay (its target `target`), host b runs `target` from `guest`.
struct Pair {
    a: Host,
    b: Host,
    clusters: [Cluster; 2],
}

async fn pair(url: &str, target: &str, guest: &str) -> anyhow::Result<Pair> {
    let join = || Cluster::join(ClusterConfig::new(url, "bench"));
    let (ca, cb) = (join().await?, join().await?);
    let relay = ComponentSpec::new("relay", Source::File(test_programs::RELAY.into()))
        .grants(airssys_wasm::Grants::all_messaging())
        .config("target", target)
        .cpu_per_message(Duration::from_secs(60));
    let a = Host::builder().transport(ca.transport()).component(relay).start().await?;
    let b = Host::builder()
        .transport(cb.transport())
        .component(ComponentSpec::new(target, Source::File(guest.into())).mailbox(32 * 1024))
        .start()
        .await?;
    ca.serve(a.clone());
    cb.serve(b.clone());
    anyhow::ensure!(ca.wait_for_owner(target, Duration::from_secs(10)).await.is_some());
    Ok(Pair { a, b, clusters: [ca, cb] })
}

impl Pair {
    async fn close(self) {
        self.a.shutdown(Duration::from_secs(5)).await;
        self.b.shutdown(Duration::from_secs(5)).await;
        for cluster in self.clusters {
            cluster.leave().await;
        }
    }
}

/// Raw `async-nats` request/reply round trips of a 1-byte payload (what the relay's calls
/// carry), answered by a responder on a second connection; their p50 and p99 in ns.
async fn raw_request_reply(url: &str, n: usize) -> anyhow::Result<(f64, f64)> {
    let responder = async_nats::connect(url).await?;
    let mut requests = responder.subscribe("raw.echo").await?;
    let answering = tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            if let Some(reply) = request.reply {
                let _ = responder.publish(reply, request.payload).await;
            }
        }
    });
    let client = async_nats::connect(url).await?;
    client.flush().await?;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        client.request("raw.echo", bytes::Bytes::from_static(b"x")).await?;
        times.push(start.elapsed().as_nanos() as f64);
    }
    answering.abort();
    Ok((crate::harness::percentile(times.clone(), 0.5), crate::harness::percentile(times, 0.99)))
}

/// Raw `async-nats` publish of `n` 1-byte messages to a subscriber on a second connection:
/// ns per message, until the subscriber has all of them.
async fn raw_publish(url: &str, n: u64) -> anyhow::Result<f64> {
    let receiver = async_nats::connect(url).await?;
    let mut messages = receiver.subscribe("raw.flow").await?;
    receiver.flush().await?;
    let client = async_nats::connect(url).await?;
    let start = Instant::now();
    let receiving = tokio::spawn(async move {
        let mut got = 0;
        while got < n && messages.next().await.is_some() {
            got += 1;
        }
        got
    });
    for _ in 0..n {
        client.publish("raw.flow", bytes::Bytes::from_static(b"x")).await?;
    }
    client.flush().await?;
    let got = receiving.await?;
    anyhow::ensure!(got == n, "the raw subscriber got {got} of {n}");
    Ok(start.elapsed().as_nanos() as f64 / n as f64)
}

/// Cross-host `call` round trip and cross-host `send` throughput, each against raw NATS.
pub fn figures(rt: &Runtime, scale: Scale) -> anyhow::Result<Vec<Figure>> {
    let nats = test_programs::nats::NatsServer::start().map_err(anyhow::Error::msg)?;
    let url = nats.url.clone();
    let calls = if scale.samples < 20 { 2_000 } else { 10_000 };
    // The relay sends them all, then calls the counter once: the call returns once the
    // counter has handled every send before it (sends to another host are not handled by
    // the time `send` returns). Fewer than the outbound queue holds, so none is refused.
    let sends: u64 = 15 * 1024;
    let rounds = scale.samples.min(5);
    rt.block_on(async {
        // Call round trip: timed inside the calling guest (relay `call-bench`), echo on host b.
        let echo = pair(&url, "echo", test_programs::ECHO).await?;
        let (mut p50s, mut p99s, mut raw50s, mut raw99s) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let answer = echo
                .a
                .call("relay", raw_text(&format!("call-bench:{calls}")), Duration::from_secs(120))
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let (p50, p99) = crate::wasm::p50_p99(&text(answer))?;
            p50s.push(p50);
            p99s.push(p99);
            let (raw50, raw99) = raw_request_reply(&url, calls).await?;
            raw50s.push(raw50);
            raw99s.push(raw99);
        }
        echo.close().await;
        let (p50, p99) = (crate::harness::median(p50s), crate::harness::median(p99s));
        let raw99 = crate::harness::median(raw99s);
        let call = Figure::vs(
            "cluster.call_round_trip_p50",
            p50,
            &format!("ns (p99 {p99:.0}; raw p99 {raw99:.0})"),
            "raw async-nats request/reply",
            crate::harness::median(raw50s),
            1.5,
        );

        // Send throughput: the relay sends to the counter on host b; timed until the counter
        // has them all.
        let counter = pair(&url, "counter", test_programs::COUNTER).await?;
        let (mut ours, mut base) = (Vec::new(), Vec::new());
        let mut handled: u64 = 0;
        for _ in 0..rounds {
            let start = Instant::now();
            let sent = counter
                .a
                .call(
                    "relay",
                    raw_text(&format!("window:{sends}:{sends}")),
                    Duration::from_secs(300),
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            anyhow::ensure!(text(sent) == format!("sent {sends}"), "the window failed");
            let count = counter
                .b
                .call("counter", raw_text("x"), Duration::from_secs(60))
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            ours.push(start.elapsed().as_nanos() as f64 / sends as f64);
            handled += sends + 2;
            let count = text(count);
            anyhow::ensure!(
                count == handled.to_string(),
                "messages were lost: {count} of {handled}"
            );
            base.push(raw_publish(&url, sends).await?);
        }
        counter.close().await;
        let mut send = Figure::vs(
            "cluster.send_per_message",
            crate::harness::median(ours),
            "ns/msg",
            "raw async-nats publish to a subscriber",
            crate::harness::median(base),
            2.0,
        );
        send.target = "ratio <= 2 (throughput >= 50% of raw NATS)".into();
        send.note = Some(format!("{sends} sends, then one call that waits for them"));
        Ok(vec![call, send])
    })
}

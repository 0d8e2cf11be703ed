//! Publish fan-out: the cost of one delivery of a publish to 1, 100 and 1,000 subscribers,
//! against one component-to-component `send` measured in the same run.

use std::time::{Duration, Instant};

use airssys_wasm::{ComponentSpec, EngineConfig, Host, Source};
use tokio::runtime::Runtime;

use crate::Scale;
use crate::report::Figure;
use crate::wasm::{raw_text, text};

const T: Duration = Duration::from_secs(300);

/// A host with a publishing relay and `subscribers` counters subscribed to `bench.t`, each
/// with room for `mailbox` messages (all of one round: the publisher never meets a full
/// mailbox, so nothing is refused and nothing spins).
fn host(rt: &Runtime, subscribers: usize, mailbox: usize) -> anyhow::Result<Host> {
    // More components than the default pool holds: instances are allocated on demand.
    let engine = EngineConfig { pool_components: None, ..EngineConfig::default() };
    let mut builder = Host::builder().engine(engine).component(
        ComponentSpec::new("publisher", Source::File(test_programs::RELAY.into()))
            .grants(airssys_wasm::Grants::all_messaging())
            .cpu_per_message(Duration::from_secs(60)),
    );
    for i in 0..subscribers {
        let grants = airssys_wasm::Grants {
            subscribe: vec!["bench.#".into()],
            ..airssys_wasm::Grants::default()
        };
        builder = builder.component(
            ComponentSpec::new(format!("sub{i}"), Source::File(test_programs::COUNTER.into()))
                .grants(grants)
                .config("subscribe", "bench.t")
                .mailbox(mailbox),
        );
    }
    Ok(rt.block_on(builder.start())?)
}

/// Ask every subscriber for its count (each answer comes after everything queued before it:
/// when all have answered, every delivery has been handled); checks the counts.
fn drained(rt: &Runtime, host: &Host, subscribers: usize, expect: u64) -> anyhow::Result<()> {
    for i in 0..subscribers {
        let answer = rt
            .block_on(host.call(&format!("sub{i}"), raw_text("x"), T))
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        anyhow::ensure!(text(answer) == expect.to_string(), "sub{i} missed deliveries");
    }
    Ok(())
}

/// Per-delivery cost at each subscriber count, against the same run's `send` per message.
pub fn fan_out(rt: &Runtime, scale: Scale) -> anyhow::Result<Vec<Figure>> {
    let (send, _) = crate::wasm::send_per_message(rt, scale)?;
    let mut figures = Vec::new();
    for subscribers in [1usize, 100, 1000] {
        // About the same number of deliveries at every size (at least 20 publishes).
        let publishes = (scale.round_trips as usize / subscribers).max(20);
        let host = host(rt, subscribers, publishes + 16)?;
        let mut per_delivery = Vec::new();
        let mut handled: u64 = 0;
        for _ in 0..scale.samples.min(5) {
            let start = Instant::now();
            let answer = rt
                .block_on(host.call(
                    "publisher",
                    raw_text(&format!("publish-bench:{publishes}:bench.t")),
                    T,
                ))
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let want = (publishes * subscribers) as u64;
            let answer = text(answer);
            anyhow::ensure!(
                answer == format!("delivered {want}"),
                "{subscribers} subscribers, {publishes} publishes: {answer}"
            );
            handled += publishes as u64 + 1;
            drained(rt, &host, subscribers, handled)?;
            let total = start.elapsed();
            // The drain check alone (one call per subscriber, nothing queued), taken out.
            let check = Instant::now();
            handled += 1;
            drained(rt, &host, subscribers, handled)?;
            let check = check.elapsed();
            let work = total.saturating_sub(check);
            per_delivery.push(work.as_nanos() as f64 / want as f64);
        }
        rt.block_on(host.shutdown(Duration::from_secs(10)));
        let ours = crate::harness::median(per_delivery);
        let mut f = Figure::vs(
            &format!("wasm.publish_per_delivery_{subscribers}"),
            ours,
            "ns/delivery",
            "component-to-component send per message (same run)",
            send,
            1.5,
        );
        if subscribers == 1000 {
            f.note = Some(
                "10,000 subscribers need more than this machine's vm.max_map_count allows \
                 with the current engine settings (issue 21)"
                    .into(),
            );
        }
        figures.push(f);
    }
    Ok(figures)
}

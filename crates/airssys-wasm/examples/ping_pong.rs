//! A small component app, built from source: `pinger` calls `ponger` through the host, the
//! host crashes `ponger` with a poison message, the supervisor restarts it in place (same
//! address, fresh state), the crash is a dead letter, and everything shuts down gracefully.
//!
//! Run it with `cargo run -p airssys-wasm --example ping_pong` (the guest components are
//! compiled from `crates/test-programs/guests` on the first run).

#![allow(clippy::print_stdout, reason = "an example prints what happens")]

use std::time::Duration;

use airssys_wasm::{ComponentSpec, Host, Payload, Source, codec};

fn raw(text: &str) -> Payload {
    Payload { codec: codec::RAW, bytes: text.as_bytes().to_vec() }
}

fn show(answer: &Result<Option<Payload>, airssys_wasm::RequestError>) -> String {
    match answer {
        Ok(Some(p)) => String::from_utf8_lossy(&p.bytes).into_owned(),
        Ok(None) => "(no response)".into(),
        Err(e) => format!("error: {e:?}"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    const T: Duration = Duration::from_secs(5);
    println!("1. start two components: `ponger` (a counter) and `pinger` (calls `ponger`)");
    let host = Host::builder()
        .component(ComponentSpec::new("ponger", Source::File(test_programs::COUNTER.into())))
        .component(
            ComponentSpec::new("pinger", Source::File(test_programs::RELAY.into()))
                // Components may do nothing by default; the pinger may message anyone.
                .grants(airssys_wasm::Grants::all_messaging())
                .config("target", "ponger"),
        )
        .start()
        .await?;
    println!("   engine uses the pooling allocator: {}", host.is_pooling());

    println!("\n2. pinger calls ponger three times (component to component, through the host)");
    for _ in 0..3 {
        let answer = host.call("pinger", raw("call:ping"), T).await;
        println!("   pinger <- ponger: count {}", show(&answer));
    }
    let who = host.call("pinger", raw("whoami"), T).await;
    println!("   pinger sees the host as sender: {}", show(&who));

    println!("\n3. a poison message traps ponger; its supervisor restarts it in place");
    let crash = host.call("ponger", raw("crash"), T).await;
    println!("   the caller is told: {}", show(&crash));
    let answer = host.call("pinger", raw("call:ping"), T).await;
    println!("   pinger <- ponger (same address, fresh instance): count {}", show(&answer));
    println!("   ponger restarts: {}", host.restarts("ponger").unwrap_or(0));
    for letter in host.dead_letters() {
        println!(
            "   dead letter: {:?} from {} to {} ({})",
            String::from_utf8_lossy(&letter.bytes),
            letter.sender,
            letter.component,
            letter.reason.lines().next().unwrap_or("")
        );
    }

    println!("\n4. graceful shutdown (each component gets its `shutdown` call)");
    let report = host.shutdown(T).await;
    println!("   stopped cleanly: {}", report.is_clean());
    Ok(())
}

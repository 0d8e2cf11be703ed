//! Embedding airssys-wasm in a program of your own: the program offers components two things
//! of its own, and a component uses both.
//!
//! - A **native service**, `tally`: Rust code at an address. Components `send`, `request` and
//!   `call` it as they would a component, under the same grants, codec and size limits,
//!   sender stamping and audit.
//! - A **custom host interface**, `example:embedding/greeting` (its WIT is
//!   `examples/embedding/wit/greeting.wit`), added to the linker with `HostBuilder::linker`.
//!   A guest built against a world that includes the airssys contract and imports it
//!   (`crates/test-programs/guests/greeter`) calls it like any import.
//!
//! Run it with `cargo run -p airssys-wasm --example embedding`; its test
//! (`cargo test -p airssys-wasm --example embedding`) checks what it prints.

#![allow(clippy::print_stdout, reason = "an example prints what happens")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use airssys_wasm::{
    ComponentSpec, Grants, Host, HostState, Message, Payload, ServiceResult, ServiceSpec, Source,
    codec,
};
use wasmtime::StoreContextMut;

/// Start a host with the service, the interface and the `greeter` component at `guest`; call
/// the component once per name and return its answers.
pub async fn run(guest: &str, names: &[&str]) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    // What the service counts lives in the program, outside any actor, and survives a
    // restart of the service (the factory below makes a new handler that shares it).
    let count = Arc::new(AtomicU64::new(0));
    let tally = ServiceSpec::new("tally", move || {
        let count = Arc::clone(&count);
        move |message: Message| {
            let n = count.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                let answer = format!("message {n}, from {}", message.sender);
                ServiceResult::Ok(Some(Payload::new(codec::RAW, answer)))
            }
        }
    })
    .accepts(&[codec::RAW]);

    let host = Host::builder()
        .service(tally)
        .linker(|linker| {
            linker.instance("example:embedding/greeting@0.1.0")?.func_wrap(
                "greet",
                |store: StoreContextMut<'_, HostState>, (name,): (String,)| {
                    Ok((format!("hello {name}, says the host to {}", store.data().address()),))
                },
            )?;
            Ok(())
        })
        .component(
            ComponentSpec::new("greeter", Source::File(guest.into()))
                // A component may call the service only when granted, as any address.
                .grants(Grants { request: vec!["tally".into()], ..Grants::default() }),
        )
        .start()
        .await?;

    let mut answers = Vec::new();
    for name in names {
        let answer =
            host.call("greeter", Payload::new(codec::RAW, *name), Duration::from_secs(5)).await?;
        let bytes = answer.map(|p| p.bytes).unwrap_or_default();
        answers.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    host.shutdown(Duration::from_secs(5)).await;
    Ok(answers)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    for answer in run(test_programs::GREETER, &["ada", "grace"]).await? {
        println!("greeter answered: {answer}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The guest reaches both of the program's additions: the host function (which sees
    /// the caller's address) and the service (which sees the true sender, and counts).
    #[tokio::test]
    async fn a_guest_uses_the_service_and_the_interface_of_its_embedder() {
        let answers = super::run(test_programs::GREETER, &["ada", "grace"]).await.unwrap();
        assert_eq!(
            answers,
            [
                "hello ada, says the host to greeter; tally: message 1, from greeter",
                "hello grace, says the host to greeter; tally: message 2, from greeter",
            ]
        );
    }
}

//! A hostile component. `attack` tries what it was not granted, one thing after another, and
//! answers how each attempt went: every one is refused with a typed error, and every refusal
//! is in the app's audit log. Its only grants: reading `/data`, and sending to `vault` (which
//! accepts only the host).

use std::time::Duration;

use airssys_wasm_component::{Component, Message, Payload, messaging, process, storage};

#[derive(Default)]
struct Intruder;

fn attempt(report: &mut Vec<String>, what: &str, outcome: Result<String, String>) {
    report.push(match outcome {
        Ok(ok) => format!("{what}: ALLOWED ({ok})"),
        Err(e) => format!("{what}: refused ({e})"),
    });
}

impl Component for Intruder {
    fn handle(&mut self, message: Message) -> Result<Option<Payload>, String> {
        if message.text() != Some("attack") {
            return Err("say `attack`".into());
        }
        let mut r = Vec::new();
        let text = Payload::text("let me in");
        attempt(
            &mut r,
            "send to vault",
            messaging::send("vault", &text).map(|()| "sent".into()).map_err(|e| format!("{e:?}")),
        );
        attempt(
            &mut r,
            "read /data/notes.txt (granted)",
            std::fs::read_to_string("/data/notes.txt")
                .map(|t| t.trim().into())
                .map_err(|e| e.to_string()),
        );
        attempt(
            &mut r,
            "read /data/../../secret",
            std::fs::read_to_string("/data/../../secret").map_err(|e| e.to_string()),
        );
        attempt(
            &mut r,
            "write /data/owned.txt",
            std::fs::write("/data/owned.txt", "x")
                .map(|()| "written".into())
                .map_err(|e| e.to_string()),
        );
        attempt(
            &mut r,
            "connect 127.0.0.1:22",
            std::net::TcpStream::connect("127.0.0.1:22")
                .map(|_| "connected".into())
                .map_err(|e| e.to_string()),
        );
        attempt(
            &mut r,
            "run sh -c id",
            process::run("sh", &["-c", "id"], Duration::from_secs(1))
                .map(|o| format!("{o:?}"))
                .map_err(|e| format!("{e:?}")),
        );
        attempt(
            &mut r,
            "subscribe admin.#",
            messaging::subscribe("admin.#")
                .map(|()| "subscribed".into())
                .map_err(|e| format!("{e:?}")),
        );
        attempt(
            &mut r,
            "storage set",
            storage::set("loot", b"x").map(|()| "stored".into()).map_err(|e| format!("{e:?}")),
        );
        attempt(&mut r, "read env HOME", std::env::var("HOME").map_err(|e| e.to_string()));
        Ok(Some(Payload::text(&r.join("\n"))))
    }
}

airssys_wasm_component::component!(Intruder);

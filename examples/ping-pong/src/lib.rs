//! Ping-pong: the same component plays both parts. `ponger` answers every message with
//! `pong <n>`; `pinger`, given `start <n>`, calls `ponger` n times and answers with what it
//! heard back.

use std::time::Duration;

use airssys_wasm_component::{Component, Message, Payload, config, messaging};

#[derive(Default)]
struct PingPong {
    pongs: u64,
}

impl Component for PingPong {
    fn handle(&mut self, message: Message) -> Result<Option<Payload>, String> {
        let text = message.text().unwrap_or_default().to_owned();
        if let Some(n) = text.strip_prefix("start ") {
            let n: u32 = n.trim().parse().map_err(|_| "expected `start <n>`".to_string())?;
            let partner = config::get("partner").ok_or("no partner configured")?;
            let mut heard = Vec::new();
            for i in 0..n {
                let answer = messaging::call(
                    &partner,
                    &Payload::text(&format!("ping {i}")),
                    Duration::from_secs(1),
                )
                .map_err(|e| format!("{e:?}"))?;
                heard.push(answer.and_then(|p| p.as_text().map(str::to_owned)).unwrap_or_default());
            }
            return Ok(Some(Payload::text(&heard.join(", "))));
        }
        self.pongs += 1;
        Ok(Some(Payload::text(&format!("pong {}", self.pongs))))
    }
}

airssys_wasm_component::component!(PingPong);

//! A chat room over pub/sub. Each member subscribes to its room's topic in `init`. `say <text>`
//! publishes the line to the room; every member (the speaker too) records what it hears;
//! `history` answers the lines heard, oldest first.

use airssys_wasm_component::{Codec, Component, Message, Payload, config, messaging};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Line {
    from: String,
    text: String,
}

#[derive(Default)]
struct Member {
    topic: String,
    heard: Vec<String>,
}

impl Component for Member {
    fn init(&mut self, _config: &[(String, String)]) -> Result<(), String> {
        self.topic = format!("chat.{}", config::get("room").unwrap_or_else(|| "lobby".into()));
        messaging::subscribe(&self.topic).map_err(|e| format!("cannot join {}: {e:?}", self.topic))
    }

    fn handle(&mut self, message: Message) -> Result<Option<Payload>, String> {
        if message.topic.is_some() {
            let line: Line = message.decode().map_err(|e| e.to_string())?;
            self.heard.push(format!("{}: {}", line.from, line.text));
            return Ok(None);
        }
        let text = message.text().unwrap_or_default().to_owned();
        if let Some(said) = text.strip_prefix("say ") {
            let line = Line { from: messaging::self_address(), text: said.to_owned() };
            let reached = messaging::publish_as(&self.topic, Codec::Json, &line)
                .map_err(|e| e.to_string())?;
            return Ok(Some(Payload::text(&format!("reached {reached}"))));
        }
        if text == "history" {
            return Ok(Some(Payload::text(&self.heard.join("\n"))));
        }
        Err(format!("unknown command {text:?}: use `say <text>` or `history`"))
    }
}

airssys_wasm_component::component!(Member);

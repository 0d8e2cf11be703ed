//! A component that misbehaves on request:
//! - `spin`: loops forever (the host's CPU deadline must trap it);
//! - `grow:<MiB>`: allocates and touches that many MiB (the memory limit must trap it);
//! - `print:<text>`: writes `<text>` to stdout and `err:<text>` to stderr;
//! - anything else: answers `ok`.

wit_bindgen::generate!({ path: "../../../../wit", world: "component" });

const RAW: u64 = 0x55;

struct Misbehave;

impl Guest for Misbehave {
    fn init(_config: Vec<(String, String)>) -> Result<(), String> {
        Ok(())
    }

    fn handle_message(message: Message) -> Result<Option<Payload>, String> {
        let text = String::from_utf8_lossy(&message.payload.bytes).into_owned();
        if text == "spin" {
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        if let Some(mib) = text.strip_prefix("grow:") {
            let mib: usize = mib.parse().map_err(|_| "bad size".to_string())?;
            let mut block = vec![0u8; mib << 20];
            for i in (0..block.len()).step_by(4096) {
                block[i] = 1;
            }
            let touched = std::hint::black_box(&block).iter().filter(|b| **b == 1).count();
            return Ok(Some(Payload { codec: RAW, bytes: touched.to_string().into_bytes() }));
        }
        if let Some(rest) = text.strip_prefix("print:") {
            println!("{rest}");
            eprintln!("err:{rest}");
        }
        Ok(Some(Payload { codec: RAW, bytes: b"ok".to_vec() }))
    }

    fn handle_callback(_id: u64, _outcome: Result<Option<Payload>, RequestError>) {}

    fn shutdown() {}
}

export!(Misbehave);

//! A hostile component that tries to redirect directory grants with a symlink swap:
//! - `swap:<path>:<target>`: renames the directory `<path>` to `<path>.away` and puts a
//!   symlink to `<target>` (e.g. `../outside`) in its place; answers `swapped` or
//!   `error: <what>`;
//! - `read:<path>`: answers the file's contents or `error: <what>`;
//! - `write:<path>:<text>`: answers `written` or `error: <what>`;
//! - `trap`: panics, so that the host restarts it (and reopens whatever it reopens);
//! - anything else: answers `ok`.

wit_bindgen::generate!({ path: "../../../../wit", world: "component" });

#[allow(unused_imports)]
use airssys::component::types::{Message, Notice, Payload, RequestError};

use std::ffi::{CString, c_char, c_int};

const RAW: u32 = 0x55;

unsafe extern "C" {
    /// wasi-libc's `symlink`, resolved against the preopened directories like any path.
    fn symlink(target: *const c_char, link: *const c_char) -> c_int;
}

fn make_symlink(target: &str, link: &str) -> std::io::Result<()> {
    let (target, link) = (CString::new(target)?, CString::new(link)?);
    // SAFETY: both are NUL-terminated strings that outlive the call.
    if unsafe { symlink(target.as_ptr(), link.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn swap(path: &str, target: &str) -> std::io::Result<()> {
    std::fs::rename(path, format!("{path}.away"))?;
    make_symlink(target, path)
}

fn answer(text: String) -> Result<Option<Payload>, String> {
    Ok(Some(Payload { codec: RAW, bytes: text.into_bytes() }))
}

struct GrantSwapper;

impl exports::airssys::component::actor::Guest for GrantSwapper {
    fn init(_config: Vec<(String, String)>) -> Result<(), String> {
        Ok(())
    }

    fn handle_message(message: Message) -> Result<Option<Payload>, String> {
        let text = String::from_utf8_lossy(&message.payload.bytes).into_owned();
        if let Some(rest) = text.strip_prefix("swap:") {
            let (path, target) = rest.split_once(':').ok_or("expected swap:<path>:<target>")?;
            return answer(match swap(path, target) {
                Ok(()) => "swapped".into(),
                Err(e) => format!("error: {e}"),
            });
        }
        if let Some(path) = text.strip_prefix("read:") {
            return answer(std::fs::read_to_string(path).unwrap_or_else(|e| format!("error: {e}")));
        }
        if let Some(rest) = text.strip_prefix("write:") {
            let (path, body) = rest.split_once(':').ok_or("expected write:<path>:<text>")?;
            return answer(match std::fs::write(path, body) {
                Ok(()) => "written".into(),
                Err(e) => format!("error: {e}"),
            });
        }
        if text == "trap" {
            panic!("trapping on purpose");
        }
        answer("ok".into())
    }

    fn handle_callback(_id: u64, _outcome: Result<Option<Payload>, RequestError>) {}

    fn handle_notice(_notice: Notice) {}

    fn shutdown() {}
}

export!(GrantSwapper);

//! Logging into the host's logs (`tracing`), tagged with the component's address.

use crate::bindings::airssys::component::logging::{self as raw, Level};

pub use raw::Level as LogLevel;

/// Log `message` at `level` with structured fields.
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> =
        fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    raw::log(level, message, &fields);
}

/// Log at trace level.
pub fn trace(message: &str) {
    log(Level::Trace, message, &[]);
}

/// Log at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message, &[]);
}

/// Log at info level.
pub fn info(message: &str) {
    log(Level::Info, message, &[]);
}

/// Log at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message, &[]);
}

/// Log at error level.
pub fn error(message: &str) {
    log(Level::Error, message, &[]);
}

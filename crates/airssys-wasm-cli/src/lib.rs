//! The parts of the `airssys` command line that take untrusted input and are pure (or need
//! only a [`airssys_wasm::Host`]): the control socket's protocol and the payloads on it. The
//! binary uses them; being a library lets the fuzz targets (`fuzz/`) and the property tests
//! drive them directly, without a socket.

#![deny(missing_docs)]

pub mod payload;
pub mod protocol;

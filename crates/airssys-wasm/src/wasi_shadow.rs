//! Where the host shadows wasmtime-wasi's functions (to audit file access, to limit open
//! handles, to hand out the granted directories): under the exact name wasmtime-wasi defined
//! each interface with, found at run time rather than written here.
//!
//! A guest's import of any `0.2.x` resolves to the newest `0.2` version defined in the linker.
//! A shadow must replace the function in that same instance: defined under another version,
//! it would sit unused beside it while guests reach wasmtime-wasi's own function, unaudited.
//! So the version is looked up in a linker that wasmtime-wasi filled, and a shadow whose
//! function wasmtime-wasi no longer defines stops the host from starting.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use wasmtime::component::{Linker, LinkerInstance};

use crate::state::HostState;

/// The highest `0.2` patch version looked for.
const MAX_PATCH: u32 = 99;

/// The name (`interface@0.2.N`) under which wasmtime-wasi defines `function` of `interface`
/// (`wasi:filesystem/types`), the newest such version. Looked up once per process in a
/// scratch linker: only the exact name of an instance that already defines the function
/// refuses it again.
pub(crate) fn defined_name(
    engine: &wasmtime::Engine,
    interface: &str,
    function: &str,
) -> wasmtime::Result<String> {
    static FOUND: OnceLock<Mutex<HashMap<(String, String), String>>> = OnceLock::new();
    let found = FOUND.get_or_init(Mutex::default);
    let key = (interface.to_owned(), function.to_owned());
    if let Some(name) = crate::sync::lock(found).get(&key) {
        return Ok(name.clone());
    }
    let mut scratch: Linker<HostState> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut scratch)?;
    scratch.allow_shadowing(false);
    for patch in (0..=MAX_PATCH).rev() {
        let name = format!("{interface}@0.2.{patch}");
        let mut instance = scratch.instance(&name)?;
        if instance.func_wrap(function, |_store, (): ()| Ok(())).is_err() {
            crate::sync::lock(found).insert(key, name.clone());
            return Ok(name);
        }
    }
    wasmtime::bail!(
        "wasmtime-wasi does not define `{function}` of `{interface}` (0.2.x) any more: the \
         host's shadow of it must follow wasmtime-wasi's interface before the host can run \
         guests safely"
    )
}

/// The instance of `interface` that defines `function`, in `linker`, opened for shadowing
/// (see [`defined_name`]).
pub(crate) fn instance<'a>(
    linker: &'a mut Linker<HostState>,
    interface: &str,
    function: &str,
) -> wasmtime::Result<LinkerInstance<'a, HostState>> {
    let name = defined_name(linker.engine(), interface, function)?;
    linker.instance(&name)
}

#[cfg(test)]
mod tests {
    use super::defined_name;

    /// Every function the host shadows is found where wasmtime-wasi defines it; if an
    /// upgrade of wasmtime-wasi moves one, this fails (and so would the host's start).
    #[test]
    fn every_shadowed_function_is_found_in_wasmtime_wasi() {
        let engine = wasmtime::Engine::default();
        for (interface, function) in [
            ("wasi:filesystem/types", "[method]descriptor.open-at"),
            ("wasi:filesystem/preopens", "get-directories"),
            ("wasi:sockets/udp-create-socket", "create-udp-socket"),
            ("wasi:sockets/tcp-create-socket", "create-tcp-socket"),
            ("wasi:sockets/tcp", "[method]tcp-socket.accept"),
        ] {
            let name = defined_name(&engine, interface, function).unwrap();
            assert!(name.starts_with(&format!("{interface}@0.2.")), "{name}");
        }
    }

    #[test]
    fn a_function_wasmtime_wasi_does_not_define_is_an_error() {
        let engine = wasmtime::Engine::default();
        let error = defined_name(&engine, "wasi:filesystem/types", "no-such-function");
        assert!(error.unwrap_err().to_string().contains("does not define"));
    }
}

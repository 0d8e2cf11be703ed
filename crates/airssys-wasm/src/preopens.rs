//! The shadowed `wasi:filesystem/preopens`: an instance's preopened directories are the
//! component's granted directories as opened once (`granted_dir.rs`), never looked up by path.

use std::sync::Arc;

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};

use crate::granted_dir::GrantedDir;
use crate::state::HostState;

/// Shadow `get-directories` with one that hands out the component's open grants.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let function = "get-directories";
    let mut preopens = crate::wasi_shadow::instance(linker, "wasi:filesystem/preopens", function)?;
    preopens.func_wrap(function, |mut store, (): ()| {
        let state = store.data_mut();
        let granted: Arc<[GrantedDir]> = Arc::clone(&state.caps.dirs);
        let table = state.filesystem().table;
        let mut out: Vec<(Resource<Descriptor>, String)> = Vec::with_capacity(granted.len());
        for grant in granted.iter() {
            let fd = table.push(Descriptor::Dir(grant.dir.clone()))?;
            out.push((fd, grant.guest.clone()));
        }
        Ok((out,))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

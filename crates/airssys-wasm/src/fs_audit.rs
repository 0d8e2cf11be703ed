//! Audit of filesystem refusals. WASI (cap-std) keeps a component inside its granted
//! directories, and refuses inside wasmtime-wasi; these wrappers shadow the path-taking
//! `wasi:filesystem/types` functions in the linker, call wasmtime-wasi's own implementation,
//! and write a `deny` audit record when it refuses for lack of permission (a path leaving
//! the directory, a write to a read-only grant, a host permission error). What the guest
//! sees is unchanged.
//!
//! A path that no granted directory covers (an absolute `/etc/passwd` when only `/data` is
//! granted) is refused by the guest's own libc before any host call: there is nothing to
//! audit, and nothing was reachable.

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::WasiFilesystemView;
use wasmtime_wasi::p2::FsResult;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    Descriptor, DescriptorFlags, ErrorCode, Host, HostDescriptor, NewTimestamp, OpenFlags,
    PathFlags,
};

use crate::state::HostState;

/// The interface shadowed (its version: wasmtime-wasi's, `wasi_shadow.rs`).
const INTERFACE: &str = "wasi:filesystem/types";

/// What the guest gets for `result`, auditing a permission refusal of `operation` on
/// `path`.
fn outcome<T>(
    state: &mut HostState,
    operation: &'static str,
    action: airssys_osl::Action,
    path: &str,
    result: FsResult<T>,
) -> wasmtime::Result<Result<T, ErrorCode>> {
    let error = match result {
        Ok(value) => return Ok(Ok(value)),
        Err(error) => error,
    };
    let code = state.filesystem().convert_error_code(error)?;
    let rule = match code {
        ErrorCode::NotPermitted | ErrorCode::ReadOnly => {
            "outside the granted directories, or not allowed by their mode"
        }
        ErrorCode::Access => "the host's file permissions",
        _ => return Ok(Err(code)),
    };
    state.audit_denial(operation, action, path, rule);
    Ok(Err(code))
}

/// Shadow the path-taking functions with audited wrappers.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    use airssys_osl::Action::{FsRead, FsWrite};
    linker.allow_shadowing(true);
    let mut types = crate::wasi_shadow::instance(linker, INTERFACE, "[method]descriptor.open-at")?;
    types.func_wrap_async(
        "[method]descriptor.open-at",
        |mut store,
         (fd, path_flags, path, open, flags): (
            Resource<Descriptor>,
            PathFlags,
            String,
            OpenFlags,
            DescriptorFlags,
        )| {
            Box::new(async move {
                let state = store.data_mut();
                // Each open file is a host file descriptor: at most the component's limit.
                if !state.may_open("open", &path) {
                    return Ok((Err(ErrorCode::Quota),));
                }
                let mut view = state.filesystem();
                let result = view.open_at(fd, path_flags, path.clone(), open, flags).await;
                let writes = flags
                    .intersects(DescriptorFlags::WRITE | DescriptorFlags::MUTATE_DIRECTORY)
                    || open.intersects(OpenFlags::CREATE | OpenFlags::TRUNCATE);
                let action = if writes { FsWrite } else { FsRead };
                Ok((outcome(state, "open", action, &path, result)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.stat-at",
        |mut store, (fd, path_flags, path): (Resource<Descriptor>, PathFlags, String)| {
            Box::new(async move {
                let state = store.data_mut();
                let result = state.filesystem().stat_at(fd, path_flags, path.clone()).await;
                Ok((outcome(state, "stat", FsRead, &path, result)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.readlink-at",
        |mut store, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(async move {
                let state = store.data_mut();
                let result = state.filesystem().readlink_at(fd, path.clone()).await;
                Ok((outcome(state, "readlink", FsRead, &path, result)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.create-directory-at",
        |mut store, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(async move {
                let state = store.data_mut();
                let result = state.filesystem().create_directory_at(fd, path.clone()).await;
                Ok((outcome(state, "mkdir", FsWrite, &path, result)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.remove-directory-at",
        |mut store, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(async move {
                let state = store.data_mut();
                let result = state.filesystem().remove_directory_at(fd, path.clone()).await;
                Ok((outcome(state, "rmdir", FsWrite, &path, result)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.unlink-file-at",
        |mut store, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(async move {
                let state = store.data_mut();
                let result = state.filesystem().unlink_file_at(fd, path.clone()).await;
                Ok((outcome(state, "unlink", FsWrite, &path, result)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.rename-at",
        |mut store,
         (fd, old, new_fd, new): (Resource<Descriptor>, String, Resource<Descriptor>, String)| {
            Box::new(async move {
                let state = store.data_mut();
                let what = format!("{old} -> {new}");
                let result = state.filesystem().rename_at(fd, old, new_fd, new).await;
                Ok((outcome(state, "rename", FsWrite, &what, result)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.symlink-at",
        |mut store, (fd, old, new): (Resource<Descriptor>, String, String)| {
            Box::new(async move {
                let state = store.data_mut();
                let what = format!("{new} -> {old}");
                let result = state.filesystem().symlink_at(fd, old, new).await;
                Ok((outcome(state, "symlink", FsWrite, &what, result)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.link-at",
        |mut store,
         (fd, flags, old, new_fd, new): (
            Resource<Descriptor>,
            PathFlags,
            String,
            Resource<Descriptor>,
            String,
        )| {
            Box::new(async move {
                let state = store.data_mut();
                let what = format!("{new} -> {old}");
                let result = state.filesystem().link_at(fd, flags, old, new_fd, new).await;
                Ok((outcome(state, "link", FsWrite, &what, result)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.set-times-at",
        |mut store,
         (fd, flags, path, atime, mtime): (
            Resource<Descriptor>,
            PathFlags,
            String,
            NewTimestamp,
            NewTimestamp,
        )| {
            Box::new(async move {
                let state = store.data_mut();
                let result =
                    state.filesystem().set_times_at(fd, flags, path.clone(), atime, mtime).await;
                Ok((outcome(state, "set-times", FsWrite, &path, result)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.metadata-hash-at",
        |mut store, (fd, flags, path): (Resource<Descriptor>, PathFlags, String)| {
            Box::new(async move {
                let state = store.data_mut();
                let result = state.filesystem().metadata_hash_at(fd, flags, path.clone()).await;
                Ok((outcome(state, "metadata-hash", FsRead, &path, result)?,))
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

//! The limit on files and sockets one instance holds open. Each is a host file descriptor,
//! and file descriptors are shared by every component of the host: without a limit, one
//! component could exhaust them and make other components' file reads fail.
//!
//! What counts is what the instance's WASI resource table holds: file and directory
//! descriptors (granted directories included) and TCP and UDP sockets. The count is taken
//! from the table when a new one is asked for (the table is bounded, so this is cheap), so a
//! handle the guest drops stops counting at once. At the limit, `open-at` returns `quota`
//! and socket creation (and `accept`) returns `new-socket-limit`; the refusal is audited.
//! The wrappers shadow wasmtime-wasi's functions in the linker and call its own
//! implementation otherwise; `fs_audit` does the same for `open-at`. They also audit a
//! socket refused for want of a network grant (wasmtime-wasi refuses it at creation).

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::bindings::sockets::network::{
    ErrorCode, Host as NetworkHost, IpAddressFamily,
};
use wasmtime_wasi::p2::bindings::sockets::tcp::HostTcpSocket;
use wasmtime_wasi::p2::bindings::sockets::tcp_create_socket::Host as TcpCreate;
use wasmtime_wasi::p2::bindings::sockets::udp_create_socket::Host as UdpCreate;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, TcpSocket, UdpSocket};
use wasmtime_wasi::sockets::WasiSocketsView;

use crate::state::HostState;

impl HostState {
    /// Files, directories and sockets the instance holds open.
    fn open_handles(&mut self) -> usize {
        self.table_mut()
            .iter_mut()
            .filter(|entry| {
                entry.is::<wasmtime_wasi::filesystem::Descriptor>()
                    || entry.is::<TcpSocket>()
                    || entry.is::<UdpSocket>()
            })
            .count()
    }

    /// True if the instance may open one more file or socket; otherwise the refusal of
    /// `operation` on `resource` is audited.
    pub(crate) fn may_open(&mut self, operation: &'static str, resource: &str) -> bool {
        let limit = self.caps().max_open_files;
        if self.open_handles() < limit as usize {
            return true;
        }
        let rule = format!("open files and sockets ({limit})");
        self.audit_denial(operation, airssys_osl::Action::Limit, resource, &rule);
        false
    }
}

impl HostState {
    /// Audit a socket creation refused for want of a network grant.
    fn audit_no_socket<T>(
        &self,
        created: &Result<T, ErrorCode>,
        action: airssys_osl::Action,
        what: &str,
    ) {
        if matches!(created, Err(ErrorCode::AccessDenied)) {
            self.audit_denial("socket", action, what, "no network grant: no socket");
        }
    }
}

/// Shadow socket creation (and `accept`) with wrappers that enforce the limit.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let udp = "create-udp-socket";
    crate::wasi_shadow::instance(linker, "wasi:sockets/udp-create-socket", udp)?.func_wrap_async(
        udp,
        |mut store, (family,): (IpAddressFamily,)| {
            Box::new(async move {
                let state = store.data_mut();
                if !state.may_open("udp-socket", "udp socket") {
                    return Ok((Err(ErrorCode::NewSocketLimit),));
                }
                let mut view = state.sockets();
                let created: Result<Resource<UdpSocket>, ErrorCode> =
                    match view.create_udp_socket(family).await {
                        Ok(socket) => Ok(socket),
                        Err(e) => Err(view.convert_error_code(e)?),
                    };
                state.audit_no_socket(&created, airssys_osl::Action::NetUdp, "udp socket");
                Ok((created,))
            })
        },
    )?;
    let tcp = "create-tcp-socket";
    crate::wasi_shadow::instance(linker, "wasi:sockets/tcp-create-socket", tcp)?.func_wrap(
        tcp,
        |mut store, (family,): (IpAddressFamily,)| {
            let state = store.data_mut();
            if !state.may_open("tcp-socket", "tcp socket") {
                return Ok((Err(ErrorCode::NewSocketLimit),));
            }
            let mut view = state.sockets();
            let created: Result<Resource<TcpSocket>, ErrorCode> =
                match view.create_tcp_socket(family) {
                    Ok(socket) => Ok(socket),
                    Err(e) => Err(view.convert_error_code(e)?),
                };
            state.audit_no_socket(&created, airssys_osl::Action::NetConnect, "tcp socket");
            Ok((created,))
        },
    )?;
    type Accepted = (Resource<TcpSocket>, Resource<DynInputStream>, Resource<DynOutputStream>);
    let accept = "[method]tcp-socket.accept";
    crate::wasi_shadow::instance(linker, "wasi:sockets/tcp", accept)?.func_wrap(
        accept,
        |mut store, (socket,): (Resource<TcpSocket>,)| {
            let state = store.data_mut();
            if !state.may_open("accept", "tcp socket") {
                return Ok((Err(ErrorCode::NewSocketLimit),));
            }
            let mut view = state.sockets();
            let accepted: Result<Accepted, ErrorCode> = match view.accept(socket) {
                Ok(accepted) => Ok(accepted),
                Err(e) => Err(view.convert_error_code(e)?),
            };
            Ok((accepted,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

//! A component's exports, whichever world it was built for: ours, in the current version
//! (`airssys:component@0.2.0`, exports in the `actor` interface) or 0.1.0 (bare exports in
//! the world); or a standard WASI world: `wasi:http/proxy` (it exports
//! `wasi:http/incoming-handler` and takes HTTP requests, not messages) or `wasi:cli/command`
//! (it exports `wasi:cli/run`, run once when it starts). The actor calls them through
//! [`Guest`].

use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre, TypedFunc};

use crate::bindings::{Message, Notice, Payload, RequestError, current, v0_1};
use crate::contract_v0_1 as old;
use crate::state::HostState;

/// Prepared code of either version, ready to instantiate.
pub(crate) enum GuestPre {
    /// The current contract: the instance is kept (its optional `handover` export is looked
    /// up only when an upgrade needs it).
    Current {
        pre: InstancePre<HostState>,
        exports: current::ComponentIndices,
        handover: bool,
    },
    V0_1(v0_1::ComponentPre<HostState>),
    /// A `wasi:http/proxy` component.
    Proxy {
        pre: InstancePre<HostState>,
        exports: ProxyIndices,
    },
    /// A `wasi:cli/command` component.
    Command {
        pre: InstancePre<HostState>,
        exports: CommandIndices,
    },
}

use wasmtime_wasi::p2::bindings::{Command, CommandIndices};
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyIndices};

/// The optional state hand-over export (`wit/airssys.wit`, interface `handover`).
const HANDOVER: &str = "airssys:component/handover@0.2.0";

impl GuestPre {
    /// The version a component implements; an error names what it lacks for the current one.
    pub(crate) fn new(pre: InstancePre<HostState>) -> Result<Self, String> {
        let current = match current::ComponentIndices::new(&pre) {
            Ok(exports) => {
                let handover = pre.component().get_export_index(None, HANDOVER).is_some();
                return Ok(GuestPre::Current { pre, exports, handover });
            }
            Err(e) => e,
        };
        if v0_1::ComponentIndices::new(&pre).is_ok() {
            return v0_1::ComponentPre::new(pre).map(GuestPre::V0_1).map_err(|e| format!("{e:#}"));
        }
        if let Ok(exports) = ProxyIndices::new(&pre) {
            return Ok(GuestPre::Proxy { pre, exports });
        }
        if let Ok(exports) = CommandIndices::new(&pre) {
            return Ok(GuestPre::Command { pre, exports });
        }
        Err(format!(
            "it exports none of the worlds this host runs: airssys:component (0.2.0: the \
             `actor` interface; or 0.1.0), wasi:http/proxy (`wasi:http/incoming-handler`) or \
             wasi:cli/command (`wasi:cli/run`): {current:#}"
        ))
    }

    /// The version of our contract it was built against; `None` for a WASI world.
    pub(crate) fn version(&self) -> Option<&'static str> {
        match self {
            GuestPre::Current { .. } => Some("0.2.0"),
            GuestPre::V0_1(_) => Some("0.1.0"),
            GuestPre::Proxy { .. } | GuestPre::Command { .. } => None,
        }
    }

    /// The world it fits.
    pub(crate) fn world(&self) -> &'static str {
        match self {
            GuestPre::Current { .. } | GuestPre::V0_1(_) => "airssys:component",
            GuestPre::Proxy { .. } => "wasi:http/proxy",
            GuestPre::Command { .. } => "wasi:cli/command",
        }
    }

    /// Whether its instances can hand their state over (and take it over) in an upgrade.
    pub(crate) fn has_handover(&self) -> bool {
        matches!(self, GuestPre::Current { handover: true, .. })
    }

    /// The names of the interfaces (and functions) its component imports.
    pub(crate) fn imports(&self) -> Vec<String> {
        let pre = match self {
            GuestPre::Current { pre, .. }
            | GuestPre::Proxy { pre, .. }
            | GuestPre::Command { pre, .. } => pre,
            GuestPre::V0_1(pre) => pre.instance_pre(),
        };
        let component = pre.component();
        let ty = component.component_type();
        ty.imports(component.engine()).map(|(name, _)| name.to_owned()).collect()
    }

    pub(crate) async fn instantiate(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Guest> {
        Ok(match self {
            GuestPre::Current { pre, exports, .. } => {
                let instance = pre.instantiate_async(&mut *store).await?;
                let exports = exports.load(&mut *store, &instance)?;
                Guest::Current(exports, instance)
            }
            GuestPre::V0_1(pre) => Guest::V0_1(pre.instantiate_async(store).await?),
            GuestPre::Proxy { pre, exports } => {
                let instance = pre.instantiate_async(&mut *store).await?;
                Guest::Proxy(exports.load(&mut *store, &instance)?)
            }
            GuestPre::Command { pre, exports } => {
                let instance = pre.instantiate_async(&mut *store).await?;
                Guest::Command(exports.load(&mut *store, &instance)?)
            }
        })
    }
}

/// The exports of a live instance.
pub(crate) enum Guest {
    Current(current::Component, Instance),
    V0_1(v0_1::Component),
    Proxy(Proxy),
    Command(Command),
}

/// What a component of a WASI world answers to a message: it takes none.
fn takes_no_messages(guest: &Guest) -> String {
    match guest {
        Guest::Proxy(_) => "not supported: this component is a wasi:http/proxy component; it \
                            takes HTTP requests (an [[http]] route), not messages"
            .into(),
        _ => "not supported: this component is a wasi:cli/command component; it runs once \
              and takes no messages"
            .into(),
    }
}

/// An instance's `hand-over` and `take-over` exports.
pub(crate) struct Handover {
    hand_over: TypedFunc<(), (Result<Payload, String>,)>,
    take_over: TypedFunc<(Payload,), (Result<(), String>,)>,
}

impl Handover {
    /// The running instance's state, as its code hands it over.
    pub(crate) async fn hand_over(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Result<Payload, String>> {
        Ok(self.hand_over.call_async(store, ()).await?.0)
    }

    /// Give a new instance the state its predecessor handed over.
    pub(crate) async fn take_over(
        &self,
        store: &mut Store<HostState>,
        state: Payload,
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(self.take_over.call_async(store, (state,)).await?.0)
    }
}

impl Guest {
    /// Its `handover` exports, if its code has them (`Ok(None)` if not); an error if they
    /// are there with the wrong types.
    pub(crate) fn handover(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Option<Handover>> {
        let Guest::Current(_, instance) = self else { return Ok(None) };
        let Some(interface) = instance.get_export_index(&mut *store, None, HANDOVER) else {
            return Ok(None);
        };
        let lookup = |store: &mut Store<HostState>, name: &str| {
            instance
                .get_export_index(&mut *store, Some(&interface), name)
                .ok_or_else(|| wasmtime::format_err!("`{HANDOVER}` has no `{name}`"))
        };
        let hand_over = lookup(store, "hand-over")?;
        let take_over = lookup(store, "take-over")?;
        Ok(Some(Handover {
            hand_over: instance.get_typed_func(&mut *store, hand_over)?,
            take_over: instance.get_typed_func(&mut *store, take_over)?,
        }))
    }

    pub(crate) async fn init(
        &self,
        store: &mut Store<HostState>,
        config: &[(String, String)],
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            Guest::Current(g, _) => g.airssys_component_actor().call_init(store, config).await,
            Guest::V0_1(g) => g.call_init(store, config).await,
            Guest::Proxy(_) | Guest::Command(_) => Ok(Ok(())),
        }
    }

    /// Handle one HTTP request (a `wasi:http/proxy` component); `None` for any other.
    pub(crate) async fn handle_http(
        &self,
        store: &mut Store<HostState>,
        request: wasmtime::component::Resource<wasmtime_wasi_http::p2::types::HostIncomingRequest>,
        out: wasmtime::component::Resource<wasmtime_wasi_http::p2::types::HostResponseOutparam>,
    ) -> Option<wasmtime::Result<()>> {
        match self {
            Guest::Proxy(p) => {
                Some(p.wasi_http_incoming_handler().call_handle(store, request, out).await)
            }
            _ => None,
        }
    }

    /// Run a `wasi:cli/command` component's `run`: `None` for any other, else whether it
    /// ended in success.
    pub(crate) async fn run(&self, store: &mut Store<HostState>) -> Option<wasmtime::Result<bool>> {
        match self {
            Guest::Command(c) => Some(c.wasi_cli_run().call_run(store).await.map(|r| r.is_ok())),
            _ => None,
        }
    }

    pub(crate) async fn handle_message(
        &self,
        store: &mut Store<HostState>,
        message: &Message,
    ) -> wasmtime::Result<Result<Option<Payload>, String>> {
        match self {
            Guest::Current(g, _) => {
                g.airssys_component_actor().call_handle_message(store, message).await
            }
            Guest::V0_1(g) => {
                let answer = g.call_handle_message(store, &old::message_out(message)).await?;
                Ok(match answer {
                    Ok(Some(payload)) => old::payload_in(payload).map(Some),
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                })
            }
            other => Ok(Err(takes_no_messages(other))),
        }
    }

    pub(crate) async fn handle_callback(
        &self,
        store: &mut Store<HostState>,
        id: u64,
        outcome: Result<Option<&Payload>, &RequestError>,
    ) -> wasmtime::Result<()> {
        match self {
            Guest::Current(g, _) => {
                g.airssys_component_actor().call_handle_callback(store, id, outcome).await
            }
            Guest::V0_1(g) => {
                let outcome = match outcome {
                    Ok(payload) => Ok(payload.cloned().map(old::payload_out)),
                    Err(e) => Err(old::request_error_out(e.clone())),
                };
                let outcome = outcome.as_ref().map(Option::as_ref);
                g.call_handle_callback(store, id, outcome).await
            }
            Guest::Proxy(_) | Guest::Command(_) => Ok(()),
        }
    }

    /// A 0.1.0 component makes no links or monitors, so it never gets a notice.
    pub(crate) async fn handle_notice(
        &self,
        store: &mut Store<HostState>,
        notice: &Notice,
    ) -> wasmtime::Result<()> {
        match self {
            Guest::Current(g, _) => {
                g.airssys_component_actor().call_handle_notice(store, notice).await
            }
            Guest::V0_1(_) | Guest::Proxy(_) | Guest::Command(_) => Ok(()),
        }
    }

    pub(crate) async fn shutdown(&self, store: &mut Store<HostState>) -> wasmtime::Result<()> {
        match self {
            Guest::Current(g, _) => g.airssys_component_actor().call_shutdown(store).await,
            Guest::V0_1(g) => g.call_shutdown(store).await,
            Guest::Proxy(_) | Guest::Command(_) => Ok(()),
        }
    }
}

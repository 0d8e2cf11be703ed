//! A component's exports, whichever contract version it was built against: the current one
//! (`airssys:component@0.2.0`, exports in the `actor` interface) or 0.1.0 (bare exports in
//! the world). The actor calls them through [`Guest`] and never sees the difference.

use wasmtime::Store;
use wasmtime::component::InstancePre;

use crate::bindings::{Message, Notice, Payload, RequestError, current, v0_1};
use crate::contract_v0_1 as old;
use crate::state::HostState;

/// Prepared code of either version, ready to instantiate.
pub(crate) enum GuestPre {
    Current(current::ComponentPre<HostState>),
    V0_1(v0_1::ComponentPre<HostState>),
}

impl GuestPre {
    /// The version a component implements; an error names what it lacks for the current one.
    pub(crate) fn new(pre: InstancePre<HostState>) -> Result<Self, String> {
        let current = match current::ComponentPre::new(pre.clone()) {
            Ok(pre) => return Ok(GuestPre::Current(pre)),
            Err(e) => e,
        };
        match v0_1::ComponentPre::new(pre) {
            Ok(pre) => Ok(GuestPre::V0_1(pre)),
            Err(_) => Err(format!(
                "it does not export the airssys:component world (0.2.0: the `actor` \
                 interface; or 0.1.0): {current:#}"
            )),
        }
    }

    /// The contract version it was built against.
    pub(crate) fn version(&self) -> &'static str {
        match self {
            GuestPre::Current(_) => "0.2.0",
            GuestPre::V0_1(_) => "0.1.0",
        }
    }

    pub(crate) async fn instantiate(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Guest> {
        Ok(match self {
            GuestPre::Current(pre) => Guest::Current(pre.instantiate_async(store).await?),
            GuestPre::V0_1(pre) => Guest::V0_1(pre.instantiate_async(store).await?),
        })
    }
}

/// The exports of a live instance.
pub(crate) enum Guest {
    Current(current::Component),
    V0_1(v0_1::Component),
}

impl Guest {
    pub(crate) async fn init(
        &self,
        store: &mut Store<HostState>,
        config: &[(String, String)],
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            Guest::Current(g) => g.airssys_component_actor().call_init(store, config).await,
            Guest::V0_1(g) => g.call_init(store, config).await,
        }
    }

    pub(crate) async fn handle_message(
        &self,
        store: &mut Store<HostState>,
        message: &Message,
    ) -> wasmtime::Result<Result<Option<Payload>, String>> {
        match self {
            Guest::Current(g) => {
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
        }
    }

    pub(crate) async fn handle_callback(
        &self,
        store: &mut Store<HostState>,
        id: u64,
        outcome: Result<Option<&Payload>, &RequestError>,
    ) -> wasmtime::Result<()> {
        match self {
            Guest::Current(g) => {
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
        }
    }

    /// A 0.1.0 component makes no links or monitors, so it never gets a notice.
    pub(crate) async fn handle_notice(
        &self,
        store: &mut Store<HostState>,
        notice: &Notice,
    ) -> wasmtime::Result<()> {
        match self {
            Guest::Current(g) => {
                g.airssys_component_actor().call_handle_notice(store, notice).await
            }
            Guest::V0_1(_) => Ok(()),
        }
    }

    pub(crate) async fn shutdown(&self, store: &mut Store<HostState>) -> wasmtime::Result<()> {
        match self {
            Guest::Current(g) => g.airssys_component_actor().call_shutdown(store).await,
            Guest::V0_1(g) => g.call_shutdown(store).await,
        }
    }
}

//! Hot code upgrade of a running component ([`Host::upgrade`]): the new code is loaded and
//! checked before anything changes, then each instance swaps its code between two messages,
//! one pool member at a time, keeping its address, mailbox and queued messages.

use std::sync::Arc;
use std::time::Duration;

use super::code::Code;
use super::spec::{ComponentSpec, Source};
use super::{Host, HostParts};
use crate::envelope::{Delivery, Envelope};
use crate::error::HostError;
use crate::types::Payload;
use crate::upgrade::{CodeSlot, StateFrom, UpgradeOrder, VersionedCode};

/// How long a crash of the new code rolls an upgrade back, unless set
/// ([`Upgrade::grace`]).
pub const DEFAULT_UPGRADE_GRACE: Duration = Duration::from_secs(2);

/// A code upgrade of a running component: the new code, its signature, and the grace
/// window in which a crash of the new code brings the old code back.
#[derive(Debug, Clone)]
pub struct Upgrade {
    source: Source,
    signature: Option<crate::trust::ComponentSignature>,
    grace: Duration,
}

impl Upgrade {
    /// An upgrade to the code at `source`. Under a trust policy with keys, a file's
    /// signature is read from `FILE.sig`, as at a spawn.
    pub fn new(source: Source) -> Self {
        Upgrade { source, signature: None, grace: DEFAULT_UPGRADE_GRACE }
    }

    /// The new code's signature (for code given as bytes, or to override `FILE.sig`).
    pub fn signature(mut self, signature: crate::trust::ComponentSignature) -> Self {
        self.signature = Some(signature);
        self
    }

    /// For how long after its swap a crash of an instance of the new code brings the old
    /// code back (default [`DEFAULT_UPGRADE_GRACE`]; zero: never). [`Host::upgrade`]
    /// returns once the last instance's window is over.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
}

/// What an upgrade did ([`Host::upgrade`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Upgraded {
    /// The version that ran before.
    pub from: Arc<str>,
    /// The version that runs now.
    pub to: Arc<str>,
    /// Instances that swapped their code (a pool's members, or 1).
    pub instances: usize,
    /// Whether the state was handed over (both codes export `handover`).
    pub handed_over: bool,
}

/// The interfaces whose use needs a grant, and whether `spec` has it.
fn granted(spec: &ComponentSpec, import: &str) -> Option<(&'static str, bool)> {
    let w = &spec.wasi;
    let rules: [(&str, &str, bool); 4] = [
        ("airssys:component/storage", "storage", spec.storage.is_some()),
        ("airssys:component/process", "commands", !spec.commands.is_empty()),
        (
            "wasi:sockets/",
            "network (connect, listen or udp)",
            !(w.connect.is_empty() && w.listen.is_empty() && w.udp.is_empty()),
        ),
        ("wasi:filesystem/", "directories", !w.dirs.is_empty()),
    ];
    rules
        .into_iter()
        .find(|(prefix, _, _)| import.starts_with(prefix))
        .map(|(_, grant, has)| (grant, has))
}

impl HostParts {
    /// The new code may import what the old code imported, and beyond that only interfaces
    /// the component is granted: an upgrade brings no new capability.
    fn check_upgrade_imports(
        &self,
        spec: &ComponentSpec,
        old: &Code,
        new: &Code,
    ) -> Result<(), HostError> {
        let before = old.versioned.pre.imports();
        for import in new.versioned.pre.imports() {
            if before.contains(&import) {
                continue;
            }
            if let Some((grant, false)) = granted(spec, &import) {
                let reason = format!(
                    "the new code imports {import}, which needs a grant of {grant} the \
                     component does not have"
                );
                self.router.audit.lifecycle(&spec.name, "upgrade", "deny", reason.clone());
                return Err(HostError::UpgradeRefused { name: spec.name.to_string(), reason });
            }
        }
        Ok(())
    }
}

/// One member upgraded: its address, its slot, the code it ran and the state that code
/// handed over.
type MemberUpgraded<'a> = (&'a Arc<str>, &'a Arc<CodeSlot>, Arc<VersionedCode>, Option<Payload>);

impl Host {
    /// Replace the code of a running component (or of every member of a pool) without
    /// stopping it: its address, mailbox and queued messages stay.
    ///
    /// First the new code is read, its signature checked under the trust policy, compiled
    /// (off the executor) and checked against the contract, and it may not import anything
    /// that needs a grant the component lacks; any failure is an error and nothing changes.
    /// Then each instance, between two messages, hands its state over (when both codes
    /// export `handover`), the new code is instantiated beside it, runs `init` and takes the
    /// state over; only then does it replace the old instance. A failure there leaves the
    /// old instance running and is an error. Requests the old instance made and that have
    /// not called back yet are dropped (never handed to the new code).
    ///
    /// A pool's members are upgraded one at a time, each after the previous one's grace
    /// window, so that the pool keeps serving. An instance of the new code that crashes in
    /// its grace window brings the old code back (with the state it handed over); the
    /// members already upgraded go back too, and the error says why. Every step is in the
    /// audit log (`upgrade`: allow, deny, rollback).
    ///
    /// The upgrade runs in a task of its own: dropping this future does not leave it half
    /// done.
    pub async fn upgrade(&self, name: &str, upgrade: Upgrade) -> Result<Upgraded, HostError> {
        let (host, owned) = (self.clone(), name.to_owned());
        tokio::spawn(async move { host.upgrade_here(&owned, upgrade).await }).await.map_err(
            |e| HostError::UpgradeFailed { name: name.to_owned(), reason: e.to_string() },
        )?
    }

    async fn upgrade_here(&self, name: &str, upgrade: Upgrade) -> Result<Upgraded, HostError> {
        let _one_at_a_time = crate::sync::lock_async(&self.parts.upgrading).await;
        let found = self.lock_components().get(name).map(|p| {
            let slots: Vec<(Arc<str>, Arc<CodeSlot>)> = p
                .addresses()
                .into_iter()
                .filter_map(|a| p.code_slots.get(&a).map(|s| (a, Arc::clone(s))))
                .collect();
            (p.spec.clone(), Arc::clone(&p.code), slots)
        });
        let (spec, old_code, slots) = found.ok_or_else(|| HostError::NotFound(name.to_owned()))?;
        let mut new_spec = spec.clone();
        new_spec.source = upgrade.source;
        new_spec.signature = upgrade.signature;
        let (code, engine) = self.parts.code_blocking(&new_spec).await?;
        super::code::fits_pool(&spec, &code, &engine)?;
        self.parts.check_upgrade_imports(&spec, &old_code, &code)?;
        let from = slots
            .first()
            .map_or_else(|| Arc::clone(&old_code.versioned.version), |s| s.1.version());
        let handed_over =
            old_code.versioned.pre.has_handover() && code.versioned.pre.has_handover();
        // Each member upgraded so far: the code it ran and the state that code handed over.
        let mut upgraded = Vec::new();
        for (address, slot) in &slots {
            let previous = slot.current();
            let order = (Arc::clone(&code.versioned), upgrade.grace, StateFrom::Running);
            match self.swap(address, slot, order).await {
                Ok(state) => upgraded.push((address, slot, previous, state)),
                Err(e) => return Err(self.take_back(upgraded, e).await),
            }
        }
        // Restarts (`Host::restart`) and the listing use the new code from now on, unless
        // the component was stopped or restarted meanwhile (then it runs what it was
        // started from).
        let replaced = {
            let mut components = self.lock_components();
            match components.get_mut(name) {
                Some(prepared)
                    if slots.iter().all(|(a, s)| {
                        prepared.code_slots.get(a).is_some_and(|now| Arc::ptr_eq(now, s))
                    }) =>
                {
                    prepared.spec = new_spec;
                    prepared.code = Arc::clone(&code);
                    false
                }
                _ => true,
            }
        };
        if replaced {
            return Err(HostError::UpgradeFailed {
                name: name.to_owned(),
                reason: "it was stopped or restarted during the upgrade, and runs the code it \
                         was started from"
                    .into(),
            });
        }
        drop(old_code);
        self.parts.prune();
        Ok(Upgraded {
            from,
            to: Arc::clone(&code.versioned.version),
            instances: slots.len(),
            handed_over,
        })
    }

    /// The members already upgraded go back to the code they ran, each with the state that
    /// code handed over (or from `init`); `error` is returned, saying which did not.
    async fn take_back(&self, upgraded: Vec<MemberUpgraded<'_>>, error: HostError) -> HostError {
        let mut left = Vec::new();
        for (address, slot, previous, state) in upgraded.into_iter().rev() {
            let order = (previous, Duration::ZERO, StateFrom::Given(state));
            if let Err(back) = self.swap(address, slot, order).await {
                tracing::warn!(component = %address, error = %back, "could not take the upgrade back");
                left.push(address.to_string());
            }
        }
        if left.is_empty() {
            return error;
        }
        let left = format!("; not taken back, still on the new code: {}", left.join(", "));
        match error {
            HostError::UpgradeFailed { name, reason } => {
                HostError::UpgradeFailed { name, reason: reason + &left }
            }
            HostError::RolledBack { name, reason } => {
                HostError::RolledBack { name, reason: reason + &left }
            }
            other => other,
        }
    }

    /// Have the instance at `address` swap to a code, then wait out its grace window.
    /// Returns what the old instance handed over.
    async fn swap(
        &self,
        address: &Arc<str>,
        slot: &Arc<CodeSlot>,
        (code, grace, state): (Arc<VersionedCode>, Duration, StateFrom),
    ) -> Result<Option<Payload>, HostError> {
        let failed =
            |reason: String| HostError::UpgradeFailed { name: address.to_string(), reason };
        let version = Arc::clone(&code.version);
        let (done, told) = tokio::sync::oneshot::channel();
        if slot.place(UpgradeOrder { code, grace, state, done }).is_err() {
            return Err(failed("another upgrade of it is under way".into()));
        }
        let actor = self
            .parts
            .system
            .whereis(address)
            .and_then(|handle| handle.downcast::<crate::actor::ComponentActor>());
        let Some(actor) = actor.filter(|a| a.tell_unbounded(Envelope(Delivery::Upgrade))) else {
            slot.take_order();
            return Err(failed("it is not running".into()));
        };
        // The order waits behind the messages queued before it. Should this actor end for
        // good meanwhile (stopped, restarted by `Host::restart`, or given up on by its
        // supervisor; a restart in place by its supervisor keeps it), the order is taken
        // back instead of waited for.
        let mut told = told;
        let swapped = loop {
            tokio::select! {
                outcome = &mut told => break outcome,
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if !actor.is_alive() && slot.take_order().is_some() {
                        return Err(failed("it stopped before it took the upgrade".into()));
                    }
                }
            }
        };
        let swapped = match swapped {
            Ok(Ok(swapped)) => swapped,
            Ok(Err(reason)) => return Err(failed(reason)),
            Err(_) => return Err(failed("it stopped before it took the upgrade".into())),
        };
        if grace.is_zero() {
            return Ok(swapped.handed_over);
        }
        let window = async {
            match tokio::time::timeout(grace, swapped.rolled_back).await {
                Ok(Ok(reason)) => Some(reason),
                // The window ended without a crash (or the component was stopped meanwhile).
                Ok(Err(_)) | Err(_) => None,
            }
        };
        match window.await {
            Some(reason) => Err(HostError::RolledBack { name: address.to_string(), reason }),
            None => {
                slot.settle(&version);
                Ok(swapped.handed_over)
            }
        }
    }
}

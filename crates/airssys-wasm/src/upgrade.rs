//! Code upgrades of a running component: the code an address runs ([`CodeSlot`]), the order
//! its actor carries out between two messages ([`UpgradeOrder`]), and the grace window in
//! which a crash of the new code brings the old code back.
//!
//! The slot is shared by every incarnation of the address (a crash makes a new actor; the
//! slot stays), so that a restart runs the code the address runs now, and a rollback decided
//! by the crashing incarnation is what its successor starts from.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::guest::GuestPre;
use crate::types::Payload;

/// Compiled code and how it is named to people.
pub(crate) struct VersionedCode {
    pub(crate) pre: Arc<GuestPre>,
    /// Its version: the first 12 hex digits of its SHA-256, after the component's own
    /// `version` custom section when it has one (`1.2.0 (3f2a9c1b04de)`).
    pub(crate) version: Arc<str>,
}

impl VersionedCode {
    pub(crate) fn new(pre: Arc<GuestPre>, digest: &[u8], label: Option<&str>) -> Self {
        let hash: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        let version = match label {
            Some(label) => format!("{label} ({hash})"),
            None => hash,
        };
        VersionedCode { pre, version: version.into() }
    }
}

/// An upgrade for one address's actor to carry out when it takes its envelope.
pub(crate) struct UpgradeOrder {
    pub(crate) code: Arc<VersionedCode>,
    /// How long a crash of the new code brings the old code back.
    pub(crate) grace: Duration,
    /// Where the new instance's state comes from.
    pub(crate) state: StateFrom,
    /// Told once the new code runs, or why the old code still runs.
    pub(crate) done: oneshot::Sender<Result<Swapped, String>>,
}

/// Where an upgrade's new instance gets its state.
pub(crate) enum StateFrom {
    /// From the running instance's `hand-over` (when both codes export `handover`).
    Running,
    /// This state (what an earlier instance handed over), or none: start from `init`. For
    /// taking an upgrade back: the code that comes back gets its own state, not one in the
    /// format of the code it replaces.
    Given(Option<Payload>),
}

/// An upgrade carried out.
pub(crate) struct Swapped {
    /// Told the reason if a crash in the grace window brings the old code back.
    pub(crate) rolled_back: oneshot::Receiver<String>,
    /// What the old instance handed over (to take the upgrade back with).
    pub(crate) handed_over: Option<Payload>,
}

/// Which code one address runs, and what a crash in an upgrade's grace window restores.
pub(crate) struct CodeSlot(Mutex<Slot>);

struct Slot {
    current: Arc<VersionedCode>,
    grace: Option<Grace>,
    /// State the next incarnation takes over (what the old code handed over before an
    /// upgrade that was rolled back).
    restore: Option<Payload>,
    order: Option<UpgradeOrder>,
}

/// What an upgrade replaced, until its grace window ends.
struct Grace {
    /// `None`: a window too long to end.
    until: Option<Instant>,
    previous: Arc<VersionedCode>,
    snapshot: Option<Payload>,
    /// Told the crash's reason if the old code comes back.
    watcher: oneshot::Sender<String>,
}

impl CodeSlot {
    pub(crate) fn new(code: Arc<VersionedCode>) -> Self {
        CodeSlot(Mutex::new(Slot { current: code, grace: None, restore: None, order: None }))
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        crate::sync::lock(&self.0)
    }

    /// The code a start instantiates now.
    pub(crate) fn current(&self) -> Arc<VersionedCode> {
        Arc::clone(&self.slot().current)
    }

    /// The version of the code it runs.
    pub(crate) fn version(&self) -> Arc<str> {
        Arc::clone(&self.slot().current.version)
    }

    /// The state a start gives its new instance, once.
    pub(crate) fn take_restore(&self) -> Option<Payload> {
        self.slot().restore.take()
    }

    /// Leave an order for the actor; handed back if one is waiting already.
    #[allow(clippy::result_large_err, reason = "the order, given back")]
    pub(crate) fn place(&self, order: UpgradeOrder) -> Result<(), UpgradeOrder> {
        let mut slot = self.slot();
        if slot.order.is_some() {
            return Err(order);
        }
        slot.order = Some(order);
        Ok(())
    }

    /// The order waiting for the actor, if any.
    pub(crate) fn take_order(&self) -> Option<UpgradeOrder> {
        self.slot().order.take()
    }

    /// The new code runs: from now on a start instantiates it, and for `grace` a crash
    /// brings `previous` back (with `snapshot`, what it handed over). Returns where that
    /// crash's reason is told.
    pub(crate) fn swapped(
        &self,
        code: Arc<VersionedCode>,
        grace: Duration,
        snapshot: Option<Payload>,
    ) -> oneshot::Receiver<String> {
        let (watcher, told) = oneshot::channel();
        let until = Instant::now().checked_add(grace);
        let mut slot = self.slot();
        let previous = std::mem::replace(&mut slot.current, code);
        slot.restore = None;
        slot.grace =
            Some(Grace { until, previous, snapshot, watcher }).filter(|_| !grace.is_zero());
        told
    }

    /// The running instance crashed: within an upgrade's grace window, the old code comes
    /// back (its version is returned) and the next start runs it.
    pub(crate) fn crashed(&self, reason: &str) -> Option<Arc<str>> {
        let mut slot = self.slot();
        let grace = slot.grace.take()?;
        if grace.until.is_some_and(|until| Instant::now() > until) {
            return None;
        }
        slot.current = grace.previous;
        slot.restore = grace.snapshot;
        let _ = grace.watcher.send(reason.to_owned());
        Some(Arc::clone(&slot.current.version))
    }

    /// The grace window of the upgrade to `version` is over: it stays.
    pub(crate) fn settle(&self, version: &str) {
        let mut slot = self.slot();
        if *slot.current.version == *version {
            slot.grace = None;
        }
    }
}

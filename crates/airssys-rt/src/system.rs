//! [`System`]: spawning, the named registry, and graceful shutdown of everything.

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::actor::Actor;
use crate::actor_ref::{ActorHandle, ActorRef};
use crate::cell::{Cell, ParentHook, Refused};
use crate::deadline::Deadlines;
use crate::error::{RegistryError, SpawnError};
use crate::exit::{ActorId, ExitReason};
use crate::mailbox::MailboxConfig;
use crate::spawn::{StartAck, start_incarnation};
use crate::sync::lock;

/// How to spawn an actor: mailbox size and an optional registered name.
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    pub(crate) mailbox: MailboxConfig,
    pub(crate) name: Option<Arc<str>>,
}

impl SpawnOptions {
    /// Defaults: an unbounded mailbox, no name.
    pub fn new() -> Self {
        Self::default()
    }

    /// The mailbox size.
    pub fn mailbox(mut self, mailbox: MailboxConfig) -> Self {
        self.mailbox = mailbox;
        self
    }

    /// Register the actor under `name` (removed automatically when it stops for good).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }
}

struct Entry {
    handle: ActorHandle,
    /// Not started by a supervisor: shutdown stops it directly.
    root: bool,
}

/// What the clones of a `System` share: the table of live actors, the name registry, and the
/// ask deadlines.
struct SystemState {
    next_id: AtomicU64,
    shutting_down: AtomicBool,
    /// Live actors; ids are small sequential integers, so a fast non-DoS-resistant hash is
    /// right here.
    actors: Mutex<FxHashMap<ActorId, Entry>>,
    names: Mutex<HashMap<Arc<str>, ActorHandle>>,
    deadlines: Arc<Deadlines>,
}

/// An actor system: the place actors are spawned in, found by name, and shut down together.
/// Cheap to clone. Must be used from within a tokio runtime.
#[derive(Clone)]
pub struct System(Arc<SystemState>);

impl fmt::Debug for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("System").field("actors", &self.actor_count()).finish()
    }
}

impl Default for System {
    fn default() -> Self {
        Self::new()
    }
}

/// What [`System::shutdown`] achieved.
#[derive(Debug, Clone, Default)]
pub struct ShutdownReport {
    /// Top-level actors and supervisors that stopped gracefully (with their subtrees).
    pub stopped: usize,
    /// Actors that had to be killed because the deadline passed, with their names.
    pub killed: Vec<(ActorId, Option<Arc<str>>)>,
    /// How long the shutdown took.
    pub elapsed: Duration,
}

impl ShutdownReport {
    /// True when everything stopped gracefully within the deadline.
    pub fn is_clean(&self) -> bool {
        self.killed.is_empty()
    }
}

impl System {
    /// A new, empty system.
    pub fn new() -> Self {
        System(Arc::new(SystemState {
            next_id: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            actors: Mutex::new(FxHashMap::default()),
            names: Mutex::new(HashMap::new()),
            deadlines: Arc::new(Deadlines::default()),
        }))
    }

    /// Spawn an actor with an unbounded mailbox.
    pub fn spawn<A: Actor>(&self, actor: A) -> Result<ActorRef<A>, SpawnError> {
        self.spawn_with(actor, SpawnOptions::default())
    }

    /// Spawn an actor with options.
    pub fn spawn_with<A: Actor>(
        &self,
        actor: A,
        options: SpawnOptions,
    ) -> Result<ActorRef<A>, SpawnError> {
        let (actor_ref, _) = self.spawn_inner(actor, &options, None, None)?;
        Ok(actor_ref)
    }

    pub(crate) fn spawn_inner<A: Actor>(
        &self,
        actor: A,
        options: &SpawnOptions,
        parent: Option<ParentHook>,
        ack: Option<StartAck>,
    ) -> Result<(ActorRef<A>, u32), SpawnError> {
        let id = ActorId(self.0.next_id.fetch_add(1, Ordering::Relaxed));
        let cell =
            Arc::new(Cell::<A::Msg>::new(id, options.mailbox, Arc::clone(&self.0.deadlines)));
        let actor_ref = ActorRef::<A>::from_cell(cell);
        // The name first: an actor that fails to get its name is never visible to anyone.
        if let Some(name) = &options.name
            && let Err(e) = self.register(Arc::clone(name), &actor_ref.handle())
        {
            return Err(match e {
                RegistryError::NameTaken(n) => SpawnError::NameTaken(n),
                _ => SpawnError::NameTaken(name.to_string()),
            });
        }
        {
            // Checked under the table lock, so that `shutdown`'s snapshot of the table
            // cannot miss an actor spawned while it begins.
            let mut actors = lock(&self.0.actors);
            if self.0.shutting_down.load(Ordering::Acquire) {
                drop(actors);
                if let Some(name) = &options.name {
                    self.unregister(name);
                }
                return Err(SpawnError::ShuttingDown);
            }
            let root = parent.is_none();
            actors.insert(id, Entry { handle: actor_ref.handle(), root });
        }
        // A fresh cell is never dead nor running, so this cannot be refused.
        let incarnation = start_incarnation(self, &actor_ref.cell, actor, parent, ack)
            .map_err(|_| SpawnError::ShuttingDown)?;
        Ok((actor_ref, incarnation))
    }

    /// Start a new incarnation in an existing (restarting) cell. Used by supervisors.
    pub(crate) fn restart_in<A: Actor>(
        &self,
        actor_ref: &ActorRef<A>,
        actor: A,
        ack: Option<StartAck>,
    ) -> Result<u32, Refused> {
        start_incarnation(self, &actor_ref.cell, actor, None, ack)
    }

    /// Free the registered name of an actor that is going away (its supervisor is gone), so
    /// that a replacement can take it before the old one has finished exiting.
    pub(crate) fn release_name(&self, handle: &ActorHandle) {
        if let Some(name) = handle.name() {
            let mut names = lock(&self.0.names);
            if names.get(&name).is_some_and(|h| h.id() == handle.id()) {
                names.remove(&name);
            }
            drop(names);
            handle.0.clear_name();
        }
    }

    /// Called when a cell is closed for good.
    pub(crate) fn forget(&self, id: ActorId, name: Option<Arc<str>>) {
        lock(&self.0.actors).remove(&id);
        if let Some(name) = name {
            let mut names = lock(&self.0.names);
            if names.get(&name).is_some_and(|h| h.id() == id) {
                names.remove(&name);
            }
        }
    }

    /// Close a cell whose incarnation has exited and will not be restarted.
    pub(crate) fn close(&self, handle: &ActorHandle, incarnation: u32) {
        if let Some(closed) = handle.0.close(incarnation) {
            self.forget(handle.id(), closed.name.clone());
            closed.notify();
        }
    }

    /// Number of live actors (including those waiting for a restart).
    pub fn actor_count(&self) -> usize {
        lock(&self.0.actors).len()
    }

    /// True once [`shutdown`](Self::shutdown) has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.0.shutting_down.load(Ordering::Acquire)
    }

    // ----- registry --------------------------------------------------------------------

    /// Register `actor` under `name`. Fails if the name belongs to another live actor or the
    /// actor already has a name. The entry is removed when the actor stops for good.
    pub fn register(
        &self,
        name: impl Into<Arc<str>>,
        actor: &ActorHandle,
    ) -> Result<(), RegistryError> {
        let name = name.into();
        let mut names = lock(&self.0.names);
        if let Some(existing) = names.get(&name)
            && existing.is_alive()
        {
            return Err(RegistryError::NameTaken(name.to_string()));
        }
        if !actor.is_alive() {
            return Err(RegistryError::NotAlive);
        }
        actor.0.set_name(Arc::clone(&name))?;
        names.insert(name, actor.clone());
        Ok(())
    }

    /// Remove a name. Returns the actor it pointed to.
    pub fn unregister(&self, name: &str) -> Option<ActorHandle> {
        let handle = lock(&self.0.names).remove(name)?;
        handle.0.clear_name();
        Some(handle)
    }

    /// The live actor registered under `name`.
    pub fn whereis(&self, name: &str) -> Option<ActorHandle> {
        lock(&self.0.names).get(name).filter(|h| h.is_alive()).cloned()
    }

    /// The live actor registered under `name`, if it is an `A`.
    pub fn lookup<A: Actor>(&self, name: &str) -> Option<ActorRef<A>> {
        self.whereis(name)?.downcast::<A>()
    }

    /// All registered names, sorted.
    pub fn registered(&self) -> Vec<Arc<str>> {
        let mut v: Vec<_> = lock(&self.0.names).keys().cloned().collect();
        v.sort();
        v
    }

    // ----- shutdown --------------------------------------------------------------------

    /// Shut everything down within `deadline`: stop accepting new actors, stop top-level
    /// actors and supervisors gracefully in reverse spawn order (each supervisor stops its
    /// children in reverse start order), then kill whatever is still running when the
    /// deadline passes. Reports what had to be killed.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let start = tokio::time::Instant::now();
        // `Duration::MAX` means "as long as it takes".
        let end = start
            .checked_add(deadline)
            .unwrap_or_else(|| start + Duration::from_secs(100 * 365 * 24 * 3600));
        let mut roots: Vec<ActorHandle> = {
            // Set under the table lock, so that no spawn can slip past this snapshot.
            let actors = lock(&self.0.actors);
            self.0.shutting_down.store(true, Ordering::Release);
            actors.values().filter(|e| e.root).map(|e| e.handle.clone()).collect()
        };
        roots.sort_by_key(|h| std::cmp::Reverse(h.id()));
        let mut report = ShutdownReport::default();
        for root in roots {
            root.0.set_terminal();
            if !root.0.stop(ExitReason::Shutdown) {
                continue;
            }
            match tokio::time::timeout_at(end, root.wait_for_exit()).await {
                Ok(_) => report.stopped += 1,
                Err(_) => break,
            }
        }
        let left: Vec<ActorHandle> =
            lock(&self.0.actors).values().map(|e| e.handle.clone()).collect();
        for h in left.iter().filter(|h| h.is_alive()) {
            report.killed.push((h.id(), h.name()));
            h.0.set_terminal();
            h.kill();
        }
        // A killed actor exits at its next await point; do not wait forever for one that
        // spins without awaiting.
        let exits = futures_util::future::join_all(left.iter().map(|h| h.wait_for_exit()));
        let _ = tokio::time::timeout(Duration::from_millis(100), exits).await;
        report.elapsed = start.elapsed();
        if !report.killed.is_empty() {
            tracing::warn!(killed = report.killed.len(), "shutdown deadline passed; killed actors");
        }
        report
    }
}

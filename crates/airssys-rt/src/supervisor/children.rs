//! A supervisor's children in start order, with indexes by id and by actor, so that finding
//! a child does not grow with their number (a dynamic supervisor may hold 100,000).

use std::collections::HashMap;
use std::sync::Arc;

use crate::exit::ActorId;

use super::Child;

#[derive(Default)]
pub(super) struct Children {
    list: Vec<Child>,
    /// Child id → its place in `list`.
    by_id: HashMap<Arc<str>, usize>,
    /// The actor of a child's current handle → its place in `list`. May hold old handles'
    /// actors, which [`Children::index_of_actor`] tells apart.
    by_actor: HashMap<ActorId, usize>,
}

impl Children {
    /// Add a child at the end.
    pub(super) fn push(&mut self, child: Child) {
        let i = self.list.len();
        self.by_id.insert(Arc::clone(&child.spec.id), i);
        if let Some(h) = &child.handle {
            self.by_actor.insert(h.id(), i);
        }
        self.list.push(child);
    }

    /// Remove the last child.
    pub(super) fn pop(&mut self) -> Option<Child> {
        let child = self.list.pop()?;
        self.forget(&child);
        Some(child)
    }

    /// Remove child `i`; the ones after it move up.
    pub(super) fn remove(&mut self, i: usize) -> Child {
        let child = self.list.remove(i);
        self.forget(&child);
        if i < self.list.len() {
            self.reindex();
        }
        child
    }

    /// Keep only the children `keep` says to.
    pub(super) fn retain(&mut self, keep: impl FnMut(&Child) -> bool) {
        let before = self.list.len();
        self.list.retain(keep);
        if self.list.len() != before {
            self.reindex();
        }
    }

    /// Child `i` now runs as `actor`, no longer as `old` (when it had a cell before).
    pub(super) fn started_as(&mut self, i: usize, old: Option<ActorId>, actor: ActorId) {
        if let Some(old) = old.filter(|old| *old != actor) {
            self.by_actor.remove(&old);
        }
        self.by_actor.insert(actor, i);
    }

    /// Where the child with this id is.
    pub(super) fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// Where the child whose current handle is `actor`'s is.
    pub(super) fn index_of_actor(&self, actor: ActorId) -> Option<usize> {
        let i = *self.by_actor.get(&actor)?;
        let current = self.list.get(i)?.handle.as_ref().is_some_and(|h| h.id() == actor);
        current.then_some(i)
    }

    fn forget(&mut self, child: &Child) {
        self.by_id.remove(&child.spec.id);
        if let Some(h) = &child.handle {
            self.by_actor.remove(&h.id());
        }
    }

    fn reindex(&mut self) {
        self.by_id.clear();
        self.by_actor.clear();
        for (i, c) in self.list.iter().enumerate() {
            self.by_id.insert(Arc::clone(&c.spec.id), i);
            if let Some(h) = &c.handle {
                self.by_actor.insert(h.id(), i);
            }
        }
    }
}

impl std::ops::Deref for Children {
    type Target = [Child];

    fn deref(&self) -> &[Child] {
        &self.list
    }
}

impl std::ops::DerefMut for Children {
    /// Children may be changed in place, not added or removed; a new handle is told with
    /// [`Children::started_as`].
    fn deref_mut(&mut self) -> &mut [Child] {
        &mut self.list
    }
}

//! A supervisor's children in start order, with indexes by id and by actor, so that finding,
//! adding and removing a child does not grow with their number (a dynamic supervisor may
//! hold 100,000, and sessions come and go).
//!
//! Each child gets a start number that never changes; the indexes map to it, and its place
//! in the list is found from it by binary search (the numbers are in list order). Removing a
//! child touches no other child's index entry, and moves only pointers (children are
//! boxed), on the shorter side of it: none for the oldest or the newest.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::exit::ActorId;

use super::Child;

/// A child with its start number.
struct Numbered {
    number: u64,
    child: Child,
}

#[derive(Default)]
pub(super) struct Children {
    /// In start order, so their numbers ascend. Boxed: removing a child from the middle
    /// moves pointers, not whole children.
    list: VecDeque<Box<Numbered>>,
    /// The next start number.
    next: u64,
    /// Child id → its start number.
    by_id: HashMap<Arc<str>, u64>,
    /// The actor of a child's current handle → its start number. May hold old handles'
    /// actors, which [`Children::index_of_actor`] tells apart.
    by_actor: HashMap<ActorId, u64>,
}

impl Children {
    /// Add a child at the end.
    pub(super) fn push(&mut self, child: Child) {
        let number = self.next;
        self.next += 1;
        self.by_id.insert(Arc::clone(&child.spec.id), number);
        if let Some(h) = &child.handle {
            self.by_actor.insert(h.id(), number);
        }
        self.list.push_back(Box::new(Numbered { number, child }));
    }

    /// Remove the last child.
    pub(super) fn pop(&mut self) -> Option<Child> {
        let child = self.list.pop_back()?.child;
        self.forget(&child);
        Some(child)
    }

    /// Remove child `i`; the ones after it move up.
    ///
    /// # Panics
    ///
    /// If there is no child `i` (as `Vec::remove`).
    pub(super) fn remove(&mut self, i: usize) -> Child {
        let child = self.list.remove(i).expect("a child at this index").child;
        self.forget(&child);
        child
    }

    /// Keep only the children `keep` says to.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&Child) -> bool) {
        for numbered in std::mem::take(&mut self.list) {
            if keep(&numbered.child) {
                self.list.push_back(numbered);
            } else {
                self.forget(&numbered.child);
            }
        }
    }

    /// Child `i` now runs as `actor`, no longer as `old` (when it had a cell before).
    pub(super) fn started_as(&mut self, i: usize, old: Option<ActorId>, actor: ActorId) {
        if let Some(old) = old.filter(|old| *old != actor) {
            self.by_actor.remove(&old);
        }
        if let Some(numbered) = self.list.get(i) {
            self.by_actor.insert(actor, numbered.number);
        }
    }

    /// Where the child with this id is.
    pub(super) fn index_of(&self, id: &str) -> Option<usize> {
        self.place(*self.by_id.get(id)?)
    }

    /// Where the child whose current handle is `actor`'s is.
    pub(super) fn index_of_actor(&self, actor: ActorId) -> Option<usize> {
        let i = self.place(*self.by_actor.get(&actor)?)?;
        let current = self.list.get(i)?.child.handle.as_ref().is_some_and(|h| h.id() == actor);
        current.then_some(i)
    }

    /// The place in the list of the child with this start number, if it is still there.
    fn place(&self, number: u64) -> Option<usize> {
        self.list.binary_search_by_key(&number, |n| n.number).ok()
    }

    fn forget(&mut self, child: &Child) {
        // Only this child's own entries: a later child with the same id has its own number.
        let number = self.by_id.get(&child.spec.id).copied();
        if number.is_some_and(|n| self.place(n).is_none()) {
            self.by_id.remove(&child.spec.id);
        }
        if let Some(h) = &child.handle {
            let actor = self.by_actor.get(&h.id()).copied();
            if actor.is_some_and(|n| self.place(n).is_none()) {
                self.by_actor.remove(&h.id());
            }
        }
    }
}

impl Children {
    /// How many children there are.
    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    /// The children in start order.
    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = &Child> {
        self.list.iter().map(|n| &n.child)
    }

    /// The children in start order, to change in place (not to add or remove; a new handle
    /// is told with [`Children::started_as`]).
    pub(super) fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut Child> {
        self.list.iter_mut().map(|n| &mut n.child)
    }
}

impl std::ops::Index<usize> for Children {
    type Output = Child;

    fn index(&self, i: usize) -> &Child {
        &self.list[i].child
    }
}

impl std::ops::IndexMut<usize> for Children {
    /// A child may be changed in place; a new handle is told with [`Children::started_as`].
    fn index_mut(&mut self, i: usize) -> &mut Child {
        &mut self.list[i].child
    }
}

//! A supervisor's children in start order, with indexes by id and by actor, so that finding,
//! adding and removing a child does not grow with their number (a dynamic supervisor may
//! hold 100,000, and sessions come and go).
//!
//! Each child gets a start number that never changes; the indexes map to it, and its place
//! in the list is found from it by binary search (the numbers are in list order). Removing a
//! child moves only pointers (children are boxed) and touches no other child's index entry.

use std::collections::HashMap;
use std::sync::Arc;

use crate::exit::ActorId;

use super::Child;

#[derive(Default)]
pub(super) struct Children {
    #[expect(
        clippy::vec_box,
        reason = "removing a child from the middle moves pointers, not whole children"
    )]
    list: Vec<Box<Child>>,
    /// The start number of each child of `list`, in the same order (ascending).
    numbers: Vec<u64>,
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
        self.list.push(Box::new(child));
        self.numbers.push(number);
    }

    /// Remove the last child.
    pub(super) fn pop(&mut self) -> Option<Child> {
        let child = self.list.pop()?;
        self.numbers.pop();
        self.forget(&child);
        Some(*child)
    }

    /// Remove child `i`; the ones after it move up.
    pub(super) fn remove(&mut self, i: usize) -> Child {
        let child = self.list.remove(i);
        self.numbers.remove(i);
        self.forget(&child);
        *child
    }

    /// Keep only the children `keep` says to.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&Child) -> bool) {
        let list = std::mem::take(&mut self.list);
        let numbers = std::mem::take(&mut self.numbers);
        for (child, number) in list.into_iter().zip(numbers) {
            if keep(&child) {
                self.list.push(child);
                self.numbers.push(number);
            } else {
                self.forget(&child);
            }
        }
    }

    /// Child `i` now runs as `actor`, no longer as `old` (when it had a cell before).
    pub(super) fn started_as(&mut self, i: usize, old: Option<ActorId>, actor: ActorId) {
        if let Some(old) = old.filter(|old| *old != actor) {
            self.by_actor.remove(&old);
        }
        if let Some(&number) = self.numbers.get(i) {
            self.by_actor.insert(actor, number);
        }
    }

    /// Where the child with this id is.
    pub(super) fn index_of(&self, id: &str) -> Option<usize> {
        self.place(*self.by_id.get(id)?)
    }

    /// Where the child whose current handle is `actor`'s is.
    pub(super) fn index_of_actor(&self, actor: ActorId) -> Option<usize> {
        let i = self.place(*self.by_actor.get(&actor)?)?;
        let current = self.list.get(i)?.handle.as_ref().is_some_and(|h| h.id() == actor);
        current.then_some(i)
    }

    /// The place in the list of the child with this start number, if it is still there.
    fn place(&self, number: u64) -> Option<usize> {
        self.numbers.binary_search(&number).ok()
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

impl std::ops::Deref for Children {
    type Target = [Box<Child>];

    fn deref(&self) -> &[Box<Child>] {
        &self.list
    }
}

impl std::ops::DerefMut for Children {
    /// Children may be changed in place, not added or removed; a new handle is told with
    /// [`Children::started_as`].
    fn deref_mut(&mut self) -> &mut [Box<Child>] {
        &mut self.list
    }
}

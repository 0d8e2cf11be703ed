//! Locks that outlive a panic.
//!
//! A lock is poisoned when a thread panics while holding it. That only means some thread
//! panicked there: every critical section in this crate leaves the data it guards consistent,
//! so a poisoned lock is recovered and its data used as it is, rather than the panic spread to
//! every later user of the lock (every sender to the same actor, the whole system's registry).

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Lock `m`, recovering it if poisoned (see the module docs).
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Lock `l` for reading, recovering it if poisoned (see the module docs).
pub(crate) fn read<T: ?Sized>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

/// Lock `l` for writing, recovering it if poisoned (see the module docs).
pub(crate) fn write<T: ?Sized>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

//! Taking the crate's locks.
//!
//! A lock poisoned by a panic is taken anyway: every critical section in this crate leaves the
//! data it guards consistent (it changes it in one step, or only reads it), so a thread that
//! panicked while holding a lock left nothing half-done behind, and the host keeps running
//! rather than turning one panic into a panic in every later user of the lock.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Lock `mutex`, recovering it if it was poisoned.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Lock `lock` for reading, recovering it if it was poisoned.
pub(crate) fn read<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

/// Lock `lock` for writing, recovering it if it was poisoned.
pub(crate) fn write<T: ?Sized>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// Lock an async `mutex` (tokio's, held across awaits; it is never poisoned).
pub(crate) async fn lock_async<T: ?Sized>(
    mutex: &tokio::sync::Mutex<T>,
) -> tokio::sync::MutexGuard<'_, T> {
    mutex.lock().await
}

//! # airssys-osl: secured, audited OS operations
//!
//! This crate will hold typed filesystem, process and network operations, executors that run
//! them on tokio, and a middleware pipeline (activity logging, ACL/RBAC security, audit) around
//! the executors. Every OS-touching thing the AirsSys host does on behalf of an untrusted
//! component will pass through it.
//!
//! **Status:** not built yet (tracked by the airssys-osl issue). The crate is empty on purpose:
//! it exports nothing, so nothing can be mistaken for a working operation.

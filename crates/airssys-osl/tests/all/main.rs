//! airssys-osl tests: real files in temporary directories, real child processes, real
//! loopback sockets.

mod audit; // every decision recorded, under load too; a failing audit log fails operations
mod fs; // filesystem operations, path safety
mod macros; // #[executor]: a working executor, and compile-fail cases
mod net; // TCP, UDP and Unix sockets on loopback
mod policy; // ACL against a reference model, RBAC, deny beats allow
mod process; // spawn, wait, kill, signal, timeouts, ownership
mod util;

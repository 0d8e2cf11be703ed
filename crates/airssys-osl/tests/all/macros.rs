//! `#[executor]`: a custom executor built with it runs behind the pipeline, and misuse is a
//! clear compile error (trybuild).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use airssys_osl::ops::{FileRead, FileWrite};
use airssys_osl::{Action, AuditLog, Context, Osl, OslError, SecurityMiddleware, SecurityPolicy};

use crate::util::*;

/// An in-memory "filesystem" executor.
#[derive(Debug, Default)]
struct Memory {
    writes: AtomicUsize,
    files: std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, Vec<u8>>>,
}

#[airssys_osl::executor]
impl Memory {
    async fn file_read(&self, op: FileRead, _ctx: &Context) -> Result<Vec<u8>, OslError> {
        self.files.lock().unwrap().get(&op.path).cloned().ok_or(OslError::NotSupported("missing"))
    }

    async fn file_write(&self, op: FileWrite, _ctx: &Context) -> Result<(), OslError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.files.lock().unwrap().insert(op.path, op.data);
        Ok(())
    }
}

/// Generic executor types work too.
#[derive(Debug, Default)]
struct Generic<T>(std::marker::PhantomData<fn() -> T>);

#[airssys_osl::executor]
impl<T: 'static> Generic<T> {
    async fn file_read(&self, _op: FileRead, _ctx: &Context) -> Result<Vec<u8>, OslError> {
        Ok(std::any::type_name::<T>().as_bytes().to_vec())
    }
}

#[tokio::test]
async fn a_generic_executor() {
    let (_guard, dir) = tempdir();
    std::fs::write(dir.join("f"), "").unwrap();
    let osl = Osl::builder().executor(Generic::<u8>::default()).build();
    assert_eq!(osl.run(&alice(), FileRead::new(dir.join("f"))).await.unwrap(), b"u8");
}

#[tokio::test]
async fn a_macro_built_executor_runs_behind_the_pipeline() {
    let (_guard, dir) = tempdir();
    let policy = SecurityPolicy::new().allow("alice", &[], &under(&dir)).unwrap();
    let osl = Osl::builder()
        .executor(Memory::default())
        .middleware(SecurityMiddleware::new(Arc::new(policy), AuditLog::memory()))
        .build();
    // Paths are checked on disk (canonical form), even for a custom executor.
    let path = dir.join("virtual");
    std::fs::write(&path, "on disk").unwrap();
    osl.run(&alice(), FileWrite::new(&path, "in memory")).await.unwrap();
    assert_eq!(osl.run(&alice(), FileRead::new(&path)).await.unwrap(), b"in memory");
    assert_eq!(std::fs::read(&path).unwrap(), b"on disk", "the custom executor touched the disk");
    assert!(osl.run(&bob(), FileWrite::new(&path, "x")).await.is_err());
    assert_eq!(osl.executor().writes.load(Ordering::Relaxed), 1);
    let _ = Action::FsRead;
}

#[test]
fn misuse_is_a_clear_compile_error() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}

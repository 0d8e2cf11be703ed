//! Filesystem operations through the pipeline, and path safety.

use airssys_osl::ops::*;
use airssys_osl::{Action, OslError, SecurityPolicy};

use crate::util::*;

fn read_write(dir: &std::path::Path) -> SecurityPolicy {
    SecurityPolicy::new().allow("alice", &[Action::FsRead, Action::FsWrite], &under(dir)).unwrap()
}

/// Every filesystem operation works on an allowed directory.
#[tokio::test]
async fn every_fs_operation_runs_when_allowed() {
    let (_guard, dir) = tempdir();
    let (osl, audit) = secured(read_write(&dir));
    let a = alice();
    let file = dir.join("notes.txt");
    osl.run(&a, FileWrite::new(&file, "one\n")).await.unwrap();
    osl.run(&a, FileAppend::new(&file, "two\n")).await.unwrap();
    assert_eq!(osl.run(&a, FileRead::new(&file)).await.unwrap(), b"one\ntwo\n");
    let meta = osl.run(&a, FileMetadata::new(&file)).await.unwrap();
    assert!(meta.is_file && !meta.is_dir && meta.len == 8);
    osl.run(&a, DirCreate::new(dir.join("sub"))).await.unwrap();
    osl.run(&a, FileRename::new(&file, dir.join("sub/moved.txt"))).await.unwrap();
    let listing = osl.run(&a, DirList::new(&dir)).await.unwrap();
    assert_eq!(listing, [DirEntry { name: "sub".into(), is_dir: true }]);
    assert_eq!(
        osl.run(&a, DirList::new(dir.join("sub"))).await.unwrap(),
        [DirEntry { name: "moved.txt".into(), is_dir: false }]
    );
    osl.run(&a, FileDelete::new(dir.join("sub/moved.txt"))).await.unwrap();
    osl.run(&a, FileDelete::new(dir.join("sub"))).await.unwrap();
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none());
    // One decision per permission: the rename needed two.
    assert_eq!(audit.records().len(), 11);
    assert!(audit.records().iter().all(|r| r.decision == "allow"));
}

/// Nothing is allowed by default, and a denied write leaves the file untouched.
#[tokio::test]
async fn default_deny_and_nothing_changes() {
    let (_guard, dir) = tempdir();
    let file = dir.join("keep.txt");
    std::fs::write(&file, "original").unwrap();
    let (osl, audit) = secured(SecurityPolicy::new());
    let error = osl.run(&alice(), FileWrite::new(&file, "changed")).await.unwrap_err();
    assert!(matches!(&error, OslError::Denied { rule, .. } if rule == "default deny"), "{error}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "original");
    let records = audit.records();
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].decision, records[0].rule.as_str()), ("deny", "default deny"));
    assert_eq!(records[0].resource, file.display().to_string());
}

/// `..` cannot climb out of an allowed directory: the path is checked in canonical form.
#[tokio::test]
async fn dot_dot_traversal_is_refused() {
    let (_guard, root) = tempdir();
    let allowed = root.join("app");
    std::fs::create_dir(&allowed).unwrap();
    std::fs::write(root.join("secret"), "s3cret").unwrap();
    let (osl, audit) = secured(read_write(&allowed));
    let sneaky = allowed.join("../secret");
    let error = osl.run(&alice(), FileRead::new(&sneaky)).await.unwrap_err();
    assert!(matches!(error, OslError::Denied { .. }), "{error}");
    // The audit shows the path that was really asked for.
    assert_eq!(audit.records()[0].resource, root.join("secret").display().to_string());
    // Creating a file through `..` is refused too.
    let error = osl.run(&alice(), FileWrite::new(allowed.join("../new"), "x")).await.unwrap_err();
    assert!(matches!(error, OslError::Denied { .. }), "{error}");
    assert!(!root.join("new").exists());
    // So is a missing part that is not a plain name (it is decided on its lexical form,
    // which here is outside).
    let error =
        osl.run(&alice(), FileWrite::new(allowed.join("nothere/../../x"), "x")).await.unwrap_err();
    assert!(matches!(error, OslError::Denied { .. }), "{error}");
    let error =
        osl.run(&alice(), FileWrite::new(allowed.join("nothere/../y"), "x")).await.unwrap_err();
    assert!(matches!(error, OslError::InvalidPath { .. }), "{error}");
}

/// A symlink inside the allowed directory that points outside it does not give access to
/// its target, for reading or for writing through it.
#[tokio::test]
async fn symlink_escape_is_refused() {
    let (_guard, root) = tempdir();
    let allowed = root.join("app");
    let outside = root.join("outside");
    std::fs::create_dir(&allowed).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret"), "s3cret").unwrap();
    std::os::unix::fs::symlink(&outside, allowed.join("link")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), allowed.join("file-link")).unwrap();
    let (osl, _) = secured(read_write(&allowed));
    for path in [allowed.join("link/secret"), allowed.join("file-link")] {
        let error = osl.run(&alice(), FileRead::new(&path)).await.unwrap_err();
        assert!(matches!(error, OslError::Denied { .. }), "{}: {error}", path.display());
    }
    let error = osl.run(&alice(), FileWrite::new(allowed.join("link/new"), "x")).await.unwrap_err();
    assert!(matches!(error, OslError::Denied { .. }), "{error}");
    assert!(!outside.join("new").exists());
    // A symlink that stays inside is fine.
    std::fs::write(allowed.join("real"), "ok").unwrap();
    std::os::unix::fs::symlink(allowed.join("real"), allowed.join("inner-link")).unwrap();
    assert_eq!(osl.run(&alice(), FileRead::new(allowed.join("inner-link"))).await.unwrap(), b"ok");
}

/// `/app/**` covers `/app/...` but not `/application`.
#[tokio::test]
async fn prefix_lookalikes_do_not_match() {
    let (_guard, root) = tempdir();
    for d in ["app", "application"] {
        std::fs::create_dir(root.join(d)).unwrap();
        std::fs::write(root.join(d).join("f"), d).unwrap();
    }
    let (osl, _) = secured(read_write(&root.join("app")));
    assert_eq!(osl.run(&alice(), FileRead::new(root.join("app/f"))).await.unwrap(), b"app");
    let error = osl.run(&alice(), FileRead::new(root.join("application/f"))).await.unwrap_err();
    assert!(matches!(error, OslError::Denied { .. }), "{error}");
}

/// An explicit deny beats an allow that also matches, whatever their order; the audit
/// names the deciding rule.
#[tokio::test]
async fn deny_beats_allow() {
    let (_guard, dir) = tempdir();
    std::fs::write(dir.join("public"), "p").unwrap();
    std::fs::write(dir.join("private.key"), "k").unwrap();
    let policy = SecurityPolicy::new()
        .allow("*", &[Action::FsRead], &under(&dir))
        .unwrap()
        .deny("*", &[], &format!("{}/*.key", dir.display()))
        .unwrap();
    let (osl, audit) = secured(policy);
    assert!(osl.run(&bob(), FileRead::new(dir.join("public"))).await.is_ok());
    let error = osl.run(&bob(), FileRead::new(dir.join("private.key"))).await.unwrap_err();
    match error {
        OslError::Denied { rule, .. } => assert!(rule.starts_with("acl[1] deny"), "{rule}"),
        other => panic!("{other}"),
    }
    assert_eq!(audit.records().iter().map(|r| r.decision).collect::<Vec<_>>(), ["allow", "deny"]);
}

/// Hostile paths: empty, NUL bytes, missing parents; each a clear error, nothing touched.
#[tokio::test]
async fn hostile_paths_are_clear_errors() {
    let (_guard, dir) = tempdir();
    let (osl, _) = secured(read_write(&dir));
    let empty = osl.run(&alice(), FileRead::new("")).await.unwrap_err();
    assert!(matches!(empty, OslError::InvalidPath { .. }), "{empty}");
    let nul = osl.run(&alice(), FileWrite::new(dir.join("a\0b"), "x")).await.unwrap_err();
    assert!(matches!(nul, OslError::InvalidPath { .. }), "{nul}");
    let missing = osl.run(&alice(), FileRead::new(dir.join("nope"))).await.unwrap_err();
    assert!(matches!(missing, OslError::Io { .. }), "{missing}");
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none());
}

/// Outside what it may see, a principal learns nothing about what exists: a missing file
/// and an existing one are both simply denied (and audited).
#[tokio::test]
async fn no_existence_oracle_outside_the_policy() {
    let (_guard, root) = tempdir();
    let allowed = root.join("app");
    std::fs::create_dir(&allowed).unwrap();
    std::fs::write(root.join("exists"), "x").unwrap();
    let (osl, audit) = secured(read_write(&allowed));
    for name in ["exists", "missing"] {
        let error = osl.run(&alice(), FileRead::new(root.join(name))).await.unwrap_err();
        assert!(matches!(error, OslError::Denied { .. }), "{name}: {error}");
    }
    assert_eq!(audit.records().len(), 2);
    assert!(audit.records().iter().all(|r| r.decision == "deny"));
}

/// Writing through a symlink whose target does not exist yet would create the target
/// wherever it points: refused, and nothing is created.
#[tokio::test]
async fn dangling_symlink_is_not_written_through() {
    let (_guard, root) = tempdir();
    let allowed = root.join("app");
    std::fs::create_dir(&allowed).unwrap();
    let target = root.join("outside-new");
    std::os::unix::fs::symlink(&target, allowed.join("trap")).unwrap();
    let (osl, audit) = secured(read_write(&allowed));
    let write = osl.run(&alice(), FileWrite::new(allowed.join("trap"), "x")).await.unwrap_err();
    let append = osl.run(&alice(), FileAppend::new(allowed.join("trap"), "x")).await.unwrap_err();
    for error in [write, append] {
        assert!(matches!(error, OslError::InvalidPath { .. }), "{error}");
    }
    assert!(!target.exists(), "the symlink's target was created");
    assert!(audit.records().iter().all(|r| r.decision == "deny"));
}

/// Deleting or renaming a symlink acts on the link, never on what it points at.
#[tokio::test]
async fn delete_and_rename_act_on_links_not_targets() {
    let (_guard, root) = tempdir();
    let allowed = root.join("app");
    std::fs::create_dir(&allowed).unwrap();
    std::fs::write(root.join("precious"), "keep me").unwrap();
    std::os::unix::fs::symlink(root.join("precious"), allowed.join("link")).unwrap();
    std::os::unix::fs::symlink(root.join("precious"), allowed.join("link2")).unwrap();
    let (osl, _) = secured(read_write(&allowed));
    osl.run(&alice(), FileDelete::new(allowed.join("link"))).await.unwrap();
    assert!(std::fs::symlink_metadata(allowed.join("link")).is_err(), "the link is still there");
    assert_eq!(std::fs::read_to_string(root.join("precious")).unwrap(), "keep me");
    osl.run(&alice(), FileRename::new(allowed.join("link2"), allowed.join("moved"))).await.unwrap();
    assert!(std::fs::symlink_metadata(allowed.join("moved")).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(root.join("precious")).unwrap(), "keep me");
}

/// A middleware added after the security middleware cannot rewrite what was checked: the
/// security check always runs last.
#[tokio::test]
async fn later_middleware_cannot_rewrite_past_the_check() {
    #[derive(Debug)]
    struct Redirect(std::path::PathBuf);
    impl airssys_osl::Middleware for Redirect {
        fn name(&self) -> &str {
            "redirect"
        }
        fn before(&self, _: &airssys_osl::Context, op: &mut Op) -> Result<(), OslError> {
            if let Op::FileRead(read) = op {
                read.path = self.0.clone();
            }
            Ok(())
        }
    }
    let (_guard, root) = tempdir();
    let allowed = root.join("app");
    std::fs::create_dir(&allowed).unwrap();
    std::fs::write(allowed.join("ok"), "ok").unwrap();
    std::fs::write(root.join("secret"), "s").unwrap();
    let osl = airssys_osl::Osl::builder()
        .middleware(airssys_osl::SecurityMiddleware::new(
            std::sync::Arc::new(read_write(&allowed)),
            airssys_osl::AuditLog::memory(),
        ))
        .middleware(Redirect(root.join("secret")))
        .build();
    let error = osl.run(&alice(), FileRead::new(allowed.join("ok"))).await.unwrap_err();
    assert!(matches!(error, OslError::Denied { .. }), "{error}");
}

//! Host commands for components: the process grants, checked when the component starts (each
//! program must exist), matched against each `run`, and each run carried out by an
//! `airssys-osl` pipeline whose security policy allows exactly the granted programs and whose
//! audit log is the host's. A denied run never reaches the operating system.

use std::time::Duration;

use airssys_osl::ops::{ExitOutput, ProcessId, ProcessKill, ProcessSpawn, ProcessWait};
use airssys_osl::{
    AclEntry, Action, AuditLog, Effect, Osl, Principal, SecurityMiddleware, SecurityPolicy,
};

use crate::address::wildcard;

/// A command a component may run, and the arguments it may pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandGrant {
    /// The program: a path, or a name looked up in the host's `PATH` when the component
    /// starts. The guest names it the same way (or by its resolved path).
    pub command: String,
    /// One pattern per argument, in order (`*` matches any run of characters, everything
    /// else itself); `**` as the last pattern allows any further arguments. Empty: no
    /// arguments at all.
    pub args: Vec<String>,
}

impl CommandGrant {
    /// `command` with these argument patterns.
    pub fn new(command: impl Into<String>, args: &[&str]) -> Self {
        CommandGrant { command: command.into(), args: args.iter().map(|a| a.to_string()).collect() }
    }
}

/// A command line as audit records show it: the command and its arguments, space-separated.
pub(crate) fn command_line(command: &str, args: &[String]) -> String {
    std::iter::once(command).chain(args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
}

/// How much of each output stream a guest gets back.
pub(crate) const MAX_OUTPUT: usize = 1 << 20;

/// The longest a guest may let a command run.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// One grant, resolved.
struct Granted {
    /// As the operator wrote it.
    name: String,
    /// Its canonical path, resolved at start.
    program: String,
    /// Argument patterns, without a trailing `**`.
    args: Vec<String>,
    /// The grant ended with `**`.
    rest: bool,
}

impl Granted {
    fn allows(&self, command: &str, args: &[String]) -> bool {
        (self.name == command || self.program == command)
            && if self.rest { args.len() >= self.args.len() } else { args.len() == self.args.len() }
            && self.args.iter().zip(args).all(|(p, a)| wildcard(p.as_bytes(), a.as_bytes()))
    }
}

/// A component's commands and the pipeline that runs them.
pub(crate) struct Commands {
    granted: Vec<Granted>,
    osl: Osl,
}

/// How a run went.
pub(crate) struct RunOutput {
    pub(crate) exit: ExitOutput,
    pub(crate) truncated: bool,
}

impl Commands {
    /// Resolve and compile `grants`; `None` when there are none. A program that cannot be
    /// found, or a malformed pattern, is an error naming it.
    /// `writable` are the host directories the component may write: a program inside one
    /// is refused, since the component could rewrite it.
    pub(crate) fn new(
        grants: &[CommandGrant],
        writable: &[&std::path::Path],
        audit: &AuditLog,
    ) -> Result<Option<Self>, String> {
        if grants.is_empty() {
            return Ok(None);
        }
        let mut policy = SecurityPolicy::new();
        let mut granted = Vec::with_capacity(grants.len());
        for grant in grants {
            let program = airssys_osl::path::resolve_program(&grant.command)
                .map_err(|_| format!("granted command {:?} was not found", grant.command))?;
            let program = program
                .into_os_string()
                .into_string()
                .map_err(|_| format!("granted command {:?} has a non-UTF-8 path", grant.command))?;
            for dir in writable {
                let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
                if std::path::Path::new(&program).starts_with(&dir) {
                    return Err(format!(
                        "granted command {:?} is inside the writable directory {}: the \
                         component could replace it",
                        grant.command,
                        dir.display()
                    ));
                }
            }
            let mut args = grant.args.clone();
            let rest = args.last().is_some_and(|a| a == "**");
            if rest {
                args.pop();
            }
            if let Some(bad) = args.iter().find(|a| a.contains("**")) {
                return Err(format!(
                    "command {:?}: `**` may only be the last argument pattern, not {bad:?}",
                    grant.command
                ));
            }
            // The policy sees the canonical program path; only `*` and `?` are special in it.
            let mut literal = String::with_capacity(program.len());
            for c in program.chars() {
                if matches!(c, '*' | '?' | '\\') {
                    literal.push('\\');
                }
                literal.push(c);
            }
            let entry = AclEntry::new("*", &[Action::ProcessSpawn], &literal, Effect::Allow)
                .map_err(|e| format!("command {:?}: {e}", grant.command))?;
            policy = policy.acl(entry);
            granted.push(Granted { name: grant.command.clone(), program, args, rest });
        }
        // Waiting for and killing what it started (only its starter can reach a process).
        let control = AclEntry::new("*", &[Action::ProcessControl], "*", Effect::Allow)
            .map_err(|e| e.to_string())?;
        let policy = std::sync::Arc::new(policy.acl(control));
        let osl = Osl::builder().middleware(SecurityMiddleware::new(policy, audit.clone())).build();
        Ok(Some(Commands { granted, osl }))
    }

    /// The granted programs, as canonical paths.
    pub(crate) fn programs(&self) -> impl Iterator<Item = &std::path::Path> {
        self.granted.iter().map(|g| std::path::Path::new(&g.program))
    }

    /// The canonical program for `command` with `args`, and the name it runs under (as
    /// granted), if a grant allows it.
    pub(crate) fn allowed(&self, command: &str, args: &[String]) -> Option<(&str, &str)> {
        self.granted
            .iter()
            .find(|g| g.allows(command, args))
            .map(|g| (g.program.as_str(), g.name.as_str()))
    }

    /// Run `program` (as returned by [`Commands::allowed`]) for `principal` and wait for it.
    /// If this future is dropped first, or the wait fails, the process is killed.
    pub(crate) async fn run(
        &self,
        principal: &Principal,
        program: (&str, &str),
        args: Vec<String>,
        timeout: Duration,
    ) -> Result<RunOutput, airssys_osl::OslError> {
        let (program, name) = program;
        let spawn =
            ProcessSpawn::new(program).arg0(name).args(args).timeout(timeout.min(MAX_TIMEOUT));
        let pid = self.osl.run(principal, spawn).await?;
        let mut running = Running { osl: self.osl.clone(), principal: principal.clone(), pid };
        let mut exit = self.osl.run(principal, ProcessWait::new(pid)).await?;
        running.pid = ProcessId(0);
        let mut truncated = false;
        for stream in [&mut exit.stdout, &mut exit.stderr] {
            if stream.len() > MAX_OUTPUT {
                stream.truncate(MAX_OUTPUT);
                truncated = true;
            }
        }
        Ok(RunOutput { exit, truncated })
    }
}

/// A process being waited for; killed and reaped if the wait is abandoned (the component
/// stopped meanwhile).
struct Running {
    osl: Osl,
    principal: Principal,
    pid: ProcessId,
}

impl Drop for Running {
    fn drop(&mut self) {
        let pid = self.pid;
        if pid.0 == 0 {
            return;
        }
        let (osl, principal) = (self.osl.clone(), self.principal.clone());
        // Straight to the executor (which checks that the principal started it): cleaning
        // up must not depend on the audit log being writable.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                use airssys_osl::Execute;
                let ctx = airssys_osl::Context::new(principal);
                let _ = osl.executor().execute(ProcessKill::new(pid), &ctx).await;
                let _ = osl.executor().execute(ProcessWait::new(pid), &ctx).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Granted;

    fn granted(args: &[&str]) -> Granted {
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let rest = args.last().is_some_and(|a| a == "**");
        if rest {
            args.pop();
        }
        Granted { name: "git".into(), program: "/usr/bin/git".into(), args, rest }
    }

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn arguments_match_their_patterns_in_order() {
        let log = granted(&["log", "--oneline", "**"]);
        assert!(log.allows("git", &v(&["log", "--oneline"])));
        assert!(log.allows("/usr/bin/git", &v(&["log", "--oneline", "-n", "3"])));
        assert!(!log.allows("git", &v(&["log"])));
        assert!(!log.allows("git", &v(&["push", "--oneline"])));
        assert!(!log.allows("gitk", &v(&["log", "--oneline"])));
        let exact = granted(&["status", "--format=*"]);
        assert!(exact.allows("git", &v(&["status", "--format=short"])));
        assert!(!exact.allows("git", &v(&["status", "--format=short", "--all"])));
        assert!(!exact.allows("git", &v(&["status", "-f"])));
        let none = granted(&[]);
        assert!(none.allows("git", &[]));
        assert!(!none.allows("git", &v(&[""])));
        let any = granted(&["**"]);
        assert!(any.allows("git", &[]));
        assert!(any.allows("git", &v(&["anything", "at all"])));
    }
}

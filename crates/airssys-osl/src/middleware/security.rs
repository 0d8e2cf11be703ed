//! The security middleware: canonicalises every resource, asks the policy about each
//! permission the operation needs, audits every decision, and refuses the operation unless all
//! were allowed.

use std::sync::Arc;

use super::{AuditLog, AuditRecord, Middleware};
use crate::error::OslError;
use crate::jsonl::now_ms;
use crate::ops::{Op, Resource};
use crate::path;
use crate::permission::{Action, Permission};
use crate::policy::SecurityPolicy;
use crate::principal::Context;

/// Enforces a [`SecurityPolicy`] and writes an [`AuditLog`].
#[derive(Debug, Clone)]
pub struct SecurityMiddleware {
    policy: Arc<SecurityPolicy>,
    audit: AuditLog,
}

impl SecurityMiddleware {
    /// Enforce `policy`, auditing to `audit`.
    pub fn new(policy: Arc<SecurityPolicy>, audit: AuditLog) -> Self {
        SecurityMiddleware { policy, audit }
    }

    /// Audit a refusal that is not the policy's (an invalid path or address): the attempt
    /// is on record too.
    fn refuse(
        &self,
        ctx: &Context,
        operation: &'static str,
        action: Action,
        resource: &str,
        error: &OslError,
    ) -> Result<(), OslError> {
        self.audit.record(AuditRecord {
            time_ms: now_ms(),
            op_id: ctx.id(),
            principal: ctx.principal().name().to_owned(),
            operation,
            action,
            resource: resource.to_owned(),
            decision: "deny",
            rule: format!("invalid request: {error}"),
        })
    }

    fn check(
        &self,
        ctx: &Context,
        operation: &'static str,
        permission: Permission,
    ) -> Result<(), OslError> {
        let decision = self.policy.decide(ctx.principal(), &permission);
        self.audit.record(AuditRecord {
            time_ms: now_ms(),
            op_id: ctx.id(),
            principal: ctx.principal().name().to_owned(),
            operation,
            action: permission.action,
            resource: permission.resource.clone(),
            decision: if decision.allowed { "allow" } else { "deny" },
            rule: decision.rule.clone(),
        })?;
        if decision.allowed {
            Ok(())
        } else {
            Err(OslError::Denied {
                principal: ctx.principal().name().to_owned(),
                action: permission.action,
                resource: permission.resource,
                rule: decision.rule,
            })
        }
    }
}

/// Dynamic-loader variables would let a spawned program run arbitrary code.
fn is_loader_variable(key: &str) -> bool {
    key.starts_with("LD_") || key.starts_with("DYLD_")
}

/// `ip:port` in canonical form (IPv4-mapped IPv6 written as IPv4); `None` for anything else,
/// host names included.
fn canonical_address(address: &str) -> Option<String> {
    address.parse().ok().map(crate::permission::canonical_socket_addr)
}

impl Middleware for SecurityMiddleware {
    fn name(&self) -> &str {
        "security"
    }

    fn runs_last(&self) -> bool {
        true
    }

    fn before(&self, ctx: &Context, op: &mut Op) -> Result<(), OslError> {
        let operation = op.name();
        if let Op::ProcessSpawn(spawn) = op
            && let Some((key, _)) = spawn.env.iter().find(|(k, _)| is_loader_variable(k))
        {
            let error = OslError::InvalidEnv(key.clone());
            self.refuse(ctx, operation, Action::ProcessSpawn, &spawn.program, &error)?;
            return Err(error);
        }
        // The program is about to be replaced by its canonical path: it keeps running under
        // the name it was asked for (a multi-call binary decides what to be from it).
        if let Op::ProcessSpawn(spawn) = op
            && spawn.arg0.is_none()
        {
            spawn.arg0 = Some(spawn.program.clone());
        }
        for resource in op.resources() {
            let permission = match resource {
                Resource::Path { action, path, access } => {
                    if let Err(error) = path::check_text(path) {
                        self.refuse(ctx, operation, action, &path.to_string_lossy(), &error)?;
                        return Err(error);
                    }
                    match path::canonical(path, access) {
                        // The executor will use exactly the path that was checked.
                        Ok(canonical) => {
                            *path = canonical;
                            Permission::new(action, path.to_string_lossy())
                        }
                        Err(error) => {
                            // Decide on the path as written, so that a refusal does not tell
                            // whether something exists where the principal may not look:
                            // outside the policy it is a plain denial.
                            let lexical = path::lexical(path).to_string_lossy().into_owned();
                            let permission = Permission::new(action, lexical.clone());
                            if !self.policy.decide(ctx.principal(), &permission).allowed {
                                self.check(ctx, operation, permission)?;
                            }
                            self.refuse(ctx, operation, action, &lexical, &error)?;
                            return Err(error);
                        }
                    }
                }
                Resource::Program(program) => match path::resolve_program(program) {
                    Ok(resolved) => {
                        *program = resolved.to_string_lossy().into_owned();
                        Permission::new(Action::ProcessSpawn, program.clone())
                    }
                    Err(error) => {
                        self.refuse(ctx, operation, Action::ProcessSpawn, program, &error)?;
                        return Err(error);
                    }
                },
                Resource::Address { action, address } => match canonical_address(address) {
                    Some(canonical) => {
                        *address = canonical;
                        Permission::new(action, address.clone())
                    }
                    None => {
                        let error = OslError::InvalidAddress(address.clone());
                        self.refuse(ctx, operation, action, address, &error)?;
                        return Err(error);
                    }
                },
                Resource::Name { action, name } => Permission::new(action, name),
            };
            self.check(ctx, operation, permission)?;
        }
        Ok(())
    }
}

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

impl Middleware for SecurityMiddleware {
    fn name(&self) -> &str {
        "security"
    }

    fn before(&self, ctx: &Context, op: &mut Op) -> Result<(), OslError> {
        let operation = op.name();
        for resource in op.resources() {
            let permission = match resource {
                Resource::Path { action, path, existing } => {
                    // The executor will use exactly the path that was checked.
                    *path = path::canonical(path, existing)?;
                    Permission::new(action, path.to_string_lossy())
                }
                Resource::Program(program) => {
                    let resolved = path::resolve_program(program)?;
                    *program = resolved.to_string_lossy().into_owned();
                    Permission::new(Action::ProcessSpawn, program.clone())
                }
                Resource::Name { action, name } => Permission::new(action, name),
            };
            self.check(ctx, operation, permission)?;
        }
        Ok(())
    }
}

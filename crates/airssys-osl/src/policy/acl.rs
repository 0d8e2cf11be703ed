//! Access control list entries.

use crate::error::ConfigError;
use crate::permission::{Action, Permission};

/// Whether an entry allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants the permission (unless a deny matches too).
    Allow,
    /// Refuses the permission, whatever else allows it.
    Deny,
}

/// One ACL entry: a principal (or `*`), actions, a resource glob, and allow or deny.
#[derive(Debug, Clone)]
pub struct AclEntry {
    principal: String,
    pattern: String,
    scope: super::Scope,
    pub(crate) effect: Effect,
}

impl AclEntry {
    /// An entry for `principal` (exact name, or `*` for anyone). An empty `actions` list means
    /// every action.
    pub fn new(
        principal: &str,
        actions: &[Action],
        pattern: &str,
        effect: Effect,
    ) -> Result<Self, ConfigError> {
        Ok(AclEntry {
            principal: principal.to_owned(),
            pattern: pattern.to_owned(),
            scope: super::Scope::new(actions, pattern)?,
            effect,
        })
    }

    /// The resource pattern.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Whether this entry applies to `principal` asking for `permission`.
    pub fn matches(&self, principal: &str, permission: &Permission) -> bool {
        (self.principal == "*" || self.principal == principal) && self.scope.covers(permission)
    }
}

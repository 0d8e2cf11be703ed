//! The security policy: ACL entries and RBAC roles combined, deny by default, an explicit deny
//! beating any allow.

mod acl;
mod rbac;

pub use acl::{AclEntry, Effect};
pub use rbac::{Rbac, RbacBuilder};

use crate::error::ConfigError;
use crate::permission::{Action, Permission};
use crate::principal::Principal;

/// What the policy decided for one permission, and which rule decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// True when allowed.
    pub allowed: bool,
    /// The deciding rule: `acl[N]` (with its pattern), `role NAME`, or `default deny`.
    pub rule: String,
}

/// ACL entries plus optional RBAC. Built once, then shared (it is immutable).
#[derive(Debug, Clone, Default)]
pub struct SecurityPolicy {
    acl: Vec<AclEntry>,
    rbac: Option<Rbac>,
}

impl SecurityPolicy {
    /// A policy that denies everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add an ACL entry.
    pub fn acl(mut self, entry: AclEntry) -> Self {
        self.acl.push(entry);
        self
    }

    /// Allow `principal` (a name, or `*` for anyone) `actions` on resources matching
    /// `pattern`.
    pub fn allow(
        self,
        principal: &str,
        actions: &[Action],
        pattern: &str,
    ) -> Result<Self, ConfigError> {
        Ok(self.acl(AclEntry::new(principal, actions, pattern, Effect::Allow)?))
    }

    /// Deny `principal` `actions` on resources matching `pattern` (beats every allow).
    pub fn deny(
        self,
        principal: &str,
        actions: &[Action],
        pattern: &str,
    ) -> Result<Self, ConfigError> {
        Ok(self.acl(AclEntry::new(principal, actions, pattern, Effect::Deny)?))
    }

    /// Use these roles (principals get permissions through the roles they are given).
    pub fn rbac(mut self, rbac: Rbac) -> Self {
        self.rbac = Some(rbac);
        self
    }

    /// Decide whether `principal` has `permission`. Order: any matching ACL deny → denied; any
    /// matching ACL allow or role grant → allowed; otherwise denied.
    pub fn decide(&self, principal: &Principal, permission: &Permission) -> Decision {
        let matching = |effect: Effect| {
            self.acl
                .iter()
                .enumerate()
                .find(|(_, e)| e.effect == effect && e.matches(principal.name(), permission))
        };
        if let Some((i, entry)) = matching(Effect::Deny) {
            return Decision { allowed: false, rule: format!("acl[{i}] deny {}", entry.pattern()) };
        }
        if let Some((i, entry)) = matching(Effect::Allow) {
            return Decision { allowed: true, rule: format!("acl[{i}] allow {}", entry.pattern()) };
        }
        if let Some(role) =
            self.rbac.as_ref().and_then(|r| r.granting(principal.name(), permission))
        {
            return Decision { allowed: true, rule: format!("role {role}") };
        }
        Decision { allowed: false, rule: "default deny".into() }
    }
}

/// Actions on resources matching a glob: what an ACL entry or a role grant covers.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    /// Empty means every action.
    actions: Vec<Action>,
    /// Matches path resources (`/` is a separator).
    path: globset::GlobSet,
    /// Matches other resources (`host:port`, process ids).
    name: globset::GlobSet,
}

impl Scope {
    pub(crate) fn new(actions: &[Action], pattern: &str) -> Result<Self, ConfigError> {
        Ok(Scope {
            actions: actions.to_vec(),
            path: glob(pattern, true)?,
            name: glob(pattern, false)?,
        })
    }

    pub(crate) fn covers(&self, permission: &Permission) -> bool {
        (self.actions.is_empty() || self.actions.contains(&permission.action))
            && if permission.action.is_path() {
                self.path.is_match(&permission.resource)
            } else {
                self.name.is_match(&permission.resource)
            }
    }
}

/// Compile a resource pattern. Path patterns treat `/` as a separator (`*` stays within one
/// segment, `**` crosses them, matching zero or more segments), so `/app/**` matches `/app`,
/// `/app/x/y` but not `/application`; their literal leading directories are canonicalised
/// when they exist. In other patterns (addresses) only `*` and `?` are special.
pub(crate) fn glob(pattern: &str, path: bool) -> Result<globset::GlobSet, ConfigError> {
    let build = |p: &str| {
        globset::GlobBuilder::new(p).literal_separator(path).backslash_escape(true).build().map_err(
            |e| ConfigError::Pattern { pattern: pattern.to_owned(), reason: e.to_string() },
        )
    };
    let mut pattern = if path {
        // Resources are canonical paths, so the pattern's literal directories are too.
        crate::path::canonical_pattern(pattern)
    } else {
        // In addresses `[` and `]` are literal (`[::1]:*`), and so are braces.
        let mut escaped = String::with_capacity(pattern.len());
        for c in pattern.chars() {
            if matches!(c, '[' | ']' | '{' | '}') {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        escaped
    };
    // `**/**` means the same as `**`.
    while pattern.contains("/**/**") {
        pattern = pattern.replace("/**/**", "/**");
    }
    let pattern = pattern.as_str();
    let mut set = globset::GlobSetBuilder::new();
    set.add(build(pattern)?);
    // A trailing `/**` also matches the directory itself (zero segments).
    if let Some(dir) = pattern.strip_suffix("/**").filter(|d| path && !d.is_empty()) {
        set.add(build(dir)?);
    }
    set.build()
        .map_err(|e| ConfigError::Pattern { pattern: pattern.to_owned(), reason: e.to_string() })
}

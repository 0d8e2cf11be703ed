//! Role-based access control: roles grant permissions, inherit other roles, and are given to
//! principals. Cycles and unknown roles are refused when the configuration is built.

use std::collections::{HashMap, HashSet};

use crate::error::ConfigError;
use crate::permission::{Action, Permission};

#[derive(Debug, Clone, Default)]
struct Role {
    grants: Vec<super::Scope>,
    inherits: Vec<String>,
}

/// Builds an [`Rbac`].
#[derive(Debug, Default)]
pub struct RbacBuilder {
    roles: Vec<(String, Role)>,
    assignments: Vec<(String, String)>,
    error: Option<ConfigError>,
}

impl RbacBuilder {
    /// Define a role that grants `actions` (empty: all) on resources matching each pattern
    /// and inherits every permission of `inherits`.
    pub fn role(mut self, name: &str, grants: &[(&[Action], &str)], inherits: &[&str]) -> Self {
        if self.roles.iter().any(|(n, _)| n == name) {
            self.error.get_or_insert(ConfigError::DuplicateRole(name.to_owned()));
            return self;
        }
        let mut role =
            Role { grants: Vec::new(), inherits: inherits.iter().map(|s| s.to_string()).collect() };
        for (actions, pattern) in grants {
            match super::Scope::new(actions, pattern) {
                Ok(scope) => role.grants.push(scope),
                Err(e) => {
                    self.error.get_or_insert(e);
                }
            }
        }
        self.roles.push((name.to_owned(), role));
        self
    }

    /// Give `principal` the role `role`.
    pub fn assign(mut self, principal: &str, role: &str) -> Self {
        self.assignments.push((principal.to_owned(), role.to_owned()));
        self
    }

    /// Check the configuration: every role named exists, and no role inherits itself
    /// (directly or through others). Each principal's effective roles are computed here.
    pub fn build(self) -> Result<Rbac, ConfigError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let roles: HashMap<String, Role> = self.roles.into_iter().collect();
        for role in roles.values() {
            if let Some(unknown) = role.inherits.iter().find(|r| !roles.contains_key(*r)) {
                return Err(ConfigError::UnknownRole(unknown.clone()));
            }
        }
        // Depth-first search with colours: grey = on the current path.
        let mut names: Vec<&String> = roles.keys().collect();
        names.sort();
        let mut done: HashSet<&str> = HashSet::new();
        for start in names {
            let mut path: Vec<&str> = Vec::new();
            visit(start, &roles, &mut path, &mut done)?;
        }
        let mut effective: HashMap<String, Vec<String>> = HashMap::new();
        for (principal, role) in self.assignments {
            if !roles.contains_key(&role) {
                return Err(ConfigError::UnknownRole(role));
            }
            let list = effective.entry(principal).or_default();
            let mut stack = vec![role];
            while let Some(r) = stack.pop() {
                if !list.contains(&r) {
                    stack.extend(roles[&r].inherits.iter().cloned());
                    list.push(r);
                }
            }
        }
        Ok(Rbac { roles, effective })
    }
}

fn visit<'a>(
    role: &'a str,
    roles: &'a HashMap<String, Role>,
    path: &mut Vec<&'a str>,
    done: &mut HashSet<&'a str>,
) -> Result<(), ConfigError> {
    if done.contains(role) {
        return Ok(());
    }
    if let Some(at) = path.iter().position(|r| *r == role) {
        let mut cycle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
        cycle.push(role.to_owned());
        return Err(ConfigError::RoleCycle(cycle));
    }
    path.push(role);
    for parent in &roles[role].inherits {
        visit(parent, roles, path, done)?;
    }
    path.pop();
    done.insert(role);
    Ok(())
}

/// Checked roles and who has them.
#[derive(Debug, Clone)]
pub struct Rbac {
    roles: HashMap<String, Role>,
    /// Each principal's roles, inherited ones included, in the order they were reached.
    effective: HashMap<String, Vec<String>>,
}

impl Rbac {
    /// Start building.
    pub fn builder() -> RbacBuilder {
        RbacBuilder::default()
    }

    /// The role through which `principal` has `permission`, if any.
    pub fn granting(&self, principal: &str, permission: &Permission) -> Option<&str> {
        let roles = self.effective.get(principal)?;
        roles
            .iter()
            .find(|r| self.roles[*r].grants.iter().any(|g| g.covers(permission)))
            .map(String::as_str)
    }

    /// Every role `principal` has, inherited ones included.
    pub fn roles_of(&self, principal: &str) -> &[String] {
        self.effective.get(principal).map_or(&[], Vec::as_slice)
    }
}

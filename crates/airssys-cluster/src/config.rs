//! How a host joins a cluster: the NATS URL, the cluster's name, this host's id and the
//! credentials.

use std::path::PathBuf;

use crate::ClusterError;

/// How a host joins a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub(crate) url: String,
    pub(crate) name: String,
    pub(crate) host_id: Option<String>,
    pub(crate) credentials: Credentials,
}

/// NATS credentials, when the server asks for them.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Credentials {
    /// None (a server without authentication).
    #[default]
    None,
    /// A user name and a password.
    UserPassword {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
    /// A token.
    Token(String),
    /// An nkey seed (`SU...`).
    Nkey(String),
    /// A `.creds` file (a user JWT and its nkey seed), as `nsc` writes it.
    File(PathBuf),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets are not printed.
        f.write_str(match self {
            Credentials::None => "None",
            Credentials::UserPassword { .. } => "UserPassword",
            Credentials::Token(_) => "Token",
            Credentials::Nkey(_) => "Nkey",
            Credentials::File(_) => "File",
        })
    }
}

impl ClusterConfig {
    /// Join cluster `name` through the NATS server at `url` (`nats://host:port`). A cluster
    /// name is 1 to 64 ASCII letters, digits, `-` or `_`.
    pub fn new(url: impl Into<String>, name: impl Into<String>) -> Self {
        ClusterConfig {
            url: url.into(),
            name: name.into(),
            host_id: None,
            credentials: Credentials::None,
        }
    }

    /// This host's id in the cluster (same rules as a cluster name); by default a random one.
    pub fn host_id(mut self, id: impl Into<String>) -> Self {
        self.host_id = Some(id.into());
        self
    }

    /// The credentials to connect with.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// The checked cluster name and host id (a random one when none was given).
    pub(crate) fn checked(&self) -> Result<(String, String), ClusterError> {
        if !is_token(&self.name) {
            return Err(ClusterError::InvalidName(self.name.clone()));
        }
        let id = match &self.host_id {
            Some(id) if is_token(id) => id.clone(),
            Some(id) => return Err(ClusterError::InvalidHostId(id.clone())),
            None => random_id()?,
        };
        Ok((self.name.clone(), id))
    }
}

/// 1 to 64 ASCII letters, digits, `-` or `_`: one NATS subject token, and part of a
/// JetStream bucket name.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
}

fn random_id() -> Result<String, ClusterError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| ClusterError::Random(e.to_string()))?;
    Ok(format!("h-{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_are_one_subject_token() {
        assert!(ClusterConfig::new("nats://x", "shop-1_a").checked().is_ok());
        for bad in ["", "a.b", "a b", "a*", "a>", &"x".repeat(65)] {
            let refused = ClusterConfig::new("nats://x", bad).checked();
            assert!(matches!(refused, Err(ClusterError::InvalidName(_))), "{bad:?}");
            let refused = ClusterConfig::new("nats://x", "ok").host_id(bad).checked();
            assert!(matches!(refused, Err(ClusterError::InvalidHostId(_))), "{bad:?}");
        }
        let (_, a) = ClusterConfig::new("nats://x", "c").checked().unwrap();
        let (_, b) = ClusterConfig::new("nats://x", "c").checked().unwrap();
        assert_ne!(a, b, "random host ids");
        assert!(is_token(&a));
    }

    #[test]
    fn credentials_are_not_printed() {
        let c = Credentials::UserPassword { user: "u".into(), password: "secret".into() };
        assert!(!format!("{c:?}").contains("secret"));
    }
}

//! Signed components: Ed25519 signatures over a component's SHA-256.
//!
//! A signature file (`<component>.wasm.sig`, JSON) names the content hash, the signer's
//! public key and the signature. A host given trusted keys refuses a component that is
//! unsigned, whose bytes do not match the signed hash, or whose signer is not trusted. A host
//! in development mode loads unsigned components and says so loudly when it starts.

use ed25519_dalek::Signer;
use serde::{Deserialize, Serialize};

use crate::cache::{self, Digest32};

/// Why a signature does not hold, or cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The component has no signature and the host requires one.
    #[error(
        "it is not signed (expected a signature file next to it, or run the host in development mode)"
    )]
    Unsigned,
    /// The signature file cannot be read or parsed.
    #[error("its signature is malformed: {0}")]
    Malformed(String),
    /// The bytes are not the ones that were signed.
    #[error("its content does not match its signature (it was changed after signing)")]
    Tampered,
    /// The signature does not verify.
    #[error("its signature is invalid")]
    BadSignature,
    /// The signer is not one of the host's trusted keys.
    #[error("it is signed by {0}, which is not a trusted key")]
    UntrustedKey(String),
    /// A key cannot be read.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// No randomness for a new key.
    #[error("cannot generate a key: {0}")]
    Random(String),
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.trim();
    if text.len() != N * 2 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

/// A public key that may sign components (64 hex digits in text form). Weak (small-order)
/// keys are refused when parsed, so no `PublicKey` is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// Parse the hex text form.
    pub fn from_hex(text: &str) -> Result<Self, TrustError> {
        let bytes = unhex::<32>(text)
            .ok_or_else(|| TrustError::InvalidKey("expected 64 hex digits".into()))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|e| TrustError::InvalidKey(e.to_string()))?;
        // A small-order key (the identity point, or one of the few points of order 2, 4 or
        // 8) has signatures that anyone can forge: never trusted, never a signer.
        if key.is_weak() {
            return Err(TrustError::InvalidKey(
                "it is a weak (small-order) Ed25519 key, for which anyone can forge a signature"
                    .into(),
            ));
        }
        Ok(PublicKey(key))
    }

    /// The hex text form.
    pub fn to_hex(&self) -> String {
        hex(self.0.as_bytes())
    }
}

/// A private signing key (its 32-byte seed as 64 hex digits in text form; keep it secret).
pub struct SecretKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SecretKey").field(&self.public().to_hex()).finish()
    }
}

impl SecretKey {
    /// A new key from the operating system's randomness.
    pub fn generate() -> Result<Self, TrustError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| TrustError::Random(e.to_string()))?;
        Ok(SecretKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// Parse the hex text form.
    pub fn from_hex(text: &str) -> Result<Self, TrustError> {
        let seed = unhex::<32>(text)
            .ok_or_else(|| TrustError::InvalidKey("expected 64 hex digits".into()))?;
        Ok(SecretKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// The hex text form (secret).
    pub fn to_hex(&self) -> String {
        hex(&self.0.to_bytes())
    }

    /// Its public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Sign a component's bytes.
    pub fn sign(&self, component: &[u8]) -> ComponentSignature {
        let digest = cache::digest(component);
        ComponentSignature {
            sha256: hex(&digest),
            key: self.public().to_hex(),
            signature: hex(&self.0.sign(&digest).to_bytes()),
        }
    }
}

/// A component's signature: what the `.sig` file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentSignature {
    /// The SHA-256 of the signed bytes, in hex.
    pub sha256: String,
    /// The signer's public key, in hex.
    pub key: String,
    /// The Ed25519 signature of the SHA-256, in hex.
    pub signature: String,
}

impl ComponentSignature {
    /// Parse a `.sig` file's contents.
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        serde_json::from_str(text).map_err(|e| TrustError::Malformed(e.to_string()))
    }

    /// The `.sig` file's contents.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Check that this signature covers `digest` and was made by one of `trusted`; returns
    /// the signer.
    pub(crate) fn verify(
        &self,
        digest: &Digest32,
        trusted: &[PublicKey],
    ) -> Result<PublicKey, TrustError> {
        let signed =
            unhex::<32>(&self.sha256).ok_or_else(|| TrustError::Malformed("sha256".into()))?;
        if &signed != digest {
            return Err(TrustError::Tampered);
        }
        let key = PublicKey::from_hex(&self.key)?;
        let bytes = unhex::<64>(&self.signature)
            .ok_or_else(|| TrustError::Malformed("signature".into()))?;
        // Strict verification: refuses a small-order `R` and a non-canonical `s`, which the
        // lax check accepts.
        key.0
            .verify_strict(digest, &ed25519_dalek::Signature::from_bytes(&bytes))
            .map_err(|_| TrustError::BadSignature)?;
        if !trusted.contains(&key) {
            return Err(TrustError::UntrustedKey(key.to_hex()));
        }
        Ok(key)
    }

    /// Verify `component` against this signature and the trusted keys (what the host does
    /// at load); returns the signer.
    pub fn verify_bytes(
        &self,
        component: &[u8],
        trusted: &[PublicKey],
    ) -> Result<PublicKey, TrustError> {
        self.verify(&cache::digest(component), trusted)
    }
}

/// Which components a host loads.
#[derive(Debug, Clone, Default)]
pub enum TrustPolicy {
    /// Any component, signed or not: for development. The host warns loudly when it starts.
    #[default]
    Development,
    /// Only components signed by one of these keys.
    Keys(Vec<PublicKey>),
}

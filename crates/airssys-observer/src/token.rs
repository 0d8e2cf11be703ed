//! The observer's token: made at random, and compared in constant time.

use crate::ObserverError;

/// The shortest token accepted.
pub(crate) const MIN_LEN: usize = 16;

/// 32 random bytes, as 64 hex digits.
pub(crate) fn random() -> Result<String, ObserverError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ObserverError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether a token the embedder chose will do: long enough, and URL-safe.
pub(crate) fn acceptable(token: &str) -> bool {
    token.len() >= MIN_LEN
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `given` is `token`, in time that does not depend on where they differ.
pub(crate) fn matches(token: &str, given: &str) -> bool {
    let (a, b) = (token.as_bytes(), given.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_random_token_is_long_and_differs_each_time() {
        let (a, b) = (random().unwrap(), random().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(matches(&a, &a.clone()));
        assert!(!matches(&a, &b));
        assert!(!matches(&a, &a[..63]));
        assert!(acceptable(&a) && acceptable("0123456789abcdef-_"));
        assert!(!acceptable("short") && !acceptable("0123456789abcdef+&"));
    }
}

//! Addresses: what a name may be, a pool member's address, and the `*` patterns of grants
//! over addresses.

/// The address of messages sent from outside any component (the embedding program, the CLI).
pub const HOST_ADDRESS: &str = "host";

/// Names are addresses: 1 to 128 ASCII letters, digits, `-`, `_` or `.`; `host` is the
/// host's own address, and `/` separates a pool from its members.
pub(crate) fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name != HOST_ADDRESS
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// The address on other hosts of a clustered host's embedder (the `host` sender of its
/// calls and sends): `host/<id>`, the host's id in its cluster (1 to 64 ASCII letters,
/// digits, `-` or `_`).
pub fn embedder_address(host_id: &str) -> String {
    format!("{HOST_ADDRESS}/{host_id}")
}

/// The host id of an [`embedder_address`], if `address` is one.
pub fn embedder_host(address: &str) -> Option<&str> {
    let id = address.strip_prefix(HOST_ADDRESS)?.strip_prefix('/')?;
    let valid = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
    valid.then_some(id)
}

/// An address in form: a component's name (as `Host::spawn` takes it; not `host`), a pool
/// member's (`name/index`), or a clustered host's embedder's (`host/<id>`).
pub(crate) fn is_address(address: &str) -> bool {
    if embedder_host(address).is_some() {
        return true;
    }
    match address.split_once('/') {
        Some((pool, index)) => {
            is_name(pool)
                && !index.is_empty()
                && index.len() <= 10
                && index.bytes().all(|b| b.is_ascii_digit())
        }
        None => is_name(address),
    }
}

/// The address of member `i` of pool `name`.
pub(crate) fn member_address(name: &str, i: usize) -> String {
    format!("{name}/{i}")
}

/// `*` matches any run of bytes, everything else itself; iterative, linear in practice.
pub(crate) fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut retry: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            retry = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((rp, rt)) = retry {
            p = rp + 1;
            t = rt + 1;
            retry = Some((rp, rt + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_embedder_address_names_one_host_and_nothing_else() {
        assert_eq!(embedder_host(&embedder_address("host-a")), Some("host-a"));
        assert!(is_address("host/host-a") && is_address("host/7"));
        for not in ["host", "host/", "hostx/a", "host/a.b", "host/a/b", "a/host"] {
            assert_eq!(embedder_host(not), None, "{not}");
        }
        assert!(!is_address("host/a.b") && !is_name("host/a"));
        assert_eq!(embedder_host(&format!("host/{}", "x".repeat(65))), None);
    }
}

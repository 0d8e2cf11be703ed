//! The NATS names a cluster uses, all under its name, so that two clusters on one server do
//! not see each other:
//! - `airssys.<cluster>.host.<host-id>`: frames for one host (sends and publishes to it, in
//!   the order its peers sent them: one subject per host keeps per-sender order across
//!   kinds);
//! - `airssys.<cluster>.ps.<host-id>`: a request for the host's components, answered with
//!   them as JSON;
//! - bucket `airssys_<cluster>_names`: component name → the id of the host that runs it;
//! - bucket `airssys_<cluster>_hosts`: host id → when it joined (the members);
//! - bucket `airssys_<cluster>_data`: the components' storage, when the app keeps it in the
//!   cluster (`storage.rs`).

/// The subject a host takes its frames on.
pub(crate) fn inbox(cluster: &str, host: &str) -> String {
    format!("airssys.{cluster}.host.{host}")
}

/// The subject a host answers for its components on (`airssys ps`).
pub(crate) fn listing(cluster: &str, host: &str) -> String {
    format!("airssys.{cluster}.ps.{host}")
}

pub(crate) fn names_bucket(cluster: &str) -> String {
    format!("airssys_{cluster}_names")
}

pub(crate) fn data_bucket(cluster: &str) -> String {
    format!("airssys_{cluster}_data")
}

pub(crate) fn hosts_bucket(cluster: &str) -> String {
    format!("airssys_{cluster}_hosts")
}

/// The key of a component name: names are ASCII letters, digits, `-`, `_` and `.`, and a
/// key may not begin or end with `.`, so `.` is written `=2e` (`=` is in no name).
pub(crate) fn key(name: &str) -> String {
    name.replace('.', "=2e")
}

/// The name a key stands for.
pub(crate) fn name_of(key: &str) -> String {
    key.replace("=2e", ".")
}

/// The component name an address belongs to: a pool member's (`name/i`) is its pool's.
pub(crate) fn owner_name(address: &str) -> &str {
    address.split_once('/').map_or(address, |(pool, _)| pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_pools_belong_to_their_name() {
        for name in ["a", ".a.", "a-b_c.d", "x..y"] {
            let k = key(name);
            assert!(!k.starts_with('.') && !k.ends_with('.'), "{k}");
            assert_eq!(name_of(&k), name);
        }
        assert_eq!(owner_name("pool/3"), "pool");
        assert_eq!(owner_name("single"), "single");
    }
}

//! The component's configuration (from the app manifest or the embedding API).

/// The value of `key`.
pub fn get(key: &str) -> Option<String> {
    crate::bindings::airssys::component::config::get(key)
}

/// The value of `key` parsed as `T`; `None` when it is missing or does not parse.
pub fn parse<T: std::str::FromStr>(key: &str) -> Option<T> {
    get(key)?.parse().ok()
}

//! Version `v1` of the upgradable counter (its code is `../../versioned.rs`, shared with
//! `versioned-two`): the two builds differ only in the version they answer with.

const VERSION: &str = "v1";

include!("../../versioned.rs");

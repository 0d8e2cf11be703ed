//! Version `v2` of the upgradable counter (its code is `../../versioned.rs`, shared with
//! `versioned-one`): the two builds differ only in the version they answer with.

const VERSION: &str = "v2";

include!("../../versioned.rs");

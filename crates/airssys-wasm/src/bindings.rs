//! Host bindings generated from the one WIT contract in `wit/`: the current version,
//! `airssys:component@0.2.0` (`wit/airssys.wit`), and 0.1.0 (`wit/0.1.0/`), which the host
//! still runs (`contract_v0_1.rs` adapts it to the current one).

/// `airssys:component@0.2.0`: what the host implements.
pub(crate) mod current {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "component",
        imports: {
            // A call suspends the calling guest until the response (or its timeout) arrives.
            "airssys:component/messaging.call": async,
            // So does a command run, until the command ends.
            "airssys:component/process.run": async,
            // Storage calls may wait for the store (writes, scans); the guest waits for them.
            "airssys:component/storage": async,
            default: tracing,
        },
        exports: { default: async },
        additional_derives: [PartialEq, Eq],
        // The contract's values are this crate's own types (`types.rs`), not generated ones.
        with: { "airssys:component/types": crate::types },
    });
}

/// `airssys:component@0.1.0`: components built against it run unchanged.
pub(crate) mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1.0",
        world: "component",
        imports: {
            "airssys:component/messaging.call": async,
            "airssys:component/process.run": async,
            "airssys:component/storage": async,
            default: tracing,
        },
        exports: { default: async },
        additional_derives: [PartialEq, Eq],
    });
}

/// `wasi:keyvalue@0.2.0-draft` (`wit/deps/keyvalue`), the version wasmtime and wasmCloud
/// serve: served over the component's durable storage (`keyvalue.rs`).
pub(crate) mod keyvalue {
    wasmtime::component::bindgen!({
        path: "../../wit/deps/keyvalue",
        world: "wasi:keyvalue/imports",
        imports: { default: async | tracing },
        with: { "wasi:keyvalue/store.bucket": crate::storage::Bucket },
    });
}

/// `wasi:keyvalue@0.2.0-draft2` (`wit/deps/keyvalue-draft2`), the later draft Spin serves:
/// the same store, with a compare-and-swap resource (`keyvalue.rs`).
pub(crate) mod keyvalue_draft2 {
    wasmtime::component::bindgen!({
        path: "../../wit/deps/keyvalue-draft2",
        world: "wasi:keyvalue/imports",
        imports: { default: async | tracing },
        with: {
            "wasi:keyvalue/store.bucket": crate::storage::Bucket,
            "wasi:keyvalue/atomics.cas": crate::storage::Cas,
        },
    });
}

pub(crate) use crate::types::{
    DownNotice, ExitNotice, ExitReason, Message, Notice, Payload, RequestError, SendError,
    TopicError,
};
pub(crate) use current::airssys::component::links::LinkError;
pub(crate) use current::airssys::component::logging::Level;

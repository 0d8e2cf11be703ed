//! Host bindings generated from the one WIT contract in `wit/`.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "component",
    imports: {
        // A call suspends the calling guest until the response (or its timeout) arrives.
        "airssys:component/messaging.call": async,
        // So does a command run, until the command ends.
        "airssys:component/process.run": async,
        // Storage work runs on the blocking pool; the guest waits for it.
        "airssys:component/storage": async,
        default: tracing,
    },
    exports: { default: async },
    additional_derives: [PartialEq, Eq],
});

pub use airssys::component::logging::Level;
pub use airssys::component::types::{SendError, TopicError};

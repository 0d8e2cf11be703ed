//! A valid WebAssembly component that does not fit the AirsSys contract: it exports a world
//! of its own (`run`), not `airssys:component`. The host and the CLI must refuse it clearly.

wit_bindgen::generate!({
    inline: "package test:misfit; world misfit { export run: func() -> string; }",
});

struct Misfit;

impl Guest for Misfit {
    fn run() -> String {
        "I am not an AirsSys component".into()
    }
}

export!(Misfit);

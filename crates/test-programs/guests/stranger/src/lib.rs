//! A component that exports the AirsSys world but also imports an interface the host does
//! not provide (`test:stranger/extra`). The host must refuse it at load, naming the import.

wit_bindgen::generate!({
    inline: r#"
        package test:stranger;
        interface extra { ping: func() -> u32; }
        world stranger {
            include airssys:component/component@0.2.0;
            import extra;
        }
    "#,
    path: "../../../../wit",
    generate_all,
});

#[allow(unused_imports)]
use airssys::component::types::{Message, Notice, Payload, RequestError};

struct Stranger;

impl exports::airssys::component::actor::Guest for Stranger {
    fn init(_config: Vec<(String, String)>) -> Result<(), String> {
        Ok(())
    }

    fn handle_message(_message: Message) -> Result<Option<Payload>, String> {
        // Calling the import keeps it in the component's imports.
        let n = test::stranger::extra::ping();
        Ok(Some(Payload { codec: 0x55, bytes: n.to_string().into_bytes() }))
    }

    fn handle_callback(_id: u64, _outcome: Result<Option<Payload>, RequestError>) {}

    fn handle_notice(_notice: Notice) {}

    fn shutdown() {}
}

export!(Stranger);

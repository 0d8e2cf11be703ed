//! A component as a type with handlers, and the adapter that [`component!`](crate::component!)
//! uses to export it.

use crate::{Codec, CodecError, Notice, Payload, RequestError};

/// An AirsSys component. Only [`handle`](Component::handle) has no default.
///
/// The host builds the value with [`Default`] when an instance starts (and again after a
/// crash), calls [`init`](Component::init) once, then delivers messages one at a time.
pub trait Component: Default + 'static {
    /// Called once per instance, before any message, with its configuration. An error fails
    /// the start (the supervisor treats it as a crash). Default: nothing to do.
    fn init(&mut self, config: &[(String, String)]) -> Result<(), String> {
        let _ = config;
        Ok(())
    }

    /// Handle one message. For a request or a call, the returned payload is the response;
    /// an error is returned to the requester as `handler-error` (it does not crash the
    /// component; a panic does).
    fn handle(&mut self, message: Message) -> Result<Option<Payload>, String>;

    /// The outcome of a [`request`](crate::messaging::request) this component made. Default:
    /// ignore it.
    fn callback(&mut self, id: u64, outcome: Result<Option<Payload>, RequestError>) {
        let _ = (id, outcome);
    }

    /// A component this one [links](crate::links::link) to or
    /// [monitors](crate::links::monitor) has ended. Default: ignore it.
    fn notice(&mut self, notice: Notice) {
        let _ = notice;
    }

    /// Called once before the instance is dropped on a graceful stop. Default: nothing.
    fn shutdown(&mut self) {}
}

/// A message as the component receives it.
#[derive(Debug, Clone)]
pub struct Message {
    /// The true sender, stamped by the host (`host` for the embedding host).
    pub sender: String,
    /// The payload and its codec.
    pub payload: Payload,
    /// Set when the sender waits for the response (a request or a call): the id the
    /// sender's host gave the request (unique per sender, so pair it with `sender`).
    pub correlation: Option<u64>,
    /// Set when the message was published: its topic.
    pub topic: Option<String>,
    /// The trace it belongs to (a W3C `traceparent`), if any; what the handler sends
    /// carries it on.
    pub trace: Option<String>,
}

impl Message {
    /// The payload decoded as `T`, by its codec.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, CodecError> {
        self.payload.decode()
    }

    /// The payload as text, if it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        self.payload.as_text()
    }

    /// The codec to answer in: the message's own, or JSON when it came as raw bytes or in a
    /// codec this SDK does not encode.
    pub fn codec(&self) -> Codec {
        match self.payload.codec() {
            Some(Codec::Raw) | None => Codec::Json,
            Some(codec) => codec,
        }
    }

    /// True when the sender waits for a response.
    pub fn is_request(&self) -> bool {
        self.correlation.is_some()
    }
}

impl From<crate::bindings::airssys::component::types::Message> for Message {
    fn from(m: crate::bindings::airssys::component::types::Message) -> Self {
        Message {
            sender: m.sender,
            payload: m.payload,
            correlation: m.correlation,
            topic: m.topic,
            trace: m.trace,
        }
    }
}

/// What [`component!`](crate::component!) expands to calls; not a public API.
#[doc(hidden)]
pub mod adapter {
    use std::cell::RefCell;
    use std::thread::LocalKey;

    use super::Component;
    use crate::{Notice, Payload, RequestError};

    /// Where an instance keeps its component value.
    pub type Slot<T> = RefCell<Option<T>>;

    type RawMessage = crate::bindings::airssys::component::types::Message;

    pub fn init<T: Component>(
        slot: &'static LocalKey<Slot<T>>,
        config: Vec<(String, String)>,
    ) -> Result<(), String> {
        let mut value = T::default();
        value.init(&config)?;
        slot.with(|s| *s.borrow_mut() = Some(value));
        Ok(())
    }

    pub fn handle<T: Component>(
        slot: &'static LocalKey<Slot<T>>,
        message: RawMessage,
    ) -> Result<Option<Payload>, String> {
        slot.with(|s| match s.borrow_mut().as_mut() {
            Some(value) => value.handle(message.into()),
            None => Err("the component was not initialised".into()),
        })
    }

    pub fn callback<T: Component>(
        slot: &'static LocalKey<Slot<T>>,
        id: u64,
        outcome: Result<Option<Payload>, RequestError>,
    ) {
        slot.with(|s| {
            if let Some(value) = s.borrow_mut().as_mut() {
                value.callback(id, outcome);
            }
        });
    }

    pub fn notice<T: Component>(slot: &'static LocalKey<Slot<T>>, notice: Notice) {
        slot.with(|s| {
            if let Some(value) = s.borrow_mut().as_mut() {
                value.notice(notice);
            }
        });
    }

    pub fn shutdown<T: Component>(slot: &'static LocalKey<Slot<T>>) {
        slot.with(|s| {
            if let Some(mut value) = s.borrow_mut().take() {
                value.shutdown();
            }
        });
    }
}

/// Export a type implementing [`Component`] as this crate's component. Use it once, at the
/// crate root of a `cdylib` built for `wasm32-wasip2`; the type must be defined at module
/// level (the macro refers to it from a module it adds next to it).
///
/// ```ignore
/// airssys_wasm_component::component!(MyComponent);
/// ```
#[macro_export]
macro_rules! component {
    ($component:ty) => {
        #[doc(hidden)]
        mod __airssys_component_export {
            #[allow(unused_imports)]
            use super::*;

            ::std::thread_local! {
                static SLOT: $crate::__private::adapter::Slot<$component> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }

            struct Export;

            impl $crate::bindings::exports::airssys::component::actor::Guest for Export {
                fn init(
                    config: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::adapter::init(&SLOT, config)
                }

                fn handle_message(
                    message: $crate::bindings::airssys::component::types::Message,
                ) -> ::core::result::Result<
                    ::core::option::Option<$crate::Payload>,
                    ::std::string::String,
                > {
                    $crate::__private::adapter::handle(&SLOT, message)
                }

                fn handle_callback(
                    id: u64,
                    outcome: ::core::result::Result<
                        ::core::option::Option<$crate::Payload>,
                        $crate::RequestError,
                    >,
                ) {
                    $crate::__private::adapter::callback(&SLOT, id, outcome)
                }

                fn handle_notice(notice: $crate::Notice) {
                    $crate::__private::adapter::notice(&SLOT, notice)
                }

                fn shutdown() {
                    $crate::__private::adapter::shutdown(&SLOT)
                }
            }

            $crate::bindings::__export_component!(Export with_types_in $crate::bindings);
        }
    };
}

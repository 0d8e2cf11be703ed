//! Links and monitors between components, as in Erlang. Both belong to this instance: they
//! end when it ends, and a restarted instance makes them again (in
//! [`Component::init`](crate::Component::init), for instance). Each needs a `link` grant
//! covering the target. What ends a partner comes to
//! [`Component::notice`](crate::Component::notice).

pub use crate::bindings::airssys::component::links::{
    LinkError, demonitor, link, monitor, trap_exits, unlink,
};

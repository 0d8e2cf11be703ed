//! Running host commands the component was granted (through the host's airssys-osl).

use std::time::Duration;

pub use crate::bindings::airssys::component::process::{Output, ProcessError};

/// Run `command` (as named in the grant) with `args`; it is killed after `timeout`.
pub fn run(command: &str, args: &[&str], timeout: Duration) -> Result<Output, ProcessError> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
    crate::bindings::airssys::component::process::run(command, &args, ms)
}

//! The airssys-rt integration tests: one binary, one module per section of
//! `docs/runtime-semantics.md`. Test names start with the section they cover (`s3_...`).

mod probe;
mod util;

mod actors; // §1 actors, §2 ordering
mod ask; // §5 request-response
mod crashes; // §6 errors and crashes, §7 stop versus kill
mod links_monitors; // §8 links, §9 monitors
mod mailbox; // §3 mailboxes and full-mailbox policies, §4 signals
mod pubsub; // §11 pub/sub
mod registry; // §10 registry
mod regression; // one test per bug found in review
mod shutdown; // §14 system shutdown
mod stress; // §5, §7, §13 under load with random kills and crashes
mod supervision; // §13 supervision
mod supervision_model; // §13 supervision, checked against a model of the OTP rules
mod timers; // §12 timers, §15 metrics

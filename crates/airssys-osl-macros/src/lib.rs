//! # airssys-osl-macros
//!
//! This crate will hold the `#[executor]` attribute macro that derives airssys-osl executor
//! implementations from plainly named methods, with clear compile errors for misuse.
//!
//! **Status:** not built yet (tracked by the airssys-osl issue); it exports no macro today.

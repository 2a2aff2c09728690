//! Shared pieces of the end-to-end tests: databases on every backend, and the
//! expected mirror computed from the sandbox's own truth.

pub mod databases;
pub mod expected;

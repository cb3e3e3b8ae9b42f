//! The registry of dialects: one module each, one line each in
//! [`DIALECTS`]. `cargo xtask new-connector NAME` writes both.

use std::sync::Arc;

use crate::{Connector, Transport};

pub mod native;
// new-connector: modules

/// A registered dialect: its name (a participant's `dialect`) and how to
/// build its connector over the shared transport.
pub struct Dialect {
    pub name: &'static str,
    pub build: fn(Arc<Transport>) -> Arc<dyn Connector>,
}

impl std::fmt::Debug for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialect").field("name", &self.name).finish()
    }
}

/// Every dialect the gateway speaks.
pub const DIALECTS: &[Dialect] = &[
    Dialect {
        name: native::NAME,
        build: native::build,
    },
    // new-connector: registrations
];

/// The registered dialects' names.
pub fn names() -> Vec<&'static str> {
    DIALECTS.iter().map(|d| d.name).collect()
}

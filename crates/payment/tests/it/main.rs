//! The payment state machine's tests: the whole table written out, and
//! properties over random event sequences.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

mod docs;
mod properties;
mod table;

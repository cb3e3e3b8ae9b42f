//! The store's tests, each run on SQLite and on PostgreSQL (from
//! `UNIGATE_TEST_POSTGRES_URL`; without it the PostgreSQL half is skipped,
//! loudly).
#![allow(clippy::indexing_slicing, clippy::print_stderr, clippy::unwrap_used)]

mod cycles;
mod fx;
mod idempotency;
mod keys_merchants;
mod leases;
mod ledger;
mod migrations;
mod participants;
mod payments;
mod risk;
mod routes;
mod tokens;
mod writes;

pub use store::testing::{engines, unique};

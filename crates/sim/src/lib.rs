//! Participant simulators. Each one is what a real participant would be:
//! it holds its own key, signs what it sends, verifies what the gateway
//! sends it, and answers the gateway's callbacks under its callback base
//! URL. Joint testing runs against them, and so do the demo and the load
//! generator.

pub mod fx;
pub mod participant;
pub mod peer;

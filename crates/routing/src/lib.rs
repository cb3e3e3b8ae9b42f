//! Routing, the dispatcher (SPEC §2.4): which participant serves a code.
//!
//! Routes are operator data: a [`RouteSpec`] names a side (`merchant` for
//! the acquirer, `wallet` for the wallet), a matcher kind and value, and a
//! participant; [`RouteSpec::validate`] checks it into a canonical
//! [`RouteRow`] and its [`Matcher`]. A decoded code becomes a [`Subject`]
//! (its account entries, acquirer ids, URL host, payment-code digits and
//! merchant-registry identifiers); [`Table::resolve`] picks the most
//! specific match (the order is documented in [`resolve`] and
//! `docs/routing.md`), a merchant-registry hit beating every route, or
//! answers [`ResolveError::NotFound`] / [`ResolveError::Ambiguous`].
//! [`direction`] names a payment inbound, outbound, transit or domestic.
//!
//! This crate does no I/O: the store keeps the routes and the merchant
//! registry, the API looks them up and calls [`Table::resolve`].

pub mod direction;
pub mod matcher;
pub mod resolve;
pub mod subject;

pub use crate::direction::{Direction, HOME_COUNTRY_DEFAULT, direction};
pub use crate::matcher::{
    AccountId, HostPattern, Invalid, Kind, Matcher, Route, RouteRow, RouteSpec, Side,
    VALUE_CHARS_MAX, check_participant_id,
};
pub use crate::resolve::{MatchKind, RegistryHit, Resolution, ResolveError, Table};
pub use crate::subject::{AccountEntry, Identifier, PaymentCode, Subject};

/// Decode `payload` and read it for routing (the codec's default options:
/// no clock, so an expired code still routes).
pub fn subject_of(payload: &str) -> Result<Subject, qr::DecodeError> {
    let decoded = qr::decode(payload, &qr::Options::default())?;
    Ok(Subject::from_decoded(payload, &decoded))
}

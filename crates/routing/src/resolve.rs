//! Resolution: the most specific route (or merchant-registry hit) for a
//! code.
//!
//! Specificity, most specific first (merchant side):
//!
//! 1. a merchant-registry hit (the code's identifiers name a registered
//!    merchant: its acquirer);
//! 2. `acquirer_id`;
//! 3. `account` with an account prefix, the longer prefix first;
//! 4. `account` with the bare id;
//! 5. `url_host` with an exact host;
//! 6. `url_host` with a `*.` wildcard, the longer suffix first.
//!
//! Within one of these steps, a match on an account entry of the scheme that
//! governs the code (SPEC §5 `scheme`) is more specific than a match on an
//! entry of another scheme the code carries (a card network's tag 15 in a
//! PromptPay code). Wallet side: a `payment_code_prefix` of n digits covers
//! as many codes as a `token_range` of n-digit bounds of width one; the
//! route covering fewer codes wins. Several matches of equal best
//! specificity that name different participants are ambiguous.

use std::cmp::Ordering;

use serde::Serialize;

use crate::matcher::{
    AccountId, CODE_DIGITS_MAX, HostPattern, Invalid, Kind, Matcher, Route, Side,
};
use crate::subject::{AccountEntry, Subject};

/// A merchant the registry found by one of the code's identifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryHit {
    pub merchant_id: String,
    /// The merchant's acquirer: the participant of the merchant side.
    pub acquirer_id: String,
}

/// How a resolution matched: a route's kind, or the merchant registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    Registry,
    Account,
    AcquirerId,
    UrlHost,
    PaymentCodePrefix,
    TokenRange,
}

impl MatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Registry => "registry",
            MatchKind::Account => Kind::Account.as_str(),
            MatchKind::AcquirerId => Kind::AcquirerId.as_str(),
            MatchKind::UrlHost => Kind::UrlHost.as_str(),
            MatchKind::PaymentCodePrefix => Kind::PaymentCodePrefix.as_str(),
            MatchKind::TokenRange => Kind::TokenRange.as_str(),
        }
    }
}

impl From<Kind> for MatchKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Account => MatchKind::Account,
            Kind::AcquirerId => MatchKind::AcquirerId,
            Kind::UrlHost => MatchKind::UrlHost,
            Kind::PaymentCodePrefix => MatchKind::PaymentCodePrefix,
            Kind::TokenRange => MatchKind::TokenRange,
        }
    }
}

/// One match: the winner of a resolution, or a candidate of an ambiguous
/// one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Resolution {
    pub side: Side,
    pub participant_id: String,
    pub kind: MatchKind,
    /// The route's id; `None` for a registry hit.
    pub route_id: Option<String>,
    /// The route's matcher value; `None` for a registry hit.
    pub value: Option<String>,
    /// The registered merchant; only for a registry hit.
    pub merchant_id: Option<String>,
}

/// Why no participant was chosen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("no route matches the code on the {} side", .side.as_str())]
    NotFound { side: Side },
    #[error("{} routes of equal specificity name different participants ({})", .candidates.len(), names(.candidates))]
    Ambiguous {
        side: Side,
        candidates: Vec<Resolution>,
    },
}

fn names(candidates: &[Resolution]) -> String {
    let mut ids: Vec<&str> = candidates
        .iter()
        .map(|c| c.participant_id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.join(", ")
}

/// How specific a match is; greater is more specific.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    /// The step of the module's list, reversed (registry 6, acquirer id 5,
    /// account 4, exact host 3, wildcard host 2); wallet routes 1.
    step: u8,
    /// Within the step: prefix or suffix length; for wallet routes,
    /// `u128::MAX` less the number of codes covered.
    score: u128,
    /// Matched on an entry of the governing scheme.
    governing: bool,
}

/// A route table, its matchers parsed once.
#[derive(Clone, Debug, Default)]
pub struct Table {
    routes: Vec<(Route, Matcher)>,
}

impl Table {
    /// A table of stored routes; a row that no longer parses (written by
    /// hand into the store) is refused with its id.
    pub fn new(routes: Vec<Route>) -> Result<Table, (String, Invalid)> {
        let mut out = Vec::with_capacity(routes.len());
        for r in routes {
            match Matcher::parse(r.kind, &r.value) {
                Ok(m) => out.push((r, m)),
                Err(e) => return Err((r.id, e)),
            }
        }
        Ok(Table { routes: out })
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The participant of the side `subject` finds.
    pub fn resolve(
        &self,
        subject: &Subject,
        registry: &[RegistryHit],
    ) -> Result<Resolution, ResolveError> {
        let side = subject.side();
        let mut matches: Vec<(Rank, Resolution)> = Vec::new();
        if side == Side::Merchant {
            for hit in registry {
                matches.push((
                    Rank {
                        step: 6,
                        score: 0,
                        governing: true,
                    },
                    Resolution {
                        side,
                        participant_id: hit.acquirer_id.clone(),
                        kind: MatchKind::Registry,
                        route_id: None,
                        value: None,
                        merchant_id: Some(hit.merchant_id.clone()),
                    },
                ));
            }
        }
        for (route, matcher) in &self.routes {
            if route.side != side {
                continue;
            }
            if let Some(rank) = rank(matcher, subject) {
                matches.push((
                    rank,
                    Resolution {
                        side,
                        participant_id: route.participant_id.clone(),
                        kind: route.kind.into(),
                        route_id: Some(route.id.clone()),
                        value: Some(route.value.clone()),
                        merchant_id: None,
                    },
                ));
            }
        }
        let Some(best) = matches.iter().map(|(r, _)| *r).max() else {
            return Err(ResolveError::NotFound { side });
        };
        let mut winners: Vec<Resolution> = matches
            .into_iter()
            .filter(|(r, _)| r.cmp(&best) == Ordering::Equal)
            .map(|(_, m)| m)
            .collect();
        winners.sort_by(|a, b| {
            (&a.route_id, &a.merchant_id, &a.participant_id).cmp(&(
                &b.route_id,
                &b.merchant_id,
                &b.participant_id,
            ))
        });
        winners.dedup();
        let first = winners
            .first()
            .cloned()
            .ok_or(ResolveError::NotFound { side })?;
        if winners
            .iter()
            .any(|w| w.participant_id != first.participant_id)
        {
            return Err(ResolveError::Ambiguous {
                side,
                candidates: winners,
            });
        }
        Ok(first)
    }
}

/// How specifically `matcher` matches `subject`, if it does.
fn rank(matcher: &Matcher, subject: &Subject) -> Option<Rank> {
    match matcher {
        Matcher::Account { id, prefix } => subject
            .accounts
            .iter()
            .filter(|a| id_matches(id, a))
            .filter(|a| {
                prefix
                    .as_deref()
                    .is_none_or(|p| a.values.iter().any(|v| v.starts_with(p)))
            })
            .map(|a| Rank {
                step: 4,
                score: prefix.as_ref().map_or(0, |p| p.chars().count() as u128),
                governing: a.governing,
            })
            .max(),
        Matcher::AcquirerId { scheme, id } => subject
            .accounts
            .iter()
            .filter(|a| a.scheme == Some(scheme.as_str()) && a.acquirer_ids.contains(id))
            .map(|a| Rank {
                step: 5,
                score: 0,
                governing: a.governing,
            })
            .max(),
        Matcher::UrlHost(pattern) => {
            let host = subject.host.as_deref()?;
            let (step, score) = match pattern {
                HostPattern::Exact(h) => (h == host).then_some((3, 0))?,
                HostPattern::Wildcard(suffix) => host
                    .strip_suffix(suffix.as_str())
                    .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
                    .then_some((2, suffix.len() as u128))?,
            };
            Some(Rank {
                step,
                score,
                governing: true,
            })
        }
        Matcher::PaymentCodePrefix(p) => {
            let code = subject.payment_code.as_ref()?.expose();
            code.starts_with(p.as_str()).then(|| Rank {
                step: 1,
                score: u128::MAX - covered(1, p.len()),
                governing: true,
            })
        }
        Matcher::TokenRange { low, high } => {
            let code = subject.payment_code.as_ref()?.expose();
            let head = code.get(..low.len())?;
            (head >= low.as_str() && head <= high.as_str()).then(|| Rank {
                step: 1,
                score: u128::MAX - covered(width(low, high), low.len()),
                governing: true,
            })
        }
    }
}

/// Whether the account entry carries the matcher's id.
fn id_matches(id: &AccountId, entry: &AccountEntry) -> bool {
    match (id, entry.id.as_deref()) {
        (AccountId::Tag(t), None) => entry.tag == Some(*t),
        (AccountId::Domain(d), Some(g)) => g.eq_ignore_ascii_case(d),
        (AccountId::Bank(b), Some(g)) => g
            .rfind('@')
            .and_then(|at| g.get(at..))
            .is_some_and(|bank| bank.eq_ignore_ascii_case(b)),
        (AccountId::Exact(e), Some(g)) => g == e,
        _ => false,
    }
}

/// `high - low + 1` of two equal-length digit strings of at most
/// [`CODE_DIGITS_MAX`] digits.
fn width(low: &str, high: &str) -> u128 {
    let n = |s: &str| s.parse::<u128>().unwrap_or(0);
    n(high).saturating_sub(n(low)).saturating_add(1)
}

/// How many codes of [`CODE_DIGITS_MAX`] digits a range of `width` values
/// over the first `digits` digits covers.
fn covered(width: u128, digits: usize) -> u128 {
    let rest = u32::try_from(CODE_DIGITS_MAX.saturating_sub(digits)).unwrap_or(0);
    width.saturating_mul(10u128.saturating_pow(rest))
}

//! The profile seam: the generic EMVCo rules run for every code, and the
//! profile of the scheme that governs the code may tolerate some of them
//! (each with its source) and add rules of its own.

use std::borrow::Cow;

use crate::mpm::Code;
use crate::rule::{Rule, Violation};
use crate::tlv::Tlv;

/// A named field a profile extracts from a merchant account entry, e.g.
/// `("proxy_type", "mobile")`.
/// Kept inline (no allocation per account): a profile names at most a
/// handful of fields.
pub type Named<'a> = smallvec::SmallVec<[(&'static str, Cow<'a, str>); 6]>;

/// What a check may know beyond the payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The time now, for the expiry a scheme writes into its codes; `None`
    /// skips expiry checks.
    pub now_unix_ms: Option<i64>,
}

/// The expiry a code carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expiry {
    pub at_unix_ms: i64,
    /// Where it is written, e.g. `99.01`.
    pub tag: String,
    /// The rule an expired code breaks, e.g. `khqr.expiry`.
    pub rule: &'static str,
}

/// Why a profile accepts a deviation from generic EMVCo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tolerance {
    pub rule: Rule,
    /// The public document or observed practice that justifies it.
    pub source: &'static str,
}

/// A national (or network) scheme's view of an MPM code.
pub trait Profile: Send + Sync + std::fmt::Debug {
    /// The scheme name reported in `scheme` / `schemes`, e.g. `promptpay`.
    fn scheme(&self) -> &'static str;

    /// The country whose domestic scheme this is (ISO 3166 alpha-2), used to
    /// pick the governing scheme when a code carries several.
    fn country(&self) -> Option<&'static str> {
        None
    }

    /// Whether this merchant account entry (02-51) of `code` belongs to the
    /// scheme; `guid` is the entry's sub-tag 00 when it is a template (read
    /// once by the decoder, not by each of the profiles it asks).
    fn recognises(&self, code: &Code<'_>, account: &Tlv<'_>, guid: Option<&str>) -> bool;

    /// The deviations from generic EMVCo this scheme accepts.
    fn tolerances(&self) -> &'static [Tolerance] {
        &[]
    }

    /// Rules the scheme adds on top of generic EMVCo.
    fn check(&self, _code: &Code<'_>, _context: &Context, _violations: &mut Vec<Violation>) {}

    /// When the code stops being payable, if the scheme writes that into
    /// its codes.
    fn expiry(&self, _code: &Code<'_>) -> Option<Expiry> {
        None
    }

    /// The scheme's own fields of one of its account entries, by name.
    fn named<'a>(&self, _code: &Code<'a>, _account: &Tlv<'a>, _named: &mut Named<'a>) {}
}

impl dyn Profile {
    /// The tolerance for `rule`, if the profile has one.
    pub fn tolerance(&self, rule: Rule) -> Option<&'static Tolerance> {
        self.tolerances().iter().find(|t| t.rule == rule)
    }
}

/// Plain EMVCo MPM v1.1: strict, tolerates nothing, adds nothing.
#[derive(Debug)]
pub struct Generic;

/// The scheme name of a code no national profile governs.
pub const GENERIC_SCHEME: &str = "emvco";

impl Profile for Generic {
    fn scheme(&self) -> &'static str {
        GENERIC_SCHEME
    }

    fn recognises(&self, _code: &Code<'_>, _account: &Tlv<'_>, _guid: Option<&str>) -> bool {
        false
    }
}

/// The generic profile.
pub static GENERIC: Generic = Generic;

/// The registered scheme profiles, in order of precedence: when a code
/// carries several schemes of the merchant's country, the first listed
/// governs (an umbrella scheme such as SGQR is listed before the schemes it
/// wraps).
pub static PROFILES: &[&dyn Profile] = crate::schemes::ALL;

/// Find a profile by its scheme name (`emvco` is the generic one).
pub fn by_name(name: &str) -> Option<&'static dyn Profile> {
    if name.eq_ignore_ascii_case(GENERIC_SCHEME) || name.eq_ignore_ascii_case("generic") {
        return Some(&GENERIC);
    }
    PROFILES
        .iter()
        .copied()
        .find(|p| p.scheme().eq_ignore_ascii_case(name))
}

/// The card network EMVCo assigns to a primitive merchant account id 02-25
/// (EMV QRCPS MPM v1.1, table 4.2); `None` for ids EMVCo reserves.
pub fn card_network(id: u8) -> Option<&'static str> {
    match id {
        2 | 3 => Some("visa"),
        4 | 5 => Some("mastercard"),
        9 | 10 => Some("discover"),
        11 | 12 => Some("amex"),
        13 | 14 => Some("jcb"),
        15 | 16 => Some("unionpay"),
        _ => None,
    }
}

//! Route rows as the operator writes them, and their validation into
//! [`Matcher`]s.
//!
//! A route row is `(side, kind, value) → participant`. The `value` is text
//! whose form depends on the kind (see `docs/routing.md`):
//!
//! | kind | side | value |
//! |---|---|---|
//! | `account` | merchant | `ID` or `ID:PREFIX`; `ID` is a template's sub-tag 00 (AID `A000000677010111`, reverse-domain `br.gov.bcb.pix`, or `@bank` for `name@bank` ids) or a primitive tag `02`-`25` |
//! | `acquirer_id` | merchant | `SCHEME:ID`, e.g. `vietqr:970436`, `duitnow:890053`, `unionpay:39990157` |
//! | `url_host` | merchant | `qr.alipay.com` or `*.alipay.com` |
//! | `payment_code_prefix` | wallet | digits, e.g. `62` |
//! | `token_range` | wallet | `LOW-HIGH`, digits of equal length, `LOW <= HIGH` |

use serde::{Deserialize, Serialize};

/// Longest route value, in characters.
pub const VALUE_CHARS_MAX: usize = 100;
/// Longest participant id, in characters (as `participant::RecordLimits`).
pub const PARTICIPANT_ID_CHARS_MAX: usize = 64;
/// Longest template id (EMVCo: sub-tag 00 is at most 32 characters).
pub const ACCOUNT_ID_CHARS_MAX: usize = 32;
/// Longest account prefix or acquirer id.
pub const ACCOUNT_PREFIX_CHARS_MAX: usize = 64;
/// Longest payment-code prefix or token-range bound, in digits.
pub const CODE_DIGITS_MAX: usize = 30;
/// Longest host name (RFC 1035).
pub const HOST_CHARS_MAX: usize = 253;

/// Which side of a payment a route finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The merchant's side: an acquirer (or a national QR network switch).
    Merchant,
    /// The payer's side: a wallet.
    Wallet,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Merchant => "merchant",
            Side::Wallet => "wallet",
        }
    }

    pub fn parse(s: &str) -> Option<Side> {
        match s {
            "merchant" => Some(Side::Merchant),
            "wallet" => Some(Side::Wallet),
            _ => None,
        }
    }

    /// The role a participant needs to be routed to on this side.
    pub fn role(self) -> participant::Role {
        match self {
            Side::Merchant => participant::Role::Acquirer,
            Side::Wallet => participant::Role::Wallet,
        }
    }
}

/// The kind of a route's matcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Account,
    AcquirerId,
    UrlHost,
    PaymentCodePrefix,
    TokenRange,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Account,
        Kind::AcquirerId,
        Kind::UrlHost,
        Kind::PaymentCodePrefix,
        Kind::TokenRange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Account => "account",
            Kind::AcquirerId => "acquirer_id",
            Kind::UrlHost => "url_host",
            Kind::PaymentCodePrefix => "payment_code_prefix",
            Kind::TokenRange => "token_range",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The side a matcher of this kind finds.
    pub fn side(self) -> Side {
        match self {
            Kind::Account | Kind::AcquirerId | Kind::UrlHost => Side::Merchant,
            Kind::PaymentCodePrefix | Kind::TokenRange => Side::Wallet,
        }
    }
}

/// A route as the operator asks for it, before validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteSpec {
    pub side: String,
    pub kind: String,
    pub value: String,
    pub participant_id: String,
}

/// A validated route row: the value in its canonical form (reverse-domain
/// ids and hosts in lowercase), ready to be stored.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RouteRow {
    pub side: Side,
    pub kind: Kind,
    pub value: String,
    pub participant_id: String,
}

/// A stored route: a row with its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub id: String,
    pub side: Side,
    pub kind: Kind,
    pub value: String,
    pub participant_id: String,
}

/// Why a route was refused: the field at fault and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// `side`, `kind`, `value` or `participant_id`.
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// The template id part of an `account` matcher.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AccountId {
    /// A primitive merchant account tag, 02-25 (card networks).
    Tag(u8),
    /// A reverse-domain id (`br.gov.bcb.pix`), lowercase: matched ignoring
    /// ASCII case, as the schemes that use them accept either.
    Domain(String),
    /// The `@bank` part of a `name@bank` id (KHQR Bakong ids, UPI VPAs),
    /// lowercase: matched ignoring ASCII case.
    Bank(String),
    /// An AID or other GUID (`A000000677010111`): matched exactly.
    Exact(String),
}

/// A URL host pattern.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// Exactly this host (lowercase).
    Exact(String),
    /// Any host ending in `.SUFFIX` (written `*.SUFFIX`; the suffix itself
    /// is not matched).
    Wildcard(String),
}

/// A validated matcher.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Matcher {
    /// A merchant account entry, optionally narrowed by a value prefix.
    Account {
        id: AccountId,
        prefix: Option<String>,
    },
    /// An acquirer id a scheme names in its account template.
    AcquirerId { scheme: String, id: String },
    /// A merchant URL code's host.
    UrlHost(HostPattern),
    /// A payment code (CN payment code, or a CPM's PAN) by its leading
    /// digits.
    PaymentCodePrefix(String),
    /// A payment code whose leading digits (as many as the bounds have) lie
    /// in `low..=high`.
    TokenRange { low: String, high: String },
}

impl Matcher {
    /// The kind this matcher is written as.
    pub fn kind(&self) -> Kind {
        match self {
            Matcher::Account { .. } => Kind::Account,
            Matcher::AcquirerId { .. } => Kind::AcquirerId,
            Matcher::UrlHost(_) => Kind::UrlHost,
            Matcher::PaymentCodePrefix(_) => Kind::PaymentCodePrefix,
            Matcher::TokenRange { .. } => Kind::TokenRange,
        }
    }

    /// The canonical text of the matcher (what is stored).
    pub fn value(&self) -> String {
        match self {
            Matcher::Account { id, prefix } => {
                let id = match id {
                    AccountId::Tag(t) => format!("{t:02}"),
                    AccountId::Domain(s) | AccountId::Bank(s) | AccountId::Exact(s) => s.clone(),
                };
                match prefix {
                    Some(p) => format!("{id}:{p}"),
                    None => id,
                }
            }
            Matcher::AcquirerId { scheme, id } => format!("{scheme}:{id}"),
            Matcher::UrlHost(HostPattern::Exact(h)) => h.clone(),
            Matcher::UrlHost(HostPattern::Wildcard(s)) => format!("*.{s}"),
            Matcher::PaymentCodePrefix(p) => p.clone(),
            Matcher::TokenRange { low, high } => format!("{low}-{high}"),
        }
    }

    /// Parse and check a matcher of `kind`.
    pub fn parse(kind: Kind, value: &str) -> Result<Matcher, Invalid> {
        let n = value.chars().count();
        if n == 0 || n > VALUE_CHARS_MAX {
            return Err(invalid(
                "value",
                format!("1 to {VALUE_CHARS_MAX} characters; this is {n}"),
            ));
        }
        if !value.bytes().all(|b| b.is_ascii_graphic() || b == b' ') || value.trim() != value {
            return Err(invalid(
                "value",
                "printable ASCII, without leading or trailing spaces",
            ));
        }
        match kind {
            Kind::Account => parse_account(value),
            Kind::AcquirerId => parse_acquirer(value),
            Kind::UrlHost => parse_host(value).map(Matcher::UrlHost),
            Kind::PaymentCodePrefix => {
                check_digits(value, "a payment code prefix")?;
                Ok(Matcher::PaymentCodePrefix(value.to_string()))
            }
            Kind::TokenRange => parse_range(value),
        }
    }
}

impl RouteSpec {
    /// Check every field; the first fault is reported with its field.
    pub fn validate(&self) -> Result<(RouteRow, Matcher), Invalid> {
        let side = Side::parse(&self.side)
            .ok_or_else(|| invalid("side", format!("{:?} is not merchant or wallet", self.side)))?;
        let kind = Kind::parse(&self.kind).ok_or_else(|| {
            invalid(
                "kind",
                format!(
                    "{:?} is not one of {}",
                    self.kind,
                    Kind::ALL.map(Kind::as_str).join(", ")
                ),
            )
        })?;
        if kind.side() != side {
            return Err(invalid(
                "kind",
                format!(
                    "{} routes find the {} side, not the {} side",
                    kind.as_str(),
                    kind.side().as_str(),
                    side.as_str()
                ),
            ));
        }
        check_participant_id(&self.participant_id)?;
        let matcher = Matcher::parse(kind, &self.value)?;
        let row = RouteRow {
            side,
            kind,
            value: matcher.value(),
            participant_id: self.participant_id.clone(),
        };
        Ok((row, matcher))
    }
}

/// A participant id's form (as `participant::Record::validate` checks it).
pub fn check_participant_id(id: &str) -> Result<(), Invalid> {
    let ok = !id.is_empty()
        && id.chars().count() <= PARTICIPANT_ID_CHARS_MAX
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "participant_id",
            format!("1 to {PARTICIPANT_ID_CHARS_MAX} of a-z, 0-9, '-', '_'"),
        ))
    }
}

fn parse_account(value: &str) -> Result<Matcher, Invalid> {
    let (id, prefix) = match value.split_once(':') {
        Some((id, prefix)) => (id, Some(prefix)),
        None => (value, None),
    };
    let id = parse_account_id(id)?;
    let prefix = match prefix {
        None => None,
        Some(p) => {
            let n = p.chars().count();
            if n == 0 || n > ACCOUNT_PREFIX_CHARS_MAX || p.contains([' ', ':']) {
                return Err(invalid(
                    "value",
                    format!(
                        "the account prefix after ':' is 1 to {ACCOUNT_PREFIX_CHARS_MAX} characters without spaces or ':'"
                    ),
                ));
            }
            Some(p.to_string())
        }
    };
    Ok(Matcher::Account { id, prefix })
}

fn parse_account_id(id: &str) -> Result<AccountId, Invalid> {
    if id.len() == 2 && id.bytes().all(|b| b.is_ascii_digit()) {
        let tag: u8 = id.parse().unwrap_or(0);
        return if (2..=25).contains(&tag) {
            Ok(AccountId::Tag(tag))
        } else {
            Err(invalid(
                "value",
                format!("{id} is not a primitive merchant account tag (02-25)"),
            ))
        };
    }
    let n = id.chars().count();
    if n == 0 || n > ACCOUNT_ID_CHARS_MAX {
        return Err(invalid(
            "value",
            format!("the account id is 1 to {ACCOUNT_ID_CHARS_MAX} characters (EMVCo sub-tag 00)"),
        ));
    }
    let label_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if let Some(bank) = id.strip_prefix('@') {
        if bank.is_empty() || !bank.bytes().all(|b| label_char(b) || b == b'.') {
            return Err(invalid(
                "value",
                format!("{id:?}: a bank id is '@' then letters, digits, '.', '-', '_'"),
            ));
        }
        return Ok(AccountId::Bank(id.to_ascii_lowercase()));
    }
    if id.contains('.') {
        let ok = id
            .split('.')
            .all(|label| !label.is_empty() && label.bytes().all(label_char));
        if !ok {
            return Err(invalid(
                "value",
                format!(
                    "{id:?}: a reverse-domain id is dot-separated labels of letters, digits, '-', '_'"
                ),
            ));
        }
        return Ok(AccountId::Domain(id.to_ascii_lowercase()));
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(invalid(
            "value",
            format!(
                "{id:?}: an account id is an AID or GUID (letters and digits), a reverse-domain id, '@bank', or a tag 02-25"
            ),
        ));
    }
    Ok(AccountId::Exact(id.to_string()))
}

fn parse_acquirer(value: &str) -> Result<Matcher, Invalid> {
    let Some((scheme, id)) = value.split_once(':') else {
        return Err(invalid(
            "value",
            "an acquirer id is SCHEME:ID, e.g. vietqr:970436",
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    if !crate::subject::ACQUIRER_FIELDS
        .iter()
        .any(|(s, _)| *s == scheme)
    {
        return Err(invalid(
            "value",
            format!(
                "{scheme:?} names no acquirer id; schemes that do: {}",
                crate::subject::acquirer_schemes().join(", ")
            ),
        ));
    }
    let n = id.chars().count();
    if n == 0 || n > ACCOUNT_PREFIX_CHARS_MAX {
        return Err(invalid(
            "value",
            format!("the acquirer id is 1 to {ACCOUNT_PREFIX_CHARS_MAX} characters"),
        ));
    }
    Ok(Matcher::AcquirerId {
        scheme,
        id: id.to_string(),
    })
}

fn parse_host(value: &str) -> Result<HostPattern, Invalid> {
    let lower = value.to_ascii_lowercase();
    let (wild, host) = match lower.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, lower.as_str()),
    };
    let ok = !host.is_empty()
        && host.len() <= HOST_CHARS_MAX
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !ok {
        return Err(invalid(
            "value",
            format!(
                "{value:?} is not a host name (or '*.' and one): labels of letters, digits, '-', at most {HOST_CHARS_MAX} characters"
            ),
        ));
    }
    Ok(if wild {
        HostPattern::Wildcard(host.to_string())
    } else {
        HostPattern::Exact(host.to_string())
    })
}

fn check_digits(s: &str, what: &str) -> Result<(), Invalid> {
    if s.is_empty() || s.len() > CODE_DIGITS_MAX || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "value",
            format!("{what} is 1 to {CODE_DIGITS_MAX} digits; this is {s:?}"),
        ));
    }
    Ok(())
}

fn parse_range(value: &str) -> Result<Matcher, Invalid> {
    let Some((low, high)) = value.split_once('-') else {
        return Err(invalid(
            "value",
            "a token range is LOW-HIGH, e.g. 6288880000-6288889999",
        ));
    };
    check_digits(low, "the range's low bound")?;
    check_digits(high, "the range's high bound")?;
    if low.len() != high.len() {
        return Err(invalid(
            "value",
            format!(
                "the bounds have {} and {} digits; a range's bounds have equal length",
                low.len(),
                high.len()
            ),
        ));
    }
    // Equal-length digit strings order as their numbers do.
    if low > high {
        return Err(invalid(
            "value",
            format!("the low bound {low} is above the high bound {high}"),
        ));
    }
    Ok(Matcher::TokenRange {
        low: low.to_string(),
        high: high.to_string(),
    })
}

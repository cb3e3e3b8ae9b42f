//! Participants (SPEC §2.2): who may connect, as what, and how far along
//! their onboarding is. Pure: the store keeps the records, the API exposes
//! them, this crate decides what is legal.

use std::net::IpAddr;

pub mod merchant;
pub mod policy;

pub use merchant::{Identifier, Merchant, MerchantLimits};
pub use policy::{Call, CallKind, Refusal, StagePolicy};

/// What a participant does through the gateway.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Wallet,
    Acquirer,
    FxProvider,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Wallet => "wallet",
            Role::Acquirer => "acquirer",
            Role::FxProvider => "fx_provider",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "wallet" => Some(Role::Wallet),
            "acquirer" => Some(Role::Acquirer),
            "fx_provider" => Some(Role::FxProvider),
            _ => None,
        }
    }
}

/// The onboarding lifecycle: `applied → admitted → joint_testing →
/// production_verification → signed → live`, plus `suspended` and
/// `terminated`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Applied,
    Admitted,
    JointTesting,
    ProductionVerification,
    Signed,
    Live,
    Suspended,
    Terminated,
}

/// Why a stage move was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a participant cannot move from {from} to {to}")]
pub struct IllegalMove {
    pub from: &'static str,
    pub to: &'static str,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::Applied,
        Stage::Admitted,
        Stage::JointTesting,
        Stage::ProductionVerification,
        Stage::Signed,
        Stage::Live,
        Stage::Suspended,
        Stage::Terminated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Applied => "applied",
            Stage::Admitted => "admitted",
            Stage::JointTesting => "joint_testing",
            Stage::ProductionVerification => "production_verification",
            Stage::Signed => "signed",
            Stage::Live => "live",
            Stage::Suspended => "suspended",
            Stage::Terminated => "terminated",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The one place that says which moves are legal. Onboarding goes
    /// forward a step at a time; any stage but `terminated` can be
    /// suspended or terminated; a suspended participant returns to `live`
    /// or to the step where checks are repeated (`joint_testing`).
    pub fn transition(self, to: Stage) -> Result<Stage, IllegalMove> {
        use Stage::*;
        let legal = matches!(
            (self, to),
            (Applied, Admitted)
                | (Admitted, JointTesting)
                | (JointTesting, ProductionVerification)
                | (ProductionVerification, Signed)
                | (Signed, Live)
                | (Suspended, Live)
                | (Suspended, JointTesting)
        ) || (to == Suspended && !matches!(self, Suspended | Terminated))
            || (to == Terminated && self != Terminated);
        if legal {
            Ok(to)
        } else {
            Err(IllegalMove {
                from: self.as_str(),
                to: to.as_str(),
            })
        }
    }
}

/// A participant's record as the operator writes it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub id: String,
    pub legal_name: String,
    pub roles: Vec<Role>,
    pub country: String,
    pub currencies: Vec<String>,
    pub settlement_currency: String,
    pub settlement_account: String,
    pub callback_base_url: String,
    #[serde(default)]
    pub contacts: Vec<String>,
}

/// A field of a record that fails validation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

/// Limits on a record's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordLimits {
    pub id_chars_max: usize,
    pub text_chars_max: usize,
    pub contacts_max: usize,
    /// Callback URLs may be plain http and point at loopback or private
    /// addresses (simulators, tests); never in production.
    pub allow_private_callbacks: bool,
}

impl Default for RecordLimits {
    fn default() -> Self {
        RecordLimits {
            id_chars_max: 64,
            text_chars_max: 200,
            contacts_max: 10,
            allow_private_callbacks: false,
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

impl Record {
    /// Check every field; the first fault is reported with its field.
    pub fn validate(&self, limits: &RecordLimits) -> Result<(), Invalid> {
        let id_ok = !self.id.is_empty()
            && self.id.chars().count() <= limits.id_chars_max
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && self.id != "unigate";
        if !id_ok {
            return Err(invalid(
                "id",
                format!(
                    "1 to {} of a-z, 0-9, '-', '_' (and not \"unigate\")",
                    limits.id_chars_max
                ),
            ));
        }
        for (field, text) in [
            ("legal_name", &self.legal_name),
            ("settlement_account", &self.settlement_account),
        ] {
            let n = text.trim().chars().count();
            if n == 0 || n > limits.text_chars_max {
                return Err(invalid(
                    field,
                    format!("1 to {} characters", limits.text_chars_max),
                ));
            }
        }
        if self.roles.is_empty() {
            return Err(invalid(
                "roles",
                "at least one of wallet, acquirer, fx_provider",
            ));
        }
        if rust_iso3166::from_alpha2(&self.country).is_none() {
            return Err(invalid(
                "country",
                format!("{:?} is not an ISO 3166-1 alpha-2 code", self.country),
            ));
        }
        if self.currencies.is_empty() {
            return Err(invalid("currencies", "at least one ISO 4217 currency"));
        }
        for c in self
            .currencies
            .iter()
            .chain(std::iter::once(&self.settlement_currency))
        {
            if iso_currency::Currency::from_code(c).is_none() {
                let field = if c == &self.settlement_currency {
                    "settlement_currency"
                } else {
                    "currencies"
                };
                return Err(invalid(field, format!("{c:?} is not an ISO 4217 code")));
            }
        }
        if self.contacts.len() > limits.contacts_max
            || self
                .contacts
                .iter()
                .any(|c| c.chars().count() > limits.text_chars_max)
        {
            return Err(invalid(
                "contacts",
                format!(
                    "at most {} of at most {} characters",
                    limits.contacts_max, limits.text_chars_max
                ),
            ));
        }
        check_callback(&self.callback_base_url, limits.allow_private_callbacks)
    }
}

/// A callback base URL: https to a public host, unless private callbacks
/// are allowed (then http and loopback/private addresses pass too).
pub fn check_callback(url: &str, allow_private: bool) -> Result<(), Invalid> {
    let parsed = url::Url::parse(url)
        .map_err(|e| invalid("callback_base_url", format!("not a URL: {e}")))?;
    if parsed.scheme() != "https" && !(allow_private && parsed.scheme() == "http") {
        return Err(invalid("callback_base_url", "must be https"));
    }
    if parsed.username() != ""
        || parsed.password().is_some()
        || parsed.query().is_some()
        || parsed.fragment().is_some()
    {
        return Err(invalid(
            "callback_base_url",
            "no credentials, query or fragment",
        ));
    }
    let private = match parsed.host() {
        None => return Err(invalid("callback_base_url", "has no host")),
        Some(url::Host::Domain(d)) => {
            let d = d.to_ascii_lowercase();
            d == "localhost"
                || d.ends_with(".localhost")
                || d.ends_with(".local")
                || d.ends_with(".internal")
        }
        Some(url::Host::Ipv4(ip)) => is_private(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_private(IpAddr::V6(ip)),
    };
    if private && !allow_private {
        return Err(invalid(
            "callback_base_url",
            "may not point at a loopback, private or link-local address",
        ));
    }
    Ok(())
}

/// Loopback, private, link-local, unspecified, broadcast, CGNAT and
/// unique-local addresses: never a callback's, unless allowed.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast()
                // 100.64.0.0/10, carrier-grade NAT
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64)
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xFE00) == 0xFC00 // unique local
                || (v6.segments()[0] & 0xFFC0) == 0xFE80 // link local
                || v6.to_ipv4_mapped().is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_onboarding_path_is_legal_step_by_step() {
        let mut s = Stage::Applied;
        for next in [
            Stage::Admitted,
            Stage::JointTesting,
            Stage::ProductionVerification,
            Stage::Signed,
            Stage::Live,
        ] {
            s = s.transition(next).unwrap();
        }
        assert_eq!(s, Stage::Live);
        assert!(Stage::Applied.transition(Stage::Live).is_err());
        assert!(Stage::Live.transition(Stage::Applied).is_err());
        assert_eq!(
            Stage::Live.transition(Stage::Suspended),
            Ok(Stage::Suspended)
        );
        assert_eq!(Stage::Suspended.transition(Stage::Live), Ok(Stage::Live));
        assert!(Stage::Terminated.transition(Stage::Live).is_err());
        assert!(Stage::Terminated.transition(Stage::Terminated).is_err());
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.as_str()), Some(s));
            assert!(s.transition(s).is_err(), "{s:?} to itself");
        }
    }

    fn record() -> Record {
        Record {
            id: "hipay-mn".into(),
            legal_name: "HiPay LLC".into(),
            roles: vec![Role::Wallet],
            country: "MN".into(),
            currencies: vec!["MNT".into()],
            settlement_currency: "USD".into(),
            settlement_account: "MN12 3456".into(),
            callback_base_url: "https://api.hipay.mn/unigate".into(),
            contacts: vec!["ops@hipay.mn".into()],
        }
    }

    #[test]
    fn records_validate_field_by_field() {
        let limits = RecordLimits::default();
        record().validate(&limits).unwrap();
        type Breaker = fn(&mut Record);
        let cases: Vec<(Breaker, &str)> = vec![
            (|r| r.id = "HiPay".into(), "id"),
            (|r| r.id = "unigate".into(), "id"),
            (|r| r.legal_name = " ".into(), "legal_name"),
            (|r| r.roles.clear(), "roles"),
            (|r| r.country = "XX".into(), "country"),
            (|r| r.currencies = vec!["MNX".into()], "currencies"),
            (
                |r| r.settlement_currency = "usd".into(),
                "settlement_currency",
            ),
            (
                |r| r.callback_base_url = "http://api.hipay.mn".into(),
                "callback_base_url",
            ),
            (
                |r| r.callback_base_url = "https://127.0.0.1:8443".into(),
                "callback_base_url",
            ),
            (
                |r| r.callback_base_url = "https://10.0.0.5".into(),
                "callback_base_url",
            ),
            (
                |r| r.callback_base_url = "https://[::1]/x".into(),
                "callback_base_url",
            ),
            (
                |r| r.callback_base_url = "https://localhost".into(),
                "callback_base_url",
            ),
            (
                |r| r.callback_base_url = "https://u:p@api.hipay.mn".into(),
                "callback_base_url",
            ),
            (|r| r.contacts = vec!["x".into(); 11], "contacts"),
        ];
        for (break_it, field) in cases {
            let mut r = record();
            break_it(&mut r);
            assert_eq!(r.validate(&limits).unwrap_err().field, field, "{r:?}");
        }
        let mut r = record();
        r.callback_base_url = "http://127.0.0.1:9000/sim".into();
        r.validate(&RecordLimits {
            allow_private_callbacks: true,
            ..limits
        })
        .unwrap();
    }
}

//! Merchants as acquirers register them (SPEC §2.2): the QR identifiers
//! that point to each, and the checks on every field.

use crate::{Invalid, invalid};

/// The kinds of QR identifier a merchant can be found by. Each is the
/// account value a decoded code carries (see `docs/participants.md`).
pub const IDENTIFIER_KINDS: &[(&str, &str)] = &[
    (
        "promptpay_proxy",
        "PromptPay proxy: mobile (0066…), national or tax id, e-wallet id (tag 29/30 sub-tag 01-03)",
    ),
    (
        "qris_nmid",
        "QRIS national merchant id, ID followed by digits (tag 51 sub-tag 02)",
    ),
    (
        "unionpay_id",
        "UnionPay merchant id as carried in tag 15 (acquirer IIN and merchant number)",
    ),
    (
        "vietqr_account",
        "VietQR/NAPAS beneficiary: BIN:account (tag 38 sub-tag 01, its 00 and 01)",
    ),
    (
        "duitnow_id",
        "DuitNow merchant account id (tag 26 sub-tag 02)",
    ),
    (
        "paynow_proxy",
        "PayNow proxy value: UEN or mobile (tag 26 sub-tag 02)",
    ),
    ("sgqr_id", "SGQR id (tag 51 sub-tag 01)"),
    ("fps_id", "FPS identifier, mobile, email or FPS id (tag 26)"),
    (
        "khqr_account",
        "KHQR Bakong account id, name@bank (tag 29/30 sub-tag 00)",
    ),
    ("qrph_account", "QR Ph merchant account (tag 27/28)"),
    ("pix_key", "Pix key (tag 26 sub-tag 01)"),
    ("upi_vpa", "UPI virtual payment address, name@handle"),
    ("jpqr_id", "JPQR merchant id (tag 26 sub-tag 01)"),
    (
        "cn_merchant_url",
        "a domestic CN merchant URL code, host and path",
    ),
    ("emvco_account", "any other template: GUID:account value"),
];

/// A merchant's know-your-business status.
pub const KYB_STATUSES: &[&str] = &["pending", "verified", "rejected", "suspended"];

/// One identifier that points to a merchant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identifier {
    pub kind: String,
    pub value: String,
}

/// A merchant as its acquirer registers it. The gateway merchant id is the
/// gateway's, assigned at first registration; the acquirer's own id for
/// the merchant makes a registration an update when it comes again.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Merchant {
    pub acquirer_merchant_id: String,
    pub name: String,
    pub mcc: String,
    pub country: String,
    pub city: String,
    pub time_zone: String,
    pub kyb_status: String,
    #[serde(default)]
    pub identifiers: Vec<Identifier>,
}

/// Limits on a merchant's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MerchantLimits {
    pub id_chars_max: usize,
    pub name_chars_max: usize,
    pub identifiers_max: usize,
    pub identifier_chars_max: usize,
}

impl Default for MerchantLimits {
    fn default() -> Self {
        MerchantLimits {
            id_chars_max: 64,
            // EMVCo's tag 59 holds 25, the alternate-language name more;
            // registries keep the full legal name.
            name_chars_max: 140,
            identifiers_max: 16,
            // EMVCo's longest template value is 99 characters.
            identifier_chars_max: 99,
        }
    }
}

fn printable(s: &str) -> bool {
    !s.trim().is_empty() && !s.chars().any(char::is_control)
}

impl Merchant {
    /// Check every field; the first fault is reported with its field.
    pub fn validate(&self, limits: &MerchantLimits) -> Result<(), Invalid> {
        let amid = &self.acquirer_merchant_id;
        if amid.is_empty()
            || amid.chars().count() > limits.id_chars_max
            || !amid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b))
        {
            return Err(invalid(
                "acquirer_merchant_id",
                format!(
                    "1 to {} of A-Z, a-z, 0-9, '-', '_', '.', ':', '/'",
                    limits.id_chars_max
                ),
            ));
        }
        for (field, text) in [("name", &self.name), ("city", &self.city)] {
            if !printable(text) || text.chars().count() > limits.name_chars_max {
                return Err(invalid(
                    field,
                    format!(
                        "1 to {} characters, no control characters",
                        limits.name_chars_max
                    ),
                ));
            }
        }
        if self.mcc.len() != 4 || !self.mcc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(
                "mcc",
                "an ISO 18245 merchant category code: 4 digits",
            ));
        }
        if rust_iso3166::from_alpha2(&self.country).is_none() {
            return Err(invalid(
                "country",
                format!("{:?} is not an ISO 3166-1 alpha-2 code", self.country),
            ));
        }
        if self.time_zone.len() > 64 || jiff::tz::TimeZone::get(&self.time_zone).is_err() {
            return Err(invalid(
                "time_zone",
                format!("{:?} is not an IANA time zone", self.time_zone),
            ));
        }
        if !KYB_STATUSES.contains(&self.kyb_status.as_str()) {
            return Err(invalid(
                "kyb_status",
                format!("one of {}", KYB_STATUSES.join(", ")),
            ));
        }
        if self.identifiers.len() > limits.identifiers_max {
            return Err(invalid(
                "identifiers",
                format!("at most {}", limits.identifiers_max),
            ));
        }
        for (i, id) in self.identifiers.iter().enumerate() {
            check_identifier(id, limits.identifier_chars_max).map_err(|message| Invalid {
                field: "identifiers",
                message: format!("[{i}]: {message}"),
            })?;
            if self
                .identifiers
                .get(..i)
                .is_some_and(|seen| seen.contains(id))
            {
                return Err(invalid(
                    "identifiers",
                    format!("[{i}]: {} {:?} is listed twice", id.kind, id.value),
                ));
            }
        }
        Ok(())
    }
}

/// Check one identifier's kind and value.
pub fn check_identifier(id: &Identifier, chars_max: usize) -> Result<(), String> {
    if !IDENTIFIER_KINDS.iter().any(|(k, _)| *k == id.kind) {
        return Err(format!("{:?} is not a known identifier kind", id.kind));
    }
    let v = id.value.as_str();
    if v.is_empty() || v.chars().count() > chars_max || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "the value is 1 to {chars_max} printable ASCII characters, no spaces"
        ));
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let ok = match id.kind.as_str() {
        "promptpay_proxy" => digits(v) && (10..=15).contains(&v.len()),
        "qris_nmid" => v
            .strip_prefix("ID")
            .is_some_and(|d| digits(d) && d.len() >= 10),
        "unionpay_id" => digits(v) && (8..=31).contains(&v.len()),
        "vietqr_account" => v.split_once(':').is_some_and(|(bin, acct)| {
            bin.len() == 6 && digits(bin) && !acct.is_empty() && acct.len() <= 19
        }),
        "upi_vpa" | "khqr_account" => v
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty()),
        "emvco_account" => v
            .split_once(':')
            .is_some_and(|(g, a)| !g.is_empty() && !a.is_empty()),
        _ => true,
    };
    if !ok {
        return Err(format!(
            "{v:?} is not a {}",
            IDENTIFIER_KINDS
                .iter()
                .find(|(k, _)| *k == id.kind)
                .map_or("", |(_, what)| what)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merchant() -> Merchant {
        Merchant {
            acquirer_merchant_id: "KBANK-000123".into(),
            name: "Siam Noodle House".into(),
            mcc: "5812".into(),
            country: "TH".into(),
            city: "Bangkok".into(),
            time_zone: "Asia/Bangkok".into(),
            kyb_status: "verified".into(),
            identifiers: vec![
                Identifier {
                    kind: "promptpay_proxy".into(),
                    value: "0066812345678".into(),
                },
                Identifier {
                    kind: "vietqr_account".into(),
                    value: "970436:0011012345678".into(),
                },
            ],
        }
    }

    #[test]
    fn merchants_validate_field_by_field() {
        let limits = MerchantLimits::default();
        merchant().validate(&limits).unwrap();
        type Breaker = fn(&mut Merchant);
        let cases: Vec<(Breaker, &str)> = vec![
            (
                |m| m.acquirer_merchant_id = "a b".into(),
                "acquirer_merchant_id",
            ),
            (
                |m| m.acquirer_merchant_id = String::new(),
                "acquirer_merchant_id",
            ),
            (|m| m.name = "  ".into(), "name"),
            (|m| m.name = "x".repeat(141), "name"),
            (|m| m.city = "a\nb".into(), "city"),
            (|m| m.mcc = "581".into(), "mcc"),
            (|m| m.country = "TX".into(), "country"),
            (|m| m.time_zone = "Asia/Nowhere".into(), "time_zone"),
            (|m| m.kyb_status = "ok".into(), "kyb_status"),
            (|m| m.identifiers[0].kind = "iban".into(), "identifiers"),
            (|m| m.identifiers[0].value = "12345".into(), "identifiers"),
            (|m| m.identifiers[1].value = "97043:1".into(), "identifiers"),
            (
                |m| m.identifiers[1] = m.identifiers[0].clone(),
                "identifiers",
            ),
            (
                |m| m.identifiers = vec![m.identifiers[0].clone(); 17],
                "identifiers",
            ),
        ];
        for (break_it, field) in cases {
            let mut m = merchant();
            break_it(&mut m);
            assert_eq!(m.validate(&limits).unwrap_err().field, field, "{m:?}");
        }
    }
}

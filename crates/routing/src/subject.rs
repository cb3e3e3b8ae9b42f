//! What routing looks at in a decoded code: its merchant account entries,
//! the acquirer ids its scheme names, a merchant URL's host, a payment
//! code's digits, and the identifiers the merchant registry is keyed on.

use std::fmt;

use qr::Decoded;

use crate::matcher::Side;

/// The named fields (SPEC §5 `accounts[].named`) that hold an acquirer id,
/// per scheme: what an `acquirer_id` route `SCHEME:ID` is compared with.
pub const ACQUIRER_FIELDS: &[(&str, &str)] = &[
    ("duitnow", "acquirer_id"),
    ("fps", "clearing_code"),
    ("khqr", "acquiring_bank"),
    ("qrph", "acquirer_bic"),
    ("qrph", "bic"),
    ("unionpay", "acquirer_iin"),
    ("vietqr", "bank_bin"),
];

/// The schemes that name an acquirer id, each once.
pub fn acquirer_schemes() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = ACQUIRER_FIELDS.iter().map(|(s, _)| *s).collect();
    out.dedup();
    out
}

/// One merchant account entry of a code (an MPM tag 02-51, or a UPI
/// link's payee address).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountEntry {
    /// The MPM tag; `None` for a UPI link.
    pub tag: Option<u8>,
    /// The scheme that recognised the entry, if any.
    pub scheme: Option<&'static str>,
    /// Whether that scheme governs the code.
    pub governing: bool,
    /// A template's sub-tag 00 (GUID, AID, reverse-domain id, or a
    /// `name@bank` id) as written; `None` for a primitive entry.
    pub id: Option<String>,
    /// The values an account prefix is compared with: a primitive's value;
    /// a template's sub-tag 01-99 values and its scheme's named fields.
    pub values: Vec<String>,
    /// The acquirer ids the scheme names in the entry
    /// ([`ACQUIRER_FIELDS`]).
    pub acquirer_ids: Vec<String>,
}

/// A merchant-registry key: an identifier kind of
/// `participant::merchant::IDENTIFIER_KINDS` and its value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identifier {
    pub kind: &'static str,
    pub value: String,
}

/// A payment code's digits (a CN wallet payment code, or a CPM's PAN or
/// token): a bearer secret, redacted in `Debug`; read it with
/// [`PaymentCode::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct PaymentCode(String);

impl PaymentCode {
    pub fn new(digits: impl Into<String>) -> Self {
        PaymentCode(digits.into())
    }

    /// The digits, for matching; never log them.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PaymentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last4 = self.0.get(self.0.len().saturating_sub(4)..).unwrap_or("");
        write!(f, "PaymentCode(…{last4})")
    }
}

/// What routing knows of one code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// The format (`emvco-mpm`, `cn-payment-code`, …).
    pub format: &'static str,
    /// The governing scheme.
    pub scheme: &'static str,
    /// The merchant's country as the code gives it (MPM tag 58; `IN` for a
    /// UPI link), uppercase.
    pub merchant_country: Option<String>,
    pub accounts: Vec<AccountEntry>,
    /// A merchant URL code's host, lowercase; for `wxp://TOKEN` codes,
    /// which have no host, `wxp`.
    pub host: Option<String>,
    pub payment_code: Option<PaymentCode>,
    /// The keys to look up in the merchant registry.
    pub identifiers: Vec<Identifier>,
}

impl Subject {
    /// The side this code finds: a merchant's code (MPM, merchant URL, UPI
    /// link) the merchant side, a payer's code (CN payment code, CPM) the
    /// wallet side.
    pub fn side(&self) -> Side {
        if self.payment_code.is_some() || self.format == qr::Format::EmvcoCpm.as_str() {
            Side::Wallet
        } else {
            Side::Merchant
        }
    }

    /// Read a decoded code; `payload` is the text it was decoded from (a CN
    /// payment code keeps only its prefix and last four once decoded).
    pub fn from_decoded(payload: &str, decoded: &Decoded<'_>) -> Subject {
        let mut s = Subject {
            format: decoded.format().as_str(),
            scheme: decoded.scheme(),
            merchant_country: None,
            accounts: Vec::new(),
            host: None,
            payment_code: None,
            identifiers: Vec::new(),
        };
        match decoded {
            Decoded::Mpm(d) => mpm(&mut s, d),
            Decoded::Cpm(d) => s.payment_code = pan(&d.objects).map(PaymentCode),
            Decoded::PaymentCode(_) => s.payment_code = Some(PaymentCode::new(payload)),
            Decoded::MerchantUrl(u) => {
                let host = if u.url_scheme == "wxp" {
                    "wxp".to_string()
                } else {
                    u.host.clone()
                };
                s.identifiers.push(Identifier {
                    kind: "cn_merchant_url",
                    value: format!("{}{}", u.host, u.path),
                });
                s.host = Some(host);
            }
            Decoded::Upi(u) => {
                s.merchant_country = Some("IN".into());
                if let Some(pa) = u.get("pa") {
                    s.accounts.push(AccountEntry {
                        tag: None,
                        scheme: Some("upi"),
                        governing: true,
                        id: Some(pa.to_string()),
                        values: vec![pa.to_string()],
                        acquirer_ids: Vec::new(),
                    });
                    s.identifiers.push(Identifier {
                        kind: "upi_vpa",
                        value: pa.to_string(),
                    });
                }
            }
        }
        s.identifiers.sort();
        s.identifiers.dedup();
        s
    }
}

fn mpm(s: &mut Subject, d: &qr::mpm::Decoded<'_>) {
    let code = &d.code;
    let governing = d.scheme();
    s.merchant_country = d.merchant.country.map(str::to_ascii_uppercase);
    for account in &d.accounts {
        let Some(object) = code.tree.objects().get(account.index) else {
            continue;
        };
        let named = |key: &str| {
            account
                .named
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        };
        let mut entry = AccountEntry {
            tag: Some(account.tag),
            scheme: account.scheme,
            governing: account.scheme == Some(governing),
            id: None,
            values: Vec::new(),
            acquirer_ids: Vec::new(),
        };
        match code.children(object) {
            Some(children) => {
                entry.id = code.child_value(object, 0).map(str::to_string);
                entry.values.extend(
                    children
                        .iter()
                        .filter(|c| c.id != 0 && !c.is_template())
                        .map(|c| c.value.to_string()),
                );
            }
            None => entry.values.push(object.value.to_string()),
        }
        entry
            .values
            .extend(account.named.iter().map(|(_, v)| v.to_string()));
        if let Some(scheme) = account.scheme {
            entry.acquirer_ids = ACQUIRER_FIELDS
                .iter()
                .filter(|(s, _)| *s == scheme)
                .filter_map(|(_, field)| named(field))
                .collect();
        }
        let mut id = |kind: &'static str, value: Option<String>| {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                s.identifiers.push(Identifier { kind, value });
            }
        };
        match account.scheme {
            Some("promptpay") => {
                id("promptpay_proxy", named("proxy"));
                id("promptpay_proxy", named("biller_id"));
            }
            Some("qris") => id("qris_nmid", named("nmid")),
            Some("unionpay") if !object.is_template() => {
                id("unionpay_id", Some(object.value.to_string()));
            }
            Some("vietqr") => {
                if let (Some(bin), Some(acct)) = (named("bank_bin"), named("account")) {
                    id("vietqr_account", Some(format!("{bin}:{acct}")));
                }
            }
            Some("duitnow") => id("duitnow_id", named("merchant_id")),
            Some("paynow") => id("paynow_proxy", named("proxy")),
            Some("sgqr") => id("sgqr_id", named("sgqr_id")),
            Some("fps") => {
                for key in ["fps_id", "mobile", "email"] {
                    id("fps_id", named(key));
                }
            }
            Some("khqr") => id("khqr_account", named("bakong_account_id")),
            Some("qrph") => {
                id("qrph_account", named("merchant_id"));
                id("qrph_account", named("credit_account"));
            }
            Some("pix") => id("pix_key", named("key")),
            Some("upi") => id("upi_vpa", named("vpa")),
            Some("jpqr") => id("jpqr_id", named("merchant_id_level_1")),
            None => {
                if let (Some(guid), Some(first)) = (
                    entry.id.clone(),
                    code.child_value(object, 1).map(str::to_string),
                ) {
                    id("emvco_account", Some(format!("{guid}:{first}")));
                }
            }
            Some(_) => {}
        }
        s.accounts.push(entry);
    }
}

/// The PAN of a CPM payload: `5A` anywhere, else track 2 (`57`) up to its
/// separator; hex digits with the padding `F` removed.
fn pan(objects: &[qr::cpm::Ber]) -> Option<String> {
    fn find<'o>(objects: &'o [qr::cpm::Ber], tag: &[u8]) -> Option<&'o qr::cpm::Ber> {
        objects.iter().find_map(|o| {
            if o.tag == tag {
                Some(o)
            } else {
                o.children.as_deref().and_then(|c| find(c, tag))
            }
        })
    }
    let digits = |hex: String| -> Option<String> {
        let d: String = hex.chars().take_while(char::is_ascii_digit).collect();
        (!d.is_empty()).then_some(d)
    };
    if let Some(o) = find(objects, &[0x5A]) {
        return digits(qr::cpm::hex_upper(&o.value));
    }
    find(objects, &[0x57]).and_then(|o| digits(qr::cpm::hex_upper(&o.value)))
}

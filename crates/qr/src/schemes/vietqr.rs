//! VietQR (Vietnam): NAPAS's QR standard for inter-bank transfers and
//! payments.
//!
//! Sources: the NAPAS VietQR specification's test vectors 6.1.1-6.1.4 as
//! reproduced by binhnguyenduc/vietqr-ts and giautm/emvqr-go (`README.md`:
//! tag 38 with GUID A000000727; 01 a template of acquirer BIN 00, 6 digits,
//! and account or card number 01, up to 19; 02 the service code; currency
//! 704, country VN); unicubevn/vietqr-payment-js `README.md` (service codes
//! QRIBFTTA to an account, QRIBFTTC to a card, QRPUSH for a payment);
//! subiz/vietqr.

use std::borrow::Cow;

use super::{account_with, bad, currency_and_country, guid_in, name};
use crate::mpm::Code;
use crate::profile::{Context, Named, Profile, Tolerance};
use crate::rule::{Rule, Violation};
use crate::tlv::{self, Tlv};

const GUID: &[&str] = &["A000000727"];

const SERVICES: &[(&str, &str)] = &[
    ("QRIBFTTA", "account_transfer"),
    ("QRIBFTTC", "card_transfer"),
    ("QRPUSH", "payment"),
    ("QRCASH", "cash_withdrawal"),
];

const IBFT_OMITS: &str = "NAPAS VietQR transfer codes (QRIBFTTA / QRIBFTTC) carry no MCC, merchant name or city: NAPAS specification test vectors 6.1.1-6.1.4 as reproduced in binhnguyenduc/vietqr-ts and giautm/emvqr-go";

#[derive(Debug)]
pub struct VietQr;

pub static VIETQR: VietQr = VietQr;

/// The beneficiary organisation (sub-tag 01), itself ID-length-value.
fn beneficiary<'a>(code: &Code<'a>, account: &Tlv<'a>) -> Option<Vec<Tlv<'a>>> {
    let inner = code.child(account, 1)?;
    tlv::parse(inner.value).ok().map(|t| t.objects().to_vec())
}

fn value_of<'a>(objects: &[Tlv<'a>], id: u8) -> Option<&'a str> {
    objects.iter().find(|t| t.id == id).map(|t| t.value)
}

impl Profile for VietQr {
    fn scheme(&self) -> &'static str {
        "vietqr"
    }

    fn country(&self) -> Option<&'static str> {
        Some("VN")
    }

    fn recognises(&self, _code: &Code<'_>, _account: &Tlv<'_>, guid: Option<&str>) -> bool {
        guid_in(guid, GUID)
    }

    fn tolerances(&self) -> &'static [Tolerance] {
        const T: &[Tolerance] = &[
            Tolerance {
                rule: Rule::MccPresent,
                source: IBFT_OMITS,
            },
            Tolerance {
                rule: Rule::MerchantNamePresent,
                source: IBFT_OMITS,
            },
            Tolerance {
                rule: Rule::MerchantCityPresent,
                source: IBFT_OMITS,
            },
            Tolerance {
                rule: Rule::TemplateWellFormed,
                source: "MoMo wallet VietQR codes carry a three-digit value in unreserved tag 80, not a template (xuannghia/vietnam-qr-pay test/test-momo-zalopay.spec.ts, a MoMo code via Ban Viet bank); VietQR apps pay them",
            },
        ];
        T
    }

    fn check(&self, code: &Code<'_>, _context: &Context, out: &mut Vec<Violation>) {
        let Some(t) = account_with(code, GUID) else {
            return;
        };
        currency_and_country(
            code,
            out,
            "VietQR",
            ("vietqr.currency", "vietqr.country"),
            &["704"],
            &["VN"],
        );
        let path = super::Id(t.id);
        let parsed = code
            .child(t, 1)
            .map(|inner| (inner, tlv::parse(inner.value)));
        match parsed {
            None => require!(
                false,
                out,
                "vietqr.beneficiary",
                &format!("{path}.01"),
                format!(
                    "a VietQR template (tag {path}) carries the beneficiary organisation (acquirer BIN and account) in 01"
                ),
            ),
            Some((inner, Err(e))) => bad(
                out,
                "vietqr.beneficiary",
                inner,
                &format!("{path}.01"),
                format!(
                    "the VietQR beneficiary organisation (tag {path}.01) is not well-formed ID-length-value: {}",
                    e.message
                ),
            ),
            Some((_, Ok(tree))) => {
                let b = tree.objects();
                let bin = value_of(b, 0);
                if !bin.is_some_and(|v| v.len() == 6 && super::digits(v)) {
                    let inner = code.child(t, 1).unwrap_or(t);
                    bad(
                        out,
                        "vietqr.bank_bin",
                        inner,
                        &format!("{path}.01.00"),
                        format!(
                            "the VietQR acquirer BIN (tag {path}.01.00) is 6 digits; this is {bin:?}"
                        ),
                    );
                }
                let account_no = value_of(b, 1);
                if account_no.is_none_or(|v| v.chars().count() > 19) {
                    let inner = code.child(t, 1).unwrap_or(t);
                    bad(
                        out,
                        "vietqr.account",
                        inner,
                        &format!("{path}.01.01"),
                        format!(
                            "the VietQR account or card number (tag {path}.01.01) is present and at most 19 characters; this is {account_no:?}"
                        ),
                    );
                }
            }
        }
        if let Some(s) = code.child(t, 2)
            && !SERVICES.iter().any(|(k, _)| *k == s.value)
        {
            bad(
                out,
                "vietqr.service_code",
                s,
                &format!("{path}.02"),
                format!(
                    "VietQR service codes are QRIBFTTA, QRIBFTTC, QRPUSH and QRCASH; this is {:?}",
                    s.value
                ),
            );
        }
    }

    fn named<'a>(&self, code: &Code<'a>, account: &Tlv<'a>, named: &mut Named<'a>) {
        if let Some(b) = beneficiary(code, account) {
            name(named, "bank_bin", value_of(&b, 0));
            name(named, "account", value_of(&b, 1));
        }
        if let Some(s) = code.child_value(account, 2) {
            named.push(("service_code", Cow::Borrowed(s)));
            if let Some((_, n)) = SERVICES.iter().find(|(k, _)| *k == s) {
                named.push(("service", Cow::Borrowed(n)));
            }
        }
    }
}

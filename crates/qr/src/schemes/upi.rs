//! UPI and Bharat QR (India): NPCI's interoperable merchant QR.
//!
//! Sources: published Bharat QR codes of PayU and Razorpay (their
//! documentation pages) and of Axis Bank; a Bharat QR tag reference (v4.0.1)
//! found in public code, used for field names only: 06/07 RuPay merchant
//! PAN, 08 IFSC (11) + account, templates 26/27/28 with RID A000000524 —
//! 26.01 the payee VPA, 26.02 a minimum amount, 27.01 the transaction
//! reference, 27.02 a reference URL, 28.01 an Aadhaar number; postal code
//! (61) present; currency 356, country IN.

use std::borrow::Cow;

use super::{bad, currency_and_country, guid_in, guid_is, name};
use crate::mpm::Code;
use crate::profile::{Context, Named, Profile, Tolerance};
use crate::rule::{Rule, Violation};
use crate::tlv::Tlv;

const RID: &[&str] = &["A000000524"];

#[derive(Debug)]
pub struct Upi;

pub static UPI: Upi = Upi;

impl Profile for Upi {
    fn scheme(&self) -> &'static str {
        "upi"
    }

    fn country(&self) -> Option<&'static str> {
        Some("IN")
    }

    fn recognises(&self, code: &Code<'_>, account: &Tlv<'_>, guid: Option<&str>) -> bool {
        guid_in(guid, RID) || (matches!(account.id, 6..=8) && code.value(58) == Some("IN"))
    }

    fn tolerances(&self) -> &'static [Tolerance] {
        const T: &[Tolerance] = &[Tolerance {
            rule: Rule::CrcUppercase,
            source: "Bharat QR codes in production print lowercase CRC digits (an HDFC Bank B2C e-invoice QR, CRC 'e9fc'); UPI apps accept them",
        }];
        T
    }

    fn check(&self, code: &Code<'_>, _context: &Context, out: &mut Vec<Violation>) {
        currency_and_country(
            code,
            out,
            "UPI / Bharat QR",
            ("upi.currency", "upi.country"),
            &["356"],
            &["IN"],
        );
        require!(
            code.get(61).is_some(),
            out,
            "upi.postal_code",
            "61",
            "a Bharat QR code carries the merchant's PIN code (tag 61)".to_string(),
        );
        for t in code
            .tree
            .objects()
            .iter()
            .filter(|t| guid_is(code, t, RID) && t.id == 26)
        {
            match code.child(t, 1) {
                None => require!(
                    false,
                    out,
                    "upi.vpa",
                    "26.01",
                    "the UPI template (tag 26) carries the payee's VPA in 01".to_string(),
                ),
                Some(v) if !v.value.contains('@') => bad(
                    out,
                    "upi.vpa",
                    v,
                    "26.01",
                    format!("a VPA has the form name@handle; this is {:?}", v.value),
                ),
                Some(_) => {}
            }
        }
        if let Some(t) = code.get(8)
            && code.value(58) == Some("IN")
            && !(t.value.len() > 11
                && t.value
                    .get(..11)
                    .is_some_and(|ifsc| ifsc.bytes().all(|b| b.is_ascii_alphanumeric())))
        {
            bad(
                out,
                "upi.ifsc_account",
                t,
                "08",
                "tag 08 carries an 11-character IFSC followed by the account number".to_string(),
            );
        }
    }

    fn named<'a>(&self, code: &Code<'a>, account: &Tlv<'a>, named: &mut Named<'a>) {
        match account.id {
            6 | 7 => named.push(("rupay_merchant_pan", Cow::Borrowed(account.value))),
            8 => {
                name(named, "ifsc", account.value.get(..11));
                name(named, "account", account.value.get(11..));
            }
            26 => {
                name(named, "vpa", code.child_value(account, 1));
                name(named, "minimum_amount", code.child_value(account, 2));
            }
            27 => {
                name(named, "transaction_reference", code.child_value(account, 1));
                name(named, "reference_url", code.child_value(account, 2));
            }
            28 => {
                // An Aadhaar number is personal data: only its last four.
                if let Some(a) = code.child_value(account, 1) {
                    let last4 = a.get(a.len().saturating_sub(4)..).unwrap_or_default();
                    named.push(("aadhaar_last4", Cow::Borrowed(last4)));
                }
            }
            _ => {}
        }
    }
}

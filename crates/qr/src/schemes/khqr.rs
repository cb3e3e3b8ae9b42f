//! KHQR (Cambodia): the National Bank of Cambodia's Bakong QR standard.
//!
//! Sources: the KHQR SDK as published in ishinvin/ts-khqr
//! (`src/constants/index.ts`, `src/verify.ts` and its tests) and
//! tangheng05/khqr-rs (`docs/format.md`, `docs/decoding.md`): tag 29
//! (individual) or 30 (merchant) whose 00 is a Bakong account id of the form
//! `name@bank` (no GUID); 01 account information / merchant id, 02 acquiring
//! bank; currency 116 (KHR) or 840 (USD); a dynamic code carries its amount
//! and, in tag 99, creation (00) and expiry (01) times in epoch milliseconds
//! (13 digits).

use std::borrow::Cow;

use super::{bad, currency_and_country, name};
use crate::mpm::{Code, Initiation};
use crate::profile::{Context, Expiry, Named, Profile, Tolerance};
use crate::rule::{Rule, Violation};
use crate::tlv::Tlv;

#[derive(Debug)]
pub struct Khqr;

pub static KHQR: Khqr = Khqr;

fn is_bakong_account<'a>(code: &Code<'a>, t: &Tlv<'a>) -> bool {
    matches!(t.id, 29 | 30)
        && code
            .child_value(t, 0)
            .is_some_and(|id| id.contains('@') && id.chars().count() <= 32)
}

impl Profile for Khqr {
    fn scheme(&self) -> &'static str {
        "khqr"
    }

    fn country(&self) -> Option<&'static str> {
        Some("KH")
    }

    fn recognises(&self, code: &Code<'_>, account: &Tlv<'_>, _guid: Option<&str>) -> bool {
        is_bakong_account(code, account)
    }

    fn tolerances(&self) -> &'static [Tolerance] {
        const T: &[Tolerance] = &[
            Tolerance {
                rule: Rule::CrcUppercase,
                source: "the KHQR SDK compares the CRC after upper-casing it (ishinvin/ts-khqr src/index.ts; tangheng05/khqr-rs docs/decoding.md: accepts hex in either case)",
            },
            Tolerance {
                rule: Rule::Scheme("khqr.expiry_present"),
                source: "dynamic KHQR codes issued before the expiry timestamp was introduced carry only the creation time in tag 99 (tangheng05/khqr-rs published vectors; ishinvin/ts-khqr verify-khqr.test.ts accepts them)",
            },
        ];
        T
    }

    fn check(&self, code: &Code<'_>, _context: &Context, out: &mut Vec<Violation>) {
        let Some(account) = code
            .tree
            .objects()
            .iter()
            .find(|t| is_bakong_account(code, t))
        else {
            return;
        };
        currency_and_country(
            code,
            out,
            "KHQR",
            ("khqr.currency", "khqr.country"),
            &["116", "840"],
            &["KH"],
        );
        if account.id == 30 {
            require!(
                code.child(account, 1).is_some(),
                out,
                "khqr.merchant_id",
                "30.01",
                "a KHQR merchant account (tag 30) carries the merchant id in 01".to_string(),
            );
            require!(
                code.child(account, 2).is_some(),
                out,
                "khqr.acquiring_bank",
                "30.02",
                "a KHQR merchant account (tag 30) names the acquiring bank in 02".to_string(),
            );
        }
        let dynamic = code.initiation() == Some(Initiation::Dynamic);
        if dynamic {
            require!(
                code.get(54).is_some(),
                out,
                "khqr.dynamic_amount",
                "54",
                "a dynamic KHQR code (tag 01 = 12) carries its amount (tag 54)".to_string(),
            );
        }
        if dynamic || code.get(54).is_some() {
            match code.get(99).and_then(|t| code.child(t, 1)) {
                None => require!(
                    false,
                    out,
                    "khqr.expiry_present",
                    "99.01",
                    "a KHQR code with an amount carries its expiry time in tag 99.01".to_string(),
                ),
                Some(x) => match x.value.parse::<i64>() {
                    Ok(_) if x.value.len() == 13 && super::digits(x.value) => {}
                    _ => bad(
                        out,
                        "khqr.expiry_format",
                        x,
                        "99.01",
                        format!(
                            "the KHQR expiry (tag 99.01) is 13 digits of epoch milliseconds; this is {:?}",
                            x.value
                        ),
                    ),
                },
            }
        }
    }

    fn expiry(&self, code: &Code<'_>) -> Option<Expiry> {
        let x = code.child(code.get(99)?, 1)?;
        let at_unix_ms = x.value.parse().ok().filter(|_| x.value.len() == 13)?;
        Some(Expiry {
            at_unix_ms,
            tag: "99.01".into(),
            rule: "khqr.expiry",
        })
    }

    fn named<'a>(&self, code: &Code<'a>, account: &Tlv<'a>, named: &mut Named<'a>) {
        let merchant = account.id == 30;
        named.push((
            "account_type",
            Cow::Borrowed(if merchant { "merchant" } else { "individual" }),
        ));
        name(named, "bakong_account_id", code.child_value(account, 0));
        name(
            named,
            if merchant {
                "merchant_id"
            } else {
                "account_information"
            },
            code.child_value(account, 1),
        );
        name(named, "acquiring_bank", code.child_value(account, 2));
        let times = code.get(99);
        name(
            named,
            "created_at_ms",
            times.and_then(|t| code.child_value(t, 0)),
        );
        name(
            named,
            "expires_at_ms",
            times.and_then(|t| code.child_value(t, 1)),
        );
    }
}

//! JPQR (Japan): the Payments Japan Association's unified merchant QR
//! (統一QR, MPM guideline 1.0).
//!
//! Sources: mercari/go-emv-code `mpm/jpqr/jpqr.go` and `id.go` (country JP,
//! currency 392, postal code mandatory, language template in `JA` without
//! a city; merchant template `jp.or.paymentsjapan` with the unified
//! merchant identifier in 01-04 of 13, 4, 6 and 6 digits);
//! kenmaz/JPQRReader `MPMDecoder.swift` (management levels 1-4).

use super::{account_with, bad, currency_and_country, guid_in, name};
use crate::mpm::Code;
use crate::profile::{Context, Named, Profile};
use crate::rule::Violation;
use crate::tlv::Tlv;

const GUID: &[&str] = &["jp.or.paymentsjapan"];

const LEVELS: [(u8, usize, &str); 4] = [
    (1, 13, "merchant_id_level_1"),
    (2, 4, "merchant_id_level_2"),
    (3, 6, "merchant_id_level_3"),
    (4, 6, "merchant_id_level_4"),
];

#[derive(Debug)]
pub struct Jpqr;

pub static JPQR: Jpqr = Jpqr;

impl Profile for Jpqr {
    fn scheme(&self) -> &'static str {
        "jpqr"
    }

    fn country(&self) -> Option<&'static str> {
        Some("JP")
    }

    fn recognises(&self, _code: &Code<'_>, _account: &Tlv<'_>, guid: Option<&str>) -> bool {
        guid_in(guid, GUID)
    }

    fn check(&self, code: &Code<'_>, _context: &Context, out: &mut Vec<Violation>) {
        let Some(t) = account_with(code, GUID) else {
            return;
        };
        currency_and_country(
            code,
            out,
            "JPQR",
            ("jpqr.currency", "jpqr.country"),
            &["392"],
            &["JP"],
        );
        require!(
            code.get(61).is_some(),
            out,
            "jpqr.postal_code",
            "61",
            "a JPQR code carries the merchant's postal code (tag 61)".to_string(),
        );
        match code.get(64) {
            None => require!(
                false,
                out,
                "jpqr.language",
                "64",
                "a JPQR code carries the merchant's name in Japanese (tag 64)".to_string(),
            ),
            Some(l) => {
                if let Some(p) = code.child(l, 0)
                    && !p.value.eq_ignore_ascii_case("JA")
                {
                    bad(
                        out,
                        "jpqr.language",
                        p,
                        "64.00",
                        format!(
                            "a JPQR language template is in Japanese (JA); this is {:?}",
                            p.value
                        ),
                    );
                }
                if let Some(c) = code.child(l, 2) {
                    bad(
                        out,
                        "jpqr.language",
                        c,
                        "64.02",
                        "a JPQR language template carries no city (64.02)".to_string(),
                    );
                }
            }
        }
        let path = super::Id(t.id);
        for (id, len, what) in LEVELS {
            if let Some(v) = code.child(t, id)
                && !(v.value.len() == len && super::digits(v.value))
            {
                bad(
                    out,
                    "jpqr.merchant_id",
                    v,
                    &format!("{path}.{id:02}"),
                    format!("{what} is {len} digits; this is {:?}", v.value),
                );
            }
        }
        require!(
            code.child(t, 1).is_some(),
            out,
            "jpqr.merchant_id",
            &format!("{path}.01"),
            "a JPQR template carries the unified merchant id's level 1 in 01".to_string(),
        );
    }

    fn named<'a>(&self, code: &Code<'a>, account: &Tlv<'a>, named: &mut Named<'a>) {
        for (id, _, key) in LEVELS {
            name(named, key, code.child_value(account, id));
        }
    }
}

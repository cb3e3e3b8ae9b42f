//! PayNow and SGQR (Singapore).
//!
//! Sources: the PayNow QR field table reproduced at
//! francolifeproject.com/PayNowQR and used by odoo/odoo
//! `addons/l10n_sg/models/res_bank.py` (proxy type 0 mobile / 2 UEN, proxy
//! value, amount-editable flag, expiry date; SGD only); the SGQR
//! specification's identity template `SG.SGQR` in tag 51 (SGQR id, version,
//! postal code, level, unit, miscellaneous, new-version date) as read by
//! lee-ratinan/emv-qr and zionsg/sgqr-parser; the SGQR specification sample.
//!
//! SGQR is an umbrella: one code carries PayNow, NETS, card networks and
//! wallets, and the SGQR profile governs it. An older PayNow layout put a
//! reference in 04 and the expiry in 05, so 04 is read as an expiry only when
//! it is a date (8 digits) or date-time (14 digits).

use std::borrow::Cow;

use super::{account_with, bad, currency_and_country, guid_in, local_time_ms, name};
use crate::mpm::Code;
use crate::profile::{Context, Expiry, Named, Profile};
use crate::rule::Violation;
use crate::tlv::Tlv;

const PAYNOW_ID: &[&str] = &["SG.PAYNOW"];
const SGQR_ID: &[&str] = &["SG.SGQR"];

/// Singapore time, UTC+8 all year.
const SGT: i8 = 8;

#[derive(Debug)]
pub struct PayNow;

pub static PAYNOW: PayNow = PayNow;

impl Profile for PayNow {
    fn scheme(&self) -> &'static str {
        "paynow"
    }

    fn country(&self) -> Option<&'static str> {
        Some("SG")
    }

    fn recognises(&self, _code: &Code<'_>, _account: &Tlv<'_>, guid: Option<&str>) -> bool {
        guid_in(guid, PAYNOW_ID)
    }

    fn check(&self, code: &Code<'_>, _context: &Context, out: &mut Vec<Violation>) {
        let Some(t) = account_with(code, PAYNOW_ID) else {
            return;
        };
        currency_and_country(
            code,
            out,
            "PayNow",
            ("paynow.currency", "paynow.country"),
            &["702"],
            &["SG"],
        );
        let path = super::Id(t.id);
        require!(
            code.child(t, 1).is_some(),
            out,
            "paynow.proxy_type",
            &format!("{path}.01"),
            format!("a PayNow template (tag {path}) names its proxy type in 01"),
        );
        require!(
            code.child(t, 2).is_some(),
            out,
            "paynow.proxy",
            &format!("{path}.02"),
            format!("a PayNow template (tag {path}) carries the proxy value in 02"),
        );
        if let Some(e) = code.child(t, 3)
            && !matches!(e.value, "0" | "1")
        {
            bad(
                out,
                "paynow.amount_editable",
                e,
                &format!("{path}.03"),
                format!(
                    "the PayNow amount-editable flag is 0 or 1; this is {:?}",
                    e.value
                ),
            );
        }
        if let Some(x) = code.child(t, 4)
            && matches!(x.value.len(), 8 | 14)
            && super::digits(x.value)
        {
            match local_time_ms(x.value, SGT) {
                Some(_) => {}
                None => bad(
                    out,
                    "paynow.expiry",
                    x,
                    &format!("{path}.04"),
                    format!("the PayNow expiry {:?} is not a valid date", x.value),
                ),
            }
        }
    }

    fn expiry(&self, code: &Code<'_>) -> Option<Expiry> {
        let t = account_with(code, PAYNOW_ID)?;
        let x = code.child(t, 4)?;
        if !matches!(x.value.len(), 8 | 14) {
            return None;
        }
        let at_unix_ms = local_time_ms(x.value, SGT)?;
        Some(Expiry {
            at_unix_ms,
            tag: format!("{:02}.04", t.id),
            rule: "paynow.expiry",
        })
    }

    fn named<'a>(&self, code: &Code<'a>, account: &Tlv<'a>, named: &mut Named<'a>) {
        if let Some(kind) = code.child_value(account, 1) {
            let kind = match kind {
                "0" => Cow::Borrowed("mobile"),
                "2" => Cow::Borrowed("uen"),
                other => Cow::Borrowed(other),
            };
            named.push(("proxy_type", kind));
        }
        name(named, "proxy", code.child_value(account, 2));
        match code.child_value(account, 3) {
            Some("0") => named.push(("amount_editable", Cow::Borrowed("false"))),
            Some("1") => named.push(("amount_editable", Cow::Borrowed("true"))),
            _ => {}
        }
        name(
            named,
            "expiry",
            code.child_value(account, 4)
                .filter(|v| matches!(v.len(), 8 | 14) && super::digits(v)),
        );
    }
}

#[derive(Debug)]
pub struct Sgqr;

pub static SGQR: Sgqr = Sgqr;

impl Profile for Sgqr {
    fn scheme(&self) -> &'static str {
        "sgqr"
    }

    fn country(&self) -> Option<&'static str> {
        Some("SG")
    }

    fn recognises(&self, _code: &Code<'_>, _account: &Tlv<'_>, guid: Option<&str>) -> bool {
        guid_in(guid, SGQR_ID)
    }

    fn check(&self, code: &Code<'_>, _context: &Context, out: &mut Vec<Violation>) {
        let Some(t) = account_with(code, SGQR_ID) else {
            return;
        };
        currency_and_country(
            code,
            out,
            "SGQR",
            ("sgqr.currency", "sgqr.country"),
            &["702"],
            &["SG"],
        );
        let path = super::Id(t.id);
        require!(
            code.child(t, 1).is_some(),
            out,
            "sgqr.id",
            &format!("{path}.01"),
            format!("the SGQR identity template (tag {path}) carries the SGQR id in 01"),
        );
    }

    fn named<'a>(&self, code: &Code<'a>, account: &Tlv<'a>, named: &mut Named<'a>) {
        for (id, key) in [
            (1, "sgqr_id"),
            (2, "version"),
            (3, "postal_code"),
            (4, "level"),
            (5, "unit_number"),
            (6, "miscellaneous"),
            (7, "new_version_date"),
        ] {
            name(named, key, code.child_value(account, id));
        }
    }
}

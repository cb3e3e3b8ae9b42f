//! FPS (Hong Kong): the Faster Payment System in the HKMA Common QR Code
//! specification (HKQR).
//!
//! Sources: odoo/odoo `addons/l10n_hk/models/res_bank.py` (citing the HKMA
//! Common QR Code Specification: GUID `hk.com.hkicl`, FPS id 02, mobile 03,
//! email 04; HKD or CNY only); DemChing/hkqr-fps `src/lib/merchantID.ts`
//! (tag 26 reserved for FPS) and `src/FPS/config.ts` (clearing codes);
//! nessgor/fps-hk-qrcode `js/emv-code.js`; KwongHauLim/HaLi.FPS
//! `Builder.cs` (06 amount editable).

use std::borrow::Cow;

use super::{account_with, bad, currency_and_country, guid_in, local_time_ms, name};
use crate::mpm::Code;
use crate::profile::{Context, Expiry, Named, Profile};
use crate::rule::Violation;
use crate::tlv::Tlv;

const GUID: &[&str] = &["hk.com.hkicl"];

/// Hong Kong time, UTC+8 all year.
const HKT: i8 = 8;

#[derive(Debug)]
pub struct Fps;

pub static FPS: Fps = Fps;

impl Profile for Fps {
    fn scheme(&self) -> &'static str {
        "fps"
    }

    fn country(&self) -> Option<&'static str> {
        Some("HK")
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
            "FPS",
            ("fps.currency", "fps.country"),
            &["344", "156"],
            &["HK"],
        );
        let path = super::Id(t.id);
        let ids = [2u8, 3, 4]
            .iter()
            .filter(|i| code.child(t, **i).is_some())
            .count();
        require!(
            ids > 0,
            out,
            "fps.proxy",
            &format!("{path}.02-04"),
            format!(
                "an FPS template (tag {path}) names the payee by FPS id (02), mobile (03) or email (04)"
            ),
        );
        if ids > 1 {
            bad(
                out,
                "fps.proxy",
                t,
                &path.to_string(),
                format!(
                    "an FPS template (tag {path}) names the payee once; this one has {ids} of 02, 03, 04"
                ),
            );
        }
        if let Some(x) = code.child(t, 5) {
            match local_time_ms(x.value, HKT) {
                Some(_) => {}
                None => bad(
                    out,
                    "fps.merchant_timeout",
                    x,
                    &format!("{path}.05"),
                    format!(
                        "the FPS merchant timeout {:?} is not a date-time (YYMMDDhhmmss)",
                        x.value
                    ),
                ),
            }
        }
    }

    fn expiry(&self, code: &Code<'_>) -> Option<Expiry> {
        let t = account_with(code, GUID)?;
        let at_unix_ms = local_time_ms(code.child(t, 5)?.value, HKT)?;
        Some(Expiry {
            at_unix_ms,
            tag: format!("{:02}.05", t.id),
            rule: "fps.merchant_timeout",
        })
    }

    fn named<'a>(&self, code: &Code<'a>, account: &Tlv<'a>, named: &mut Named<'a>) {
        name(named, "clearing_code", code.child_value(account, 1));
        name(named, "fps_id", code.child_value(account, 2));
        name(named, "mobile", code.child_value(account, 3));
        name(named, "email", code.child_value(account, 4));
        name(named, "merchant_timeout", code.child_value(account, 5));
        if let Some(v) = code.child_value(account, 6) {
            named.push((
                "amount_editable",
                Cow::Borrowed(if v == "1" { "true" } else { "false" }),
            ));
        }
    }
}

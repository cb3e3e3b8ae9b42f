//! DuitNow QR (Malaysia): PayNet's national QR standard.
//!
//! Sources: PayNet DuitNow QR specification v1.5, "QR data object" page
//! (docs.developer.paynet.my, merchant-presented mode): payload format
//! indicator "Version 02", merchant account information in 26, currency 458;
//! the AID A0000006150001 as written by odoo's `l10n_my` module
//! (`models/res_bank.py`: acquirer id 01 up to 6 digits, QR id 02 up to 28
//! alphanumerics) and every issued code found.

use super::{currency_and_country, guid_in, name};
use crate::mpm::Code;
use crate::profile::{Context, Named, Profile, Tolerance};
use crate::rule::{Rule, Violation};
use crate::tlv::Tlv;

const AID: &[&str] = &["A0000006150001"];

#[derive(Debug)]
pub struct DuitNow;

pub static DUITNOW: DuitNow = DuitNow;

impl Profile for DuitNow {
    fn scheme(&self) -> &'static str {
        "duitnow"
    }

    fn country(&self) -> Option<&'static str> {
        Some("MY")
    }

    fn recognises(&self, _code: &Code<'_>, _account: &Tlv<'_>, guid: Option<&str>) -> bool {
        guid_in(guid, AID)
    }

    fn tolerances(&self) -> &'static [Tolerance] {
        const T: &[Tolerance] = &[
            Tolerance {
                rule: Rule::FormatIndicator,
                source: "PayNet DuitNow QR specification v1.5, QR data object: the payload format indicator is 'Version 02' (odoo l10n_my writes 02 as well)",
            },
            Tolerance {
                rule: Rule::TemplateWellFormed,
                source: "DuitNow codes issued through Razer and RHB carry a 32-hex-digit reference in unreserved tag 82, not a template (natsu90/duitnowqr-razer readme.md, 'DUITNOW_REF82'; real codes in natsu90/duitnowqr-test test.js)",
            },
        ];
        T
    }

    fn check(&self, code: &Code<'_>, _context: &Context, out: &mut Vec<Violation>) {
        // (Format indicators other than 01 and 02 never get this far.)
        currency_and_country(
            code,
            out,
            "DuitNow",
            ("duitnow.currency", "duitnow.country"),
            &["458"],
            &["MY"],
        );
    }

    fn named<'a>(&self, code: &Code<'a>, account: &Tlv<'a>, named: &mut Named<'a>) {
        name(named, "acquirer_id", code.child_value(account, 1));
        name(named, "merchant_id", code.child_value(account, 2));
    }
}

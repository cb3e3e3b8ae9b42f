//! QR Ph (Philippines): the BSP / Philippine Payments Management (PPMI)
//! national QR standard.
//!
//! Sources: PayMongo's QR transfer API reference
//! (developers.paymongo.com/reference/qr-transfer-resource: P2P template
//! GUID `com.p2pqrpay`, receiving institution BIC, credit account, mobile)
//! and its execute-transfer reference (`***` placeholders in tag 62); the
//! QR Ph P2M analysis at afcsblog.ingonoka.com ("qrphpart4": tag 28 GUID
//! `ph.ppmi.p2m`, acquirer BIC 01, merchant id 03); codes issued by GCash,
//! BDO, Maya and Landbank.

use std::borrow::Cow;

use super::{account_with, bad, currency_and_country, guid, guid_in, name};
use crate::mpm::Code;
use crate::profile::{Context, Named, Profile};
use crate::rule::Violation;
use crate::tlv::Tlv;

const P2P: &[&str] = &["com.p2pqrpay"];
const P2M: &[&str] = &["ph.ppmi.p2m", "ph.ppmi.p2micro"];

#[derive(Debug)]
pub struct QrPh;

pub static QRPH: QrPh = QrPh;

impl Profile for QrPh {
    fn scheme(&self) -> &'static str {
        "qrph"
    }

    fn country(&self) -> Option<&'static str> {
        Some("PH")
    }

    fn recognises(&self, _code: &Code<'_>, _account: &Tlv<'_>, guid: Option<&str>) -> bool {
        guid_in(guid, P2P) || guid_in(guid, P2M)
    }

    fn check(&self, code: &Code<'_>, _context: &Context, out: &mut Vec<Violation>) {
        let Some(t) = account_with(code, P2P).or_else(|| account_with(code, P2M)) else {
            return;
        };
        currency_and_country(
            code,
            out,
            "QR Ph",
            ("qrph.currency", "qrph.country"),
            &["608"],
            &["PH"],
        );
        let path = super::Id(t.id);
        match code.child(t, 1) {
            None => require!(
                false,
                out,
                "qrph.bic",
                &format!("{path}.01"),
                format!(
                    "a QR Ph template (tag {path}) names the receiving institution's BIC in 01"
                ),
            ),
            Some(b)
                if !(matches!(b.value.len(), 8 | 11)
                    && b.value.bytes().all(|c| c.is_ascii_alphanumeric())) =>
            {
                bad(
                    out,
                    "qrph.bic",
                    b,
                    &format!("{path}.01"),
                    format!("a BIC is 8 or 11 letters and digits; this is {:?}", b.value),
                );
            }
            Some(_) => {}
        }
    }

    fn named<'a>(&self, code: &Code<'a>, account: &Tlv<'a>, named: &mut Named<'a>) {
        if guid(code, account).is_some_and(|g| P2P.iter().any(|p| p.eq_ignore_ascii_case(g))) {
            named.push(("kind", Cow::Borrowed("p2p")));
            name(named, "bic", code.child_value(account, 1));
            name(named, "credit_account", code.child_value(account, 4));
            name(named, "mobile", code.child_value(account, 5));
        } else {
            named.push(("kind", Cow::Borrowed("p2m")));
            name(named, "acquirer_bic", code.child_value(account, 1));
            name(named, "merchant_id", code.child_value(account, 3));
        }
    }
}

//! QRIS (Indonesia): Bank Indonesia's national QR standard (Standar
//! Nasional QR Code Pembayaran, ASPI).
//!
//! Sources: the standard's sections as quoted in the validators of
//! astrapay/spring-qris (`QrisDataObject.java`, `MerchantCriteria.java`,
//! `TransactionCurrencyValidator.java`, `PostalCodeValidator.java`); the
//! pub.dev `qris` package documentation (tag 51 may coexist with issuer
//! templates 26-45).
//!
//! Tag 51 (`ID.CO.QRIS.WWW`, formerly `ID.OR.GPNQR.WWW`) is the national
//! repository entry with the NMID (02) and merchant criteria (03); tags 26-45
//! are issuer/acquirer templates with a reverse-domain id, the merchant PAN
//! (01, whose first 8 digits are the national numbering system code, 9360…),
//! the merchant id (02) and criteria (03).

use std::borrow::Cow;

use super::{account_with, bad, currency_and_country, guid, guid_in, guid_is, name};
use crate::mpm::Code;
use crate::profile::{Context, Named, Profile};
use crate::rule::Violation;
use crate::tlv::Tlv;

const REPOSITORY: &[&str] = &["ID.CO.QRIS.WWW", "ID.OR.GPNQR.WWW"];

/// Merchant criteria (the standard's table 4.6).
const CRITERIA: &[(&str, &str)] = &[
    ("UMI", "micro"),
    ("UKE", "small"),
    ("UME", "medium"),
    ("UBE", "large"),
    ("URE", "regular"),
    ("PSO", "public_service_obligation"),
    ("BLU", "public_service_agency"),
];

#[derive(Debug)]
pub struct Qris;

pub static QRIS: Qris = Qris;

fn is_issuer_template(code: &Code<'_>, t: &Tlv<'_>) -> bool {
    (26..=45).contains(&t.id)
        && t.is_template()
        && (code.child_value(t, 1).is_some_and(|pan| {
            // A national merchant PAN (16-19 digits from 9360) under an
            // issuer's own reverse-domain id, not another scheme's AID.
            pan.starts_with("9360")
                && (16..=19).contains(&pan.len())
                && pan.bytes().all(|b| b.is_ascii_digit())
                && !code
                    .child_value(t, 0)
                    .is_some_and(|g| g.starts_with("A000"))
        }) || (code.value(58) == Some("ID") && account_with(code, REPOSITORY).is_some()))
}

impl Profile for Qris {
    fn scheme(&self) -> &'static str {
        "qris"
    }

    fn country(&self) -> Option<&'static str> {
        Some("ID")
    }

    fn recognises(&self, code: &Code<'_>, account: &Tlv<'_>, guid: Option<&str>) -> bool {
        guid_in(guid, REPOSITORY) || is_issuer_template(code, account)
    }

    fn check(&self, code: &Code<'_>, _context: &Context, out: &mut Vec<Violation>) {
        if code.value(58) == Some("ID") {
            currency_and_country(
                code,
                out,
                "QRIS",
                ("qris.currency", "qris.country"),
                &["360"],
                &["ID"],
            );
            require!(
                code.get(61).is_some(),
                out,
                "qris.postal_code",
                "61",
                "a QRIS code of an Indonesian merchant carries its postal code (tag 61)"
                    .to_string(),
            );
        }
        if let Some(t) = account_with(code, REPOSITORY) {
            let path = super::Id(t.id);
            require!(
                code.child(t, 2).is_some(),
                out,
                "qris.nmid",
                &format!("{path}.02"),
                format!(
                    "the QRIS repository entry (tag {path}) carries the national merchant id (NMID) in 02"
                ),
            );
        }
        for t in code
            .tree
            .objects()
            .iter()
            .filter(|t| guid_is(code, t, REPOSITORY) || is_issuer_template(code, t))
        {
            if let Some(c) = code.child(t, 3)
                && !CRITERIA.iter().any(|(k, _)| *k == c.value)
            {
                bad(
                    out,
                    "qris.merchant_criteria",
                    c,
                    &format!("{:02}.03", t.id),
                    format!(
                        "QRIS merchant criteria are UMI, UKE, UME, UBE, URE, PSO or BLU; this is {:?}",
                        c.value
                    ),
                );
            }
            if let Some(pan) = code.child(t, 1).filter(|_| !guid_is(code, t, REPOSITORY))
                && !(super::digits(pan.value) && pan.value.len() <= 19)
            {
                bad(
                    out,
                    "qris.merchant_pan",
                    pan,
                    &format!("{:02}.01", t.id),
                    format!(
                        "a QRIS merchant PAN is up to 19 digits; this is {:?}",
                        pan.value
                    ),
                );
            }
        }
    }

    fn named<'a>(&self, code: &Code<'a>, account: &Tlv<'a>, named: &mut Named<'a>) {
        if guid_is(code, account, REPOSITORY) {
            named.push(("role", Cow::Borrowed("national_repository")));
            name(named, "nmid", code.child_value(account, 2));
        } else {
            named.push(("role", Cow::Borrowed("issuer")));
            name(named, "issuer_domain", guid(code, account));
            name(named, "merchant_pan", code.child_value(account, 1));
            name(
                named,
                "nns",
                code.child_value(account, 1).and_then(|p| p.get(..8)),
            );
            name(named, "merchant_id", code.child_value(account, 2));
        }
        if let Some(c) = code.child_value(account, 3) {
            named.push(("merchant_criteria", Cow::Borrowed(c)));
            if let Some((_, n)) = CRITERIA.iter().find(|(k, _)| *k == c) {
                named.push(("merchant_criteria_name", Cow::Borrowed(n)));
            }
        }
    }
}

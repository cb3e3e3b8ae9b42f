//! Pix (Brazil): the Banco Central do Brasil's BR Code.
//!
//! Sources: BCB "Manual de Padrões para Iniciação do Pix" (BR Code
//! sections, as quoted by the examples in gist matheusb-comp/1efa205b and
//! fliphtml5 "PIX_Manual_BCB"); the validator in
//! stone-payments/ex-pix-brcode `lib/ex_pix_brcode/brcode/models/brcode.ex`:
//! GUI `br.gov.bcb.pix` in tag 26 (either case), key 01 (1-77) or the
//! dynamic payload's URL 25 without scheme (1-77), additional info 02 only
//! with a key, 62.05 txid (`***` when there is none), currency 986,
//! country BR. A dynamic code's URL is reported, never fetched.

use std::borrow::Cow;

use super::{account_with, bad, currency_and_country, guid_in, name};
use crate::mpm::Code;
use crate::profile::{Context, Named, Profile, Tolerance};
use crate::rule::{Rule, Violation};
use crate::tlv::Tlv;

const GUI: &[&str] = &["br.gov.bcb.pix"];

#[derive(Debug)]
pub struct Pix;

pub static PIX: Pix = Pix;

/// The kind of a Pix key (chave), from its form.
fn key_type(key: &str) -> &'static str {
    let digits = super::digits(key);
    if digits && key.len() == 11 {
        "cpf"
    } else if digits && key.len() == 14 {
        "cnpj"
    } else if key.starts_with('+') && super::digits(key.get(1..).unwrap_or_default()) {
        "phone"
    } else if key.contains('@') {
        "email"
    } else if key.len() == 36 && key.bytes().filter(|b| *b == b'-').count() == 4 {
        "evp"
    } else {
        "unknown"
    }
}

impl Profile for Pix {
    fn scheme(&self) -> &'static str {
        "pix"
    }

    fn country(&self) -> Option<&'static str> {
        Some("BR")
    }

    fn recognises(&self, _code: &Code<'_>, _account: &Tlv<'_>, guid: Option<&str>) -> bool {
        guid_in(guid, GUI)
    }

    fn tolerances(&self) -> &'static [Tolerance] {
        const T: &[Tolerance] = &[
            Tolerance {
                rule: Rule::MerchantCityLength,
                source: "Pix codes issued by Brazilian banks write cities longer than 15 characters ('PRESIDENTE PRUDENTE', a published BR Code); payers' apps accept them",
            },
            Tolerance {
                rule: Rule::CommonCharacterSet,
                source: "Pix codes in circulation carry accented merchant names and cities ('BRASÍLIA'); payers' apps accept them (the BCB manual asks for ASCII without accents)",
            },
        ];
        T
    }

    fn check(&self, code: &Code<'_>, _context: &Context, out: &mut Vec<Violation>) {
        let Some(t) = account_with(code, GUI) else {
            return;
        };
        currency_and_country(
            code,
            out,
            "Pix",
            ("pix.currency", "pix.country"),
            &["986"],
            &["BR"],
        );
        let path = super::Id(t.id);
        let (key, url) = (code.child(t, 1), code.child(t, 25));
        match (key, url) {
            (None, None) => require!(
                false,
                out,
                "pix.key_or_url",
                &format!("{path}.01"),
                format!(
                    "a Pix template (tag {path}) carries a key (01) or a dynamic payload URL (25)"
                ),
            ),
            (Some(_), Some(u)) => bad(
                out,
                "pix.key_or_url",
                u,
                &format!("{path}.25"),
                format!("a Pix template (tag {path}) carries a key (01) or a URL (25), not both"),
            ),
            _ => {}
        }
        if let Some(k) = key
            && k.value.len() > 77
            && k.value.chars().count() > 77
        {
            bad(
                out,
                "pix.key",
                k,
                &format!("{path}.01"),
                "a Pix key is at most 77 characters".to_string(),
            );
        }
        if let Some(u) = url {
            if u.value.contains("://") {
                bad(
                    out,
                    "pix.url",
                    u,
                    &format!("{path}.25"),
                    format!(
                        "the Pix payload URL (tag {path}.25) is written without its scheme; this is {:?}",
                        u.value
                    ),
                );
            }
            if let Some(i) = code.child(t, 2) {
                bad(
                    out,
                    "pix.additional_info",
                    i,
                    &format!("{path}.02"),
                    "a dynamic Pix code (URL in 25) carries no additional information (02)"
                        .to_string(),
                );
            }
        }
        // The txid rides in 62.05 (`***` when there is none). Its form is
        // not checked: the BCB manual's own dynamic example writes
        // "RP12345678-2019", and for dynamic codes the payer's bank ignores it.
        require!(
            code.get(62).and_then(|t| code.child(t, 5)).is_some(),
            out,
            "pix.txid",
            "62.05",
            "a Pix code carries its txid in tag 62.05 (*** when there is none)".to_string(),
        );
    }

    fn named<'a>(&self, code: &Code<'a>, account: &Tlv<'a>, named: &mut Named<'a>) {
        if let Some(k) = code.child_value(account, 1) {
            named.push(("kind", Cow::Borrowed("static")));
            named.push(("key", Cow::Borrowed(k)));
            named.push(("key_type", Cow::Borrowed(key_type(k))));
        }
        if let Some(u) = code.child_value(account, 25) {
            named.push(("kind", Cow::Borrowed("dynamic")));
            // Reported as written (scheme-less); never fetched here.
            named.push(("url", Cow::Borrowed(u)));
            named.push((
                "url_kind",
                Cow::Borrowed(if u.contains("cobv") {
                    "due_date"
                } else {
                    "immediate"
                }),
            ));
        }
        name(named, "additional_info", code.child_value(account, 2));
        name(
            named,
            "txid",
            code.get(62).and_then(|t| code.child_value(t, 5)),
        );
    }
}

//! PromptPay (Thailand): the Bank of Thailand's Thai QR Payment standard.
//!
//! Sources: the Thai QR Payment field reference reproduced at
//! thai-qr-payment.js.org/reference/spec (uunw/thai-qr-payment
//! `docs/src/content/docs/reference/spec.md`); the generators
//! dtinth/promptpay-qr `index.js` and maythiwat/promptparse
//! `src/generate/promptpay/AnyID.ts`, `BillPayment.ts` and their validators;
//! odoo/odoo `addons/l10n_th/models/res_bank.py`.
//!
//! Tag 29 is a credit transfer to a PromptPay proxy (AID A000000677010111,
//! or …0114 with a one-time authorisation); tag 30 a bill payment (AID
//! A000000677010112, or …012006 cross-border).

use std::borrow::Cow;

use super::{account_with, bad, currency_and_country, guid, guid_in, name};
use crate::mpm::Code;
use crate::profile::{Context, Named, Profile, Tolerance};
use crate::rule::{Rule, Violation};
use crate::tlv::Tlv;

const CREDIT_TRANSFER: &[&str] = &["A000000677010111", "A000000677010114"];
const BILL_PAYMENT: &[&str] = &["A000000677010112"];
const BILL_PAYMENT_CROSS_BORDER: &[&str] = &["A000000677012006"];

const OMITTED: &str = "PromptPay codes as the Thai banking apps and the reference generators issue them carry no MCC, merchant name or city (dtinth/promptpay-qr index.js; maythiwat/promptparse AnyID.ts and BillPayment.ts; chokchai9900/QR_Wiki 'Base Example')";

#[derive(Debug)]
pub struct PromptPay;

pub static PROMPTPAY: PromptPay = PromptPay;

impl Profile for PromptPay {
    fn scheme(&self) -> &'static str {
        "promptpay"
    }

    fn country(&self) -> Option<&'static str> {
        Some("TH")
    }

    fn recognises(&self, _code: &Code<'_>, _account: &Tlv<'_>, guid: Option<&str>) -> bool {
        guid_in(guid, CREDIT_TRANSFER)
            || guid_in(guid, BILL_PAYMENT)
            || guid_in(guid, BILL_PAYMENT_CROSS_BORDER)
    }

    fn tolerances(&self) -> &'static [Tolerance] {
        const T: &[Tolerance] = &[
            Tolerance {
                rule: Rule::MccPresent,
                source: OMITTED,
            },
            Tolerance {
                rule: Rule::MerchantNamePresent,
                source: OMITTED,
            },
            Tolerance {
                rule: Rule::MerchantCityPresent,
                source: OMITTED,
            },
            Tolerance {
                rule: Rule::TemplateWellFormed,
                source: "TrueMoney Wallet PromptPay codes carry a personal message in top-level tag 81 as UTF-16BE hex, not as a template (Thai QR Payment field reference, thai-qr-payment.js.org/reference/spec; maythiwat/promptparse test vector)",
            },
        ];
        T
    }

    fn check(&self, code: &Code<'_>, _context: &Context, out: &mut Vec<Violation>) {
        let domestic =
            account_with(code, CREDIT_TRANSFER).or_else(|| account_with(code, BILL_PAYMENT));
        if domestic.is_some() {
            // Domestic PromptPay is always baht in Thailand.
            currency_and_country(
                code,
                out,
                "PromptPay",
                ("promptpay.currency", "promptpay.country"),
                &["764"],
                &["TH"],
            );
        }
        if let Some(t) = account_with(code, CREDIT_TRANSFER) {
            let path = super::Id(t.id);
            let proxies = [1u8, 2, 3, 4]
                .iter()
                .filter(|i| code.child(t, **i).is_some())
                .count();
            require!(
                proxies > 0,
                out,
                "promptpay.proxy",
                &format!("{path}.01-04"),
                format!(
                    "a PromptPay credit transfer (tag {path}) names its receiver in one of 01 (mobile), 02 (national or tax id), 03 (e-wallet) or 04 (bank account)"
                ),
            );
            if proxies > 1 {
                bad(
                    out,
                    "promptpay.proxy",
                    t,
                    &path.to_string(),
                    format!(
                        "a PromptPay credit transfer (tag {path}) names exactly one receiver; this one has {proxies}"
                    ),
                );
            }
            if let Some(m) = code.child(t, 1)
                && !(m.value.len() == 13 && super::digits(m.value) && m.value.starts_with("0066"))
            {
                bad(
                    out,
                    "promptpay.mobile",
                    m,
                    &format!("{path}.01"),
                    format!(
                        "a PromptPay mobile proxy is 13 digits, 0066 and the number without its leading 0; this one is {:?}",
                        m.value
                    ),
                );
            }
            if let Some(n) = code.child(t, 2)
                && !(n.value.len() == 13 && super::digits(n.value))
            {
                bad(
                    out,
                    "promptpay.national_id",
                    n,
                    &format!("{path}.02"),
                    format!(
                        "a PromptPay national or tax id is 13 digits; this one is {:?}",
                        n.value
                    ),
                );
            }
        }
        if let Some(t) = account_with(code, BILL_PAYMENT)
            .or_else(|| account_with(code, BILL_PAYMENT_CROSS_BORDER))
        {
            let path = super::Id(t.id);
            require!(
                code.child(t, 1).is_some(),
                out,
                "promptpay.biller_id",
                &format!("{path}.01"),
                format!("a PromptPay bill payment (tag {path}) carries the biller id in 01"),
            );
            require!(
                code.child(t, 2).is_some(),
                out,
                "promptpay.reference_1",
                &format!("{path}.02"),
                format!("a PromptPay bill payment (tag {path}) carries reference 1 in 02"),
            );
        }
    }

    fn named<'a>(&self, code: &Code<'a>, account: &Tlv<'a>, named: &mut Named<'a>) {
        let Some(g) = guid(code, account) else { return };
        if CREDIT_TRANSFER.iter().any(|a| a.eq_ignore_ascii_case(g)) {
            named.push(("service", Cow::Borrowed("credit_transfer")));
            let proxy = [
                (1u8, "mobile"),
                (2, "national_id"),
                (3, "ewallet_id"),
                (4, "bank_account"),
            ]
            .into_iter()
            .find_map(|(id, kind)| code.child_value(account, id).map(|v| (kind, v)));
            if let Some((kind, value)) = proxy {
                named.push(("proxy_type", Cow::Borrowed(kind)));
                named.push(("proxy", Cow::Borrowed(value)));
                if kind == "mobile" && value.len() == 13 && value.starts_with("0066") {
                    // 0066812345678 is the Thai mobile 081-234-5678.
                    named.push((
                        "mobile_number",
                        Cow::Owned(format!("0{}", value.get(4..).unwrap_or_default())),
                    ));
                }
            }
            name(named, "ota", code.child_value(account, 5));
        } else {
            let cross_border = BILL_PAYMENT_CROSS_BORDER
                .iter()
                .any(|a| a.eq_ignore_ascii_case(g));
            named.push((
                "service",
                Cow::Borrowed(if cross_border {
                    "bill_payment_cross_border"
                } else {
                    "bill_payment"
                }),
            ));
            name(named, "biller_id", code.child_value(account, 1));
            name(named, "reference_1", code.child_value(account, 2));
            name(named, "reference_2", code.child_value(account, 3));
            // "Reference 3" rides in the terminal label (promptparse).
            name(
                named,
                "reference_3",
                code.get(62).and_then(|t| code.child_value(t, 7)),
            );
        }
    }
}

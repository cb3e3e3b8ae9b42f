//! UnionPay: China UnionPay's merchant QR, carried alone or inside other
//! national codes (SGQR, HKQR, KHQR, NepalPay, Bangla QR).
//!
//! Sources: EMVCo MPM v1.1 table 4.2 (ids 15-16 for UnionPay); the 31-digit
//! value of tag 15 as acquirer IIN (8), forwarding IIN (8) and merchant id
//! (15), as decoded in public UnionPay QR decoders and seen in the SGQR
//! specification sample and issued codes from Singapore, Hong Kong, Nepal
//! and Bangladesh. No public UnionPay QR specification was found; template
//! forms with AID A000000333… are recognised too.

use super::name;
use crate::mpm::Code;
use crate::profile::{Named, Profile, Tolerance};
use crate::rule::Rule;
use crate::tlv::Tlv;

#[derive(Debug)]
pub struct UnionPay;

pub static UNIONPAY: UnionPay = UnionPay;

impl Profile for UnionPay {
    fn scheme(&self) -> &'static str {
        "unionpay"
    }

    fn country(&self) -> Option<&'static str> {
        Some("CN")
    }

    fn recognises(&self, _code: &Code<'_>, account: &Tlv<'_>, guid: Option<&str>) -> bool {
        matches!(account.id, 15 | 16)
            || guid.is_some_and(|g| {
                g.len() >= 10
                    && g.get(..10)
                        .is_some_and(|p| p.eq_ignore_ascii_case("A000000333"))
            })
    }

    fn tolerances(&self) -> &'static [Tolerance] {
        const T: &[Tolerance] = &[Tolerance {
            rule: Rule::CrcUppercase,
            source: "UnionPay merchant codes issued in Nepal print lowercase CRC digits ('af24'); UnionPay apps accept them",
        }];
        T
    }

    fn named<'a>(&self, _code: &Code<'a>, account: &Tlv<'a>, named: &mut Named<'a>) {
        let v = account.value;
        if !account.is_template() && v.len() == 31 && v.is_ascii() {
            name(named, "acquirer_iin", v.get(..8));
            name(named, "forwarding_iin", v.get(8..16));
            name(named, "merchant_id", v.get(16..));
        }
    }
}

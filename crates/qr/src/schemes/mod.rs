//! The national scheme profiles (SPEC §2.1). One module per scheme, each
//! naming in its header the public documents its rules come from; helpers
//! shared by several schemes live here.

use std::borrow::Cow;

use crate::error::ErrorCode;
use crate::mpm::Code;
use crate::profile::{Named, Profile};
use crate::rule::Violation;
use crate::tlv::Tlv;

/// A tag the scheme makes mandatory: `require!(present, out, rule, tag,
/// message)`. A macro so the tag and message are only formatted when the
/// tag is missing (this runs on every decode).
macro_rules! require {
    ($present:expr, $out:expr, $rule:expr, $tag:expr, $message:expr $(,)?) => {
        if !$present {
            $out.push($crate::rule::Violation::scheme(
                $rule,
                $crate::error::ErrorCode::MissingTag,
                ($tag).to_string(),
                None,
                $message,
            ));
        }
    };
}

pub mod duitnow;
pub mod fps;
pub mod jpqr;
pub mod khqr;
pub mod paynow;
pub mod pix;
pub mod promptpay;
pub mod qris;
pub mod qrph;
pub mod unionpay;
pub mod upi;
pub mod vietqr;

/// Every scheme profile, in precedence order: when a code carries several
/// schemes of the merchant's country the first listed governs, so an
/// umbrella scheme (SGQR) comes before the schemes it carries (PayNow), and
/// UnionPay, carried inside many national codes, comes last.
pub static ALL: &[&dyn Profile] = &[
    &paynow::SGQR,
    &paynow::PAYNOW,
    &promptpay::PROMPTPAY,
    &qris::QRIS,
    &duitnow::DUITNOW,
    &fps::FPS,
    &vietqr::VIETQR,
    &khqr::KHQR,
    &qrph::QRPH,
    &pix::PIX,
    &upi::UPI,
    &jpqr::JPQR,
    &unionpay::UNIONPAY,
];

/// A tag id shown as two digits, formatted only when a message needs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Id(pub u8);

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}", self.0)
    }
}

/// The template's globally unique identifier (sub-tag 00).
pub(crate) fn guid<'a>(code: &Code<'a>, t: &Tlv<'a>) -> Option<&'a str> {
    code.child_value(t, 0)
}

/// Whether the template's id is one of `ids`, ignoring ASCII case (issued
/// codes write `br.gov.bcb.pix` and `BR.GOV.BCB.PIX`, `hk.com.hkicl` and
/// `HK.COM.HKICL`).
pub(crate) fn guid_is<'a>(code: &Code<'a>, t: &Tlv<'a>, ids: &[&str]) -> bool {
    guid_in(guid(code, t), ids)
}

/// `a` and `b` equal but for ASCII case: one plain pass over the bytes (ids
/// are short; this runs for every account against every scheme's ids).
fn same_id(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| x == y || (x ^ y == 0x20 && (x | 0x20).is_ascii_lowercase()))
}

/// Whether a template id (sub-tag 00, read once per account by the
/// decoder) is one of `ids`, ignoring ASCII case.
pub(crate) fn guid_in(guid: Option<&str>, ids: &[&str]) -> bool {
    guid.is_some_and(|g| ids.iter().any(|id| same_id(g, id)))
}

/// The first merchant account template (26-51) of `code` whose id is one
/// of `ids`.
pub(crate) fn account_with<'c, 'a>(code: &'c Code<'a>, ids: &[&str]) -> Option<&'c Tlv<'a>> {
    code.tree
        .objects()
        .iter()
        .find(|t| (26..=51).contains(&t.id) && guid_is(code, t, ids))
}

/// Add a named field when the value is there.
pub(crate) fn name<'a>(named: &mut Named<'a>, key: &'static str, value: Option<&'a str>) {
    if let Some(v) = value {
        named.push((key, Cow::Borrowed(v)));
    }
}

/// The scheme's fixed currency and country: a present tag 53 / 58 must hold
/// one of the allowed values (absence is the generic rules' business).
pub(crate) fn currency_and_country(
    code: &Code<'_>,
    out: &mut Vec<Violation>,
    scheme: &'static str,
    rules: (&'static str, &'static str),
    currencies: &[&str],
    countries: &[&str],
) {
    fixed_value(
        code,
        out,
        scheme,
        53,
        rules.0,
        currencies,
        "transaction currency",
    );
    fixed_value(code, out, scheme, 58, rules.1, countries, "country code");
}

/// A present top-level `tag` must hold one of `allowed`.
fn fixed_value(
    code: &Code<'_>,
    out: &mut Vec<Violation>,
    scheme: &'static str,
    tag: u8,
    rule: &'static str,
    allowed: &[&str],
    what: &str,
) {
    let Some(t) = code.get(tag) else {
        return;
    };
    // Values of two or three characters: compared in place rather than by
    // a call to `memcmp` each (this runs on every decode).
    let v = t.value.as_bytes();
    if allowed
        .iter()
        .any(|a| a.len() == v.len() && a.bytes().zip(v).all(|(x, &y)| x == y))
    {
        return;
    }
    out.push(Violation::scheme(
        rule,
        ErrorCode::BadValue,
        format!("{tag:02}"),
        Some(t.position),
        format!(
            "{scheme} codes carry {what} (tag {tag:02}) {}; this one has {:?}",
            allowed.join(" or "),
            t.value
        ),
    ));
}

/// A value that breaks a scheme's format rule.
pub(crate) fn bad(
    out: &mut Vec<Violation>,
    rule: &'static str,
    t: &Tlv<'_>,
    tag: &str,
    message: String,
) {
    out.push(Violation::scheme(
        rule,
        ErrorCode::BadValue,
        tag.to_string(),
        Some(t.position),
        message,
    ));
}

/// Whether `s` is non-empty ASCII digits.
pub(crate) fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A local date (`YYYYMMDD`), date-time (`YYYYMMDDhhmmss`) or two-digit-year
/// date-time (`YYMMDDhhmmss`) at a fixed UTC offset, as Unix milliseconds. A
/// bare date means the end of that day.
pub(crate) fn local_time_ms(text: &str, utc_offset_hours: i8) -> Option<i64> {
    if !digits(text) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| text.get(r)?.parse::<i16>().ok();
    let (y, rest) = match text.len() {
        8 | 14 => (n(0..4)?, 4),
        12 => (2000 + n(0..2)?, 2),
        _ => return None,
    };
    let (mo, d) = (n(rest..rest + 2)?, n(rest + 2..rest + 4)?);
    let (h, mi, s) = if text.len() == 8 {
        (23, 59, 59)
    } else {
        (
            n(rest + 4..rest + 6)?,
            n(rest + 6..rest + 8)?,
            n(rest + 8..rest + 10)?,
        )
    };
    let dt = jiff::civil::DateTime::new(
        y,
        i8::try_from(mo).ok()?,
        i8::try_from(d).ok()?,
        i8::try_from(h).ok()?,
        i8::try_from(mi).ok()?,
        i8::try_from(s).ok()?,
        0,
    )
    .ok()?;
    let offset = jiff::tz::Offset::constant(utc_offset_hours);
    let ts = offset.to_timestamp(dt).ok()?;
    Some(ts.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times() {
        // 2030-12-31 23:59:59 in Singapore (UTC+8) is 15:59:59 UTC.
        assert_eq!(local_time_ms("20301231", 8), Some(1_924_963_199_000));
        assert_eq!(local_time_ms("20301231235959", 8), Some(1_924_963_199_000));
        assert_eq!(local_time_ms("301231235959", 8), Some(1_924_963_199_000));
        assert_eq!(local_time_ms("20301332", 8), None);
        assert_eq!(local_time_ms("2030123", 8), None);
        assert_eq!(local_time_ms("abcdefgh", 8), None);
    }
}

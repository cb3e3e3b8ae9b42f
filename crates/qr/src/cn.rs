//! Domestic Chinese codes and UPI links: wallet payment codes (付款码)
//! recognised by length and issuer prefix, merchant URL codes recognised by
//! host, and `upi://pay` deep links.
//!
//! Sources:
//! - WeChat Pay payment code: 18 digits beginning 10-15 (10-14 mainland,
//!   15 Hong Kong) — WeChat Pay "Important parameters" for POS
//!   (pay.weixin.qq.com/wiki/doc/api/wxpay/en/guide/pos/ImportantParameters.shtml)
//!   and the micropay API's `auth_code` ("18位纯数字，以10、11、12、13、14、15开头").
//! - Alipay payment code: 16-24 digits beginning 25-30 — Alipay's SDK,
//!   `AlipayTradePayModel.auth_code` ("25~30开头的长度为16~24位的数字").
//! - UnionPay (云闪付) payment code: 19 digits beginning 62 — jeequan/jeepay
//!   `JeepayKit.getPayWayCodeByBarCode` ("19位 + 62开头"); no public UnionPay
//!   page was found.
//! - Merchant URL codes: `qr.alipay.com` (Alipay's precreate `qr_code`),
//!   `wxp://`, `weixin://wxpay/`, `payapp.weixin.qq.com`, `wx.tenpay.com`
//!   (the prefixes WeChat's own scanner treats as WeChat Pay), and
//!   `qr.95516.com` (UnionPay).
//! - UPI: NPCI "UPI Linking Specifications" v1.6, §1.2 (parameters `pa`,
//!   `pn`, `mc`, `tid`, `tr`, `tn`, `am`, `mam`, `cu`, `url`; `cu` only INR).
//!
//! A payment code is a bearer secret: the decoded view keeps its prefix,
//! length and last four digits, never the whole code.

use crate::amount::{Amount, parse_amount};
use crate::error::{DecodeError, ErrorCode};

/// A wallet payment code (a consumer's one-time code, scanned by the
/// merchant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentCode {
    pub scheme: &'static str,
    pub length: usize,
    pub prefix: String,
    pub last4: String,
    /// WeChat Pay: `mainland` (10-14) or `hong_kong` (15).
    pub region: Option<&'static str>,
}

/// Whether the payload is all digits (a payment code candidate).
pub fn looks_like_payment_code(payload: &str) -> bool {
    // The shortest payment code is 16 digits; an MPM payload starts "00".
    (12..=30).contains(&payload.len())
        && payload.bytes().all(|b| b.is_ascii_digit())
        && !payload.starts_with("00")
}

/// Recognise a payment code by its length and prefix.
pub fn payment_code(payload: &str) -> Result<PaymentCode, DecodeError> {
    let len = payload.len();
    let p2: u8 = payload.get(..2).and_then(|p| p.parse().ok()).unwrap_or(0);
    let (scheme, region) = match (p2, len) {
        (10..=14, 18) => ("wechatpay", Some("mainland")),
        (15, 18) => ("wechatpay", Some("hong_kong")),
        (25..=30, 16..=24) => ("alipay", None),
        (62, 19) => ("unionpay", None),
        _ => {
            return Err(DecodeError::new(
                ErrorCode::BadValue,
                format!(
                    "{len} digits beginning {p2:02} is not a payment code: WeChat Pay is 18 digits from 10-15, Alipay 16-24 from 25-30, UnionPay 19 from 62"
                ),
            )
            .at(0));
        }
    };
    Ok(PaymentCode {
        scheme,
        length: len,
        prefix: payload.get(..2).unwrap_or_default().to_string(),
        last4: payload.get(len - 4..).unwrap_or_default().to_string(),
        region,
    })
}

/// A merchant's URL code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerchantUrl {
    pub scheme: &'static str,
    pub url: String,
    /// `https`, `wxp`, `weixin`.
    pub url_scheme: String,
    pub host: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// The code's identifying token: the path after the host (Alipay,
    /// `wxp://`), the `pr` parameter (WeChat native pay), or the last path
    /// segment.
    pub token: Option<String>,
}

/// Whether the payload is a URL (`scheme://`).
pub fn looks_like_url(payload: &str) -> bool {
    // RFC 3986: a scheme is a letter, then letters, digits, '+', '-', '.'.
    payload.split_once("://").is_some_and(|(s, _)| {
        s.len() <= 16
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
    })
}

/// Recognise a merchant URL code by scheme and host (case-insensitively:
/// `HTTPS://QR.ALIPAY.COM/…` is written in capitals to fit QR alphanumeric
/// mode).
pub fn merchant_url(payload: &str) -> Result<MerchantUrl, DecodeError> {
    let parsed = url::Url::parse(payload).map_err(|e| {
        DecodeError::new(ErrorCode::BadValue, format!("not a valid URL: {e}")).at(0)
    })?;
    let url_scheme = parsed.scheme().to_ascii_lowercase();
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let scheme = match (url_scheme.as_str(), host.as_str()) {
        ("https" | "http", "qr.alipay.com") => "alipay",
        ("wxp", _) => "wechatpay",
        ("weixin", "wxpay") => "wechatpay",
        ("https" | "http", "payapp.weixin.qq.com" | "wx.tenpay.com") => "wechatpay",
        ("https" | "http", "qr.95516.com") => "unionpay",
        _ => {
            return Err(DecodeError::new(
                ErrorCode::BadValue,
                format!("{url_scheme}://{host} is not a known payment URL (qr.alipay.com, wxp://, weixin://wxpay, payapp.weixin.qq.com, wx.tenpay.com, qr.95516.com)"),
            )
            .at(0));
        }
    };
    let path = parsed.path().to_string();
    let query: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    // `wxp://f2f0…` carries its (case-sensitive) token where a host would
    // be, so it is taken from the payload as written.
    let opaque = payload
        .split_once("://")
        .map(|(_, rest)| rest.split(['?', '#']).next().unwrap_or_default())
        .unwrap_or_default();
    let token = query
        .iter()
        .find(|(k, _)| k == "pr")
        .map(|(_, v)| v.clone())
        .or_else(|| {
            if url_scheme == "wxp" {
                Some(opaque.trim_end_matches('/').to_string())
            } else {
                path.rsplit('/').find(|s| !s.is_empty()).map(str::to_string)
            }
        });
    Ok(MerchantUrl {
        scheme,
        url: payload.to_string(),
        url_scheme,
        host,
        path,
        query,
        token,
    })
}

/// A `upi://pay` deep link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpiUri {
    /// Every parameter in order, percent-decoded (leniently: a `%` that
    /// starts no valid escape is kept as written).
    pub params: Vec<(String, String)>,
    pub amount: Option<Amount>,
}

impl UpiUri {
    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Whether the payload is a UPI link.
pub fn looks_like_upi(payload: &str) -> bool {
    payload
        .get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("upi://"))
}

/// Decode a `upi://pay?…` link.
pub fn upi_uri(payload: &str) -> Result<UpiUri, DecodeError> {
    let rest = payload.get(6..).unwrap_or_default();
    let (action, query) = rest.split_once('?').unwrap_or((rest, ""));
    if !action.trim_end_matches('/').eq_ignore_ascii_case("pay") {
        return Err(DecodeError::new(
            ErrorCode::BadValue,
            format!("UPI link action {action:?} is not \"pay\""),
        )
        .at(6));
    }
    let params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    match get("pa") {
        None | Some("") => {
            return Err(DecodeError::new(
                ErrorCode::MissingTag,
                "a UPI link names the payee's VPA in pa",
            )
            .tag("pa"));
        }
        Some(pa) if !pa.contains('@') => {
            return Err(DecodeError::new(
                ErrorCode::BadValue,
                format!("the payee VPA (pa) {pa:?} is not of the form name@handle"),
            )
            .tag("pa"));
        }
        Some(_) => {}
    }
    if let Some(cu) = get("cu")
        && !cu.eq_ignore_ascii_case("INR")
    {
        return Err(DecodeError::new(
            ErrorCode::BadValue,
            format!("UPI links are in INR only; cu is {cu:?}"),
        )
        .tag("cu"));
    }
    if let Some(mc) = get("mc")
        && !(mc.len() == 4 && mc.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(DecodeError::new(
            ErrorCode::BadValue,
            format!("the merchant code (mc) {mc:?} is not four digits"),
        )
        .tag("mc"));
    }
    let amount = match get("am").filter(|a| !a.is_empty() && *a != "null") {
        None => None,
        Some(am) => {
            match parse_amount(am, 2) {
                Ok(a) if a.minor() > 0 => Some(a),
                _ => {
                    return Err(DecodeError::new(ErrorCode::BadValue, format!("the amount (am) {am:?} is not a positive decimal with at most two places")).tag("am"));
                }
            }
        }
    };
    Ok(UpiUri { params, amount })
}

/// Percent-decoding that keeps invalid escapes (`%K`) as written, and `+`
/// as a space (seen in issued links).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
        match b {
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_codes() {
        let w = payment_code("120061098828009406").unwrap();
        assert_eq!(
            (w.scheme, w.region, w.last4.as_str()),
            ("wechatpay", Some("mainland"), "9406")
        );
        assert_eq!(payment_code("28763443825664394").unwrap().scheme, "alipay");
        assert_eq!(
            payment_code("6212345678901234567").unwrap().scheme,
            "unionpay"
        );
        assert_eq!(
            payment_code("150061098828009406").unwrap().region,
            Some("hong_kong")
        );
        for bad in [
            "12006109882800940",
            "160061098828009406",
            "621234567890123456",
            "31763443825664394",
            "251234567890123",
        ] {
            assert_eq!(
                payment_code(bad).unwrap_err().code,
                ErrorCode::BadValue,
                "{bad}"
            );
        }
    }

    #[test]
    fn lenient_percent_decoding() {
        assert_eq!(percent_decode("Zeeshan%Khan"), "Zeeshan%Khan");
        assert_eq!(percent_decode("nadeem%20chinna"), "nadeem chinna");
        assert_eq!(percent_decode("a+b%"), "a b%");
    }
}

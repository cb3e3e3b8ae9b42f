//! QR payment codes.
//!
//! [`decode`] takes any payload (bytes or text) within the configured
//! [`Limits`], recognises its format — EMVCo merchant-presented ([`mpm`],
//! with each scheme's rules behind the [`profile::Profile`] trait) or
//! consumer-presented ([`cpm`]), a Chinese wallet's payment code, a merchant
//! URL code or a UPI link ([`cn`]) — and returns the validated view or a
//! [`DecodeError`] with a stable [`ErrorCode`].
//!
//! This crate does no I/O.

pub mod amount;
pub mod cn;
pub mod cpm;
mod crc;
pub mod encode;
pub mod error;
pub mod json;
pub mod mpm;
pub mod profile;
pub mod rule;
pub mod schemes;
pub mod tlv;

pub use crate::crc::crc16;
pub use crate::error::{DecodeError, ErrorCode};

/// Limits applied before any parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest payload accepted, in bytes of UTF-8.
    pub payload_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            payload_bytes_max: 4096,
        }
    }
}

/// How to decode.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub limits: Limits,
    /// Validate under this profile instead of the one the code's accounts
    /// select (`profile::by_name("emvco")` for strict generic EMVCo).
    pub profile: Option<&'static dyn profile::Profile>,
    /// What checks may know beyond the payload (the time, for expiry).
    pub context: profile::Context,
    /// Refuse a code whose own expiry has passed (error `expired`) instead
    /// of reporting `expired: true`. Paying needs this; decoding does not.
    pub refuse_expired: bool,
}

/// The kinds of payload the codec knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// EMVCo merchant-presented mode.
    EmvcoMpm,
    /// EMVCo consumer-presented mode (base64 of BER-TLV).
    EmvcoCpm,
    /// A Chinese wallet's payment code (digits).
    CnPaymentCode,
    /// A Chinese merchant's URL code.
    CnMerchantUrl,
    /// A `upi://pay` link.
    UpiUri,
}

impl Format {
    /// The `format` value of the decode JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::EmvcoMpm => "emvco-mpm",
            Format::EmvcoCpm => "emvco-cpm",
            Format::CnPaymentCode => "cn-payment-code",
            Format::CnMerchantUrl => "cn-merchant-url",
            Format::UpiUri => "upi-uri",
        }
    }

    /// The format a payload is in, from its first characters.
    pub fn detect(payload: &str) -> Format {
        // Most payloads are MPM: settle them on the first two characters.
        if payload.starts_with("00") {
            Format::EmvcoMpm
        } else if cn::looks_like_upi(payload) {
            Format::UpiUri
        } else if cn::looks_like_url(payload) {
            Format::CnMerchantUrl
        } else if cpm::looks_like(payload) {
            Format::EmvcoCpm
        } else if cn::looks_like_payment_code(payload) {
            Format::CnPaymentCode
        } else {
            Format::EmvcoMpm
        }
    }
}

/// A decoded payload of any format.
#[derive(Clone, Debug)]
pub enum Decoded<'a> {
    /// Boxed where it is built: the view is most of a kilobyte, and returned by
    /// value it was copied at every step up to the caller (a tenth of a
    /// decode's time, more than the allocation costs).
    Mpm(Box<mpm::Decoded<'a>>),
    Cpm(cpm::Decoded),
    PaymentCode(cn::PaymentCode),
    MerchantUrl(cn::MerchantUrl),
    Upi(cn::UpiUri),
}

impl Decoded<'_> {
    pub fn format(&self) -> Format {
        match self {
            Decoded::Mpm(_) => Format::EmvcoMpm,
            Decoded::Cpm(_) => Format::EmvcoCpm,
            Decoded::PaymentCode(_) => Format::CnPaymentCode,
            Decoded::MerchantUrl(_) => Format::CnMerchantUrl,
            Decoded::Upi(_) => Format::UpiUri,
        }
    }

    /// The governing scheme.
    pub fn scheme(&self) -> &'static str {
        match self {
            Decoded::Mpm(d) => d.scheme(),
            Decoded::Cpm(d) => d.scheme(),
            Decoded::PaymentCode(c) => c.scheme,
            Decoded::MerchantUrl(u) => u.scheme,
            Decoded::Upi(_) => "upi",
        }
    }

    /// The decode JSON of SPEC §5.
    pub fn to_json(&self) -> String {
        match self {
            Decoded::Mpm(d) => serde_json::to_string(&json::ValidJson(d)),
            Decoded::Cpm(d) => serde_json::to_string(&json::CpmJson(d)),
            Decoded::PaymentCode(c) => serde_json::to_string(&json::PaymentCodeJson(c)),
            Decoded::MerchantUrl(u) => serde_json::to_string(&json::MerchantUrlJson(u)),
            Decoded::Upi(u) => serde_json::to_string(&json::UpiJson(u)),
        }
        .unwrap_or_else(|e| {
            format!(
                "{{\"valid\":false,\"error\":{{\"code\":\"internal\",\"message\":{:?}}}}}",
                e.to_string()
            )
        })
    }
}

impl DecodeError {
    /// `{"valid": false, "error": {...}}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&json::InvalidJson(self)).unwrap_or_else(|_| {
            format!(
                "{{\"valid\":false,\"error\":{{\"code\":\"{}\"}}}}",
                self.code
            )
        })
    }
}

/// Decode raw bytes: they must be UTF-8.
pub fn decode_bytes<'a>(input: &'a [u8], options: &Options) -> Result<Decoded<'a>, DecodeError> {
    check_size(input.len(), options)?;
    let text = std::str::from_utf8(input).map_err(|e| {
        DecodeError::new(
            ErrorCode::BadValue,
            format!("payload is not valid UTF-8 (byte {})", e.valid_up_to()),
        )
    })?;
    decode(text, options)
}

/// Decode a payload.
pub fn decode<'a>(payload: &'a str, options: &Options) -> Result<Decoded<'a>, DecodeError> {
    check_size(payload.len(), options)?;
    match Format::detect(payload) {
        Format::EmvcoMpm => {}
        Format::EmvcoCpm => return cpm::decode(payload).map(Decoded::Cpm),
        Format::CnPaymentCode => return cn::payment_code(payload).map(Decoded::PaymentCode),
        Format::CnMerchantUrl => return cn::merchant_url(payload).map(Decoded::MerchantUrl),
        Format::UpiUri => return cn::upi_uri(payload).map(Decoded::Upi),
    }
    let decoded = mpm::decode(payload, options.profile, &options.context)?;
    if options.refuse_expired
        && decoded.expired == Some(true)
        && let Some(x) = &decoded.expiry
    {
        return Err(DecodeError {
            code: ErrorCode::Expired,
            message: format!(
                "the code expired at {} (tag {})",
                json::rfc3339_ms(x.at_unix_ms),
                x.tag
            ),
            tag: Some(x.tag.clone()),
            position: decoded.code.position_of(&x.tag),
            rule: Some(x.rule),
        });
    }
    Ok(Decoded::Mpm(decoded))
}

fn check_size(len: usize, options: &Options) -> Result<(), DecodeError> {
    let max = options.limits.payload_bytes_max;
    if len > max {
        return Err(DecodeError::new(
            ErrorCode::PayloadTooLarge,
            format!("payload is longer than the limit of {max} bytes"),
        ));
    }
    Ok(())
}

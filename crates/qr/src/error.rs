//! Decode errors: a stable machine code, a message a person can act on, and
//! where in the payload it went wrong.

use std::fmt;

/// The stable error codes of the codec (SPEC §5). `docs/error-codes.md` lists
/// them with their meaning; the `tidy` test keeps the two in step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The CRC in tag 63 does not match the payload.
    CrcMismatch,
    /// A length field is not two digits, is `00`, or a value has a length its
    /// tag does not allow.
    BadLength,
    /// The payload ends inside a data object.
    Truncated,
    /// A mandatory data object is absent.
    MissingTag,
    /// The payload does not start with the payload format indicator `000201`.
    BadFormatIndicator,
    /// A tag appears twice at one level.
    DuplicateTag,
    /// A value breaks its format rule (digits, charset, code list, syntax).
    BadValue,
    /// The payload is longer than the configured limit.
    PayloadTooLarge,
    /// The code's own expiry (a scheme's expiry timestamp) has passed.
    Expired,
}

impl ErrorCode {
    /// Every code, for the catalogue check.
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::CrcMismatch,
        ErrorCode::BadLength,
        ErrorCode::Truncated,
        ErrorCode::MissingTag,
        ErrorCode::BadFormatIndicator,
        ErrorCode::DuplicateTag,
        ErrorCode::BadValue,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Expired,
    ];

    /// The wire spelling, e.g. `crc_mismatch`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::CrcMismatch => "crc_mismatch",
            ErrorCode::BadLength => "bad_length",
            ErrorCode::Truncated => "truncated",
            ErrorCode::MissingTag => "missing_tag",
            ErrorCode::BadFormatIndicator => "bad_format_indicator",
            ErrorCode::DuplicateTag => "duplicate_tag",
            ErrorCode::BadValue => "bad_value",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Expired => "expired",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a payload was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{code}: {message}")]
pub struct DecodeError {
    pub code: ErrorCode,
    pub message: String,
    /// The tag path the error concerns, e.g. `59` or `62.05`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Zero-based character offset in the payload where the offending data
    /// object (or the parse failure) starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    /// The rule that was broken, for violations of a profile's rule set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
}

impl DecodeError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        DecodeError {
            code,
            message: message.into(),
            tag: None,
            position: None,
            rule: None,
        }
    }

    pub(crate) fn at(mut self, position: usize) -> Self {
        self.position = Some(position);
        self
    }

    pub(crate) fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }
}

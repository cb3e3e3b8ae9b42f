//! The generic EMVCo MPM rules a code may break. Every check the validator
//! makes names one of these, so a scheme profile can tolerate exactly the
//! rules its scheme bends, and nothing else.

use std::borrow::Cow;

use crate::error::{DecodeError, ErrorCode};

/// One rule of EMV QRCPS Merchant-Presented Mode v1.1 (or of a scheme
/// profile) that a payload can break.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Tag 00 is `01`.
    FormatIndicator,
    /// Every value has at least one character (lengths are 01-99).
    ValueNotEmpty,
    /// Tag 63 holds four uppercase hex digits.
    CrcUppercase,
    /// Tag 01, when present, is `11` (static) or `12` (dynamic).
    InitiationMethod,
    /// At least one merchant account information object (02-51).
    MerchantAccountPresent,
    /// Templates 26-51 and 80-99 carry a globally unique id in sub-tag 00.
    TemplateIdPresent,
    /// That id is at most 32 characters.
    TemplateIdLength,
    /// Template values are well-formed ID-length-value.
    TemplateWellFormed,
    /// A tag appears at most once at each level.
    NoDuplicateTag,
    /// Tag 52, merchant category code, is present.
    MccPresent,
    /// Tag 52 is four digits.
    MccFormat,
    /// Tag 53, transaction currency, is present.
    CurrencyPresent,
    /// Tag 53 is a known ISO 4217 numeric code.
    CurrencyKnown,
    /// Tag 54 is at most 13 characters.
    AmountLength,
    /// Tag 54 is digits with at most one `.` between digits.
    AmountSyntax,
    /// Tag 54 has no more (non-zero) decimals than the currency's exponent.
    AmountPrecision,
    /// Tags 54 and 56 are different from zero.
    AmountNonZero,
    /// Tag 55 is `01`, `02` or `03`.
    TipIndicator,
    /// Tag 56 is present exactly when tag 55 is `02`, and is an amount.
    ConvenienceFeeFixed,
    /// Tag 57 is present exactly when tag 55 is `03`, and is a percentage
    /// between 00.01 and 99.99.
    ConvenienceFeePercentage,
    /// Tag 58, country code, is present.
    CountryPresent,
    /// Tag 58 is an ISO 3166-1 alpha-2 code.
    CountryKnown,
    /// Tag 59, merchant name, is present.
    MerchantNamePresent,
    /// Tag 59 is at most 25 characters.
    MerchantNameLength,
    /// Tag 60, merchant city, is present.
    MerchantCityPresent,
    /// Tag 60 is at most 15 characters.
    MerchantCityLength,
    /// Tag 61 is at most 10 characters.
    PostalCodeLength,
    /// Sub-fields 01-11 of tag 62 are within their maximum lengths.
    AdditionalFieldLength,
    /// Tag 62.09 holds only `A`, `M`, `E`, each at most once.
    ConsumerDataRequest,
    /// Tag 64 carries 00 (language preference, two letters) and 01 (name).
    LanguageTemplate,
    /// Tags 64.01 and 64.02 are at most 25 and 15 characters.
    LanguageFieldLength,
    /// Values outside tag 64 use the EMVCo common character set
    /// (printable ASCII, 0x20-0x7E).
    CommonCharacterSet,
    /// A rule a scheme profile adds, by its dotted id (`promptpay.currency`).
    Scheme(&'static str),
}

impl Rule {
    /// A stable dotted id for the rule, reported with errors and warnings.
    pub fn id(self) -> &'static str {
        match self {
            Rule::FormatIndicator => "format_indicator.value",
            Rule::ValueNotEmpty => "value.not_empty",
            Rule::CrcUppercase => "crc.uppercase",
            Rule::InitiationMethod => "initiation.value",
            Rule::MerchantAccountPresent => "merchant_account.present",
            Rule::TemplateIdPresent => "template.id_present",
            Rule::TemplateIdLength => "template.id_length",
            Rule::TemplateWellFormed => "template.well_formed",
            Rule::NoDuplicateTag => "tag.unique",
            Rule::MccPresent => "mcc.present",
            Rule::MccFormat => "mcc.format",
            Rule::CurrencyPresent => "currency.present",
            Rule::CurrencyKnown => "currency.known",
            Rule::AmountLength => "amount.length",
            Rule::AmountSyntax => "amount.syntax",
            Rule::AmountPrecision => "amount.precision",
            Rule::AmountNonZero => "amount.non_zero",
            Rule::TipIndicator => "tip.indicator",
            Rule::ConvenienceFeeFixed => "tip.fixed_fee",
            Rule::ConvenienceFeePercentage => "tip.percentage_fee",
            Rule::CountryPresent => "country.present",
            Rule::CountryKnown => "country.known",
            Rule::MerchantNamePresent => "merchant_name.present",
            Rule::MerchantNameLength => "merchant_name.length",
            Rule::MerchantCityPresent => "merchant_city.present",
            Rule::MerchantCityLength => "merchant_city.length",
            Rule::PostalCodeLength => "postal_code.length",
            Rule::AdditionalFieldLength => "additional.length",
            Rule::ConsumerDataRequest => "additional.consumer_data_request",
            Rule::LanguageTemplate => "language.template",
            Rule::LanguageFieldLength => "language.length",
            Rule::CommonCharacterSet => "charset.common",
            Rule::Scheme(id) => id,
        }
    }
}

/// A rule broken by a payload, before the profile decides whether it is an
/// error or a tolerated deviation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub rule: Rule,
    pub code: ErrorCode,
    /// Tag path, e.g. `59` or `62.05`.
    pub tag: Cow<'static, str>,
    pub position: Option<usize>,
    pub message: Cow<'static, str>,
}

impl Violation {
    /// A broken rule of a scheme profile.
    pub fn scheme(
        rule: &'static str,
        code: ErrorCode,
        tag: impl Into<Cow<'static, str>>,
        position: Option<usize>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Violation {
            rule: Rule::Scheme(rule),
            code,
            tag: tag.into(),
            position,
            message: message.into(),
        }
    }

    pub(crate) fn into_error(self) -> DecodeError {
        DecodeError {
            code: self.code,
            message: self.message.into_owned(),
            tag: Some(self.tag.into_owned()),
            position: self.position,
            rule: Some(self.rule.id()),
        }
    }
}

/// A deviation the governing profile accepted, reported in `warnings`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// The rule id that was bent.
    pub rule: &'static str,
    pub tag: Cow<'static, str>,
    pub message: Cow<'static, str>,
    /// Why the profile accepts it: the scheme document or observed practice.
    pub source: &'static str,
}

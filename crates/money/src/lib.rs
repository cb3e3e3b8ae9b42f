//! Money and rates (SPEC §6), written once.
//!
//! - [`Currency`]: an ISO 4217 currency with a minor unit; its exponent comes
//!   from the `iso_currency` crate (JPY 0, VND 0, CNY 2, KWD 3…).
//! - [`Money`]: integer minor units (i64, arithmetic checked) and a currency;
//!   JSON `{"value": "12345", "currency": "THB"}` (SPEC §4.2).
//! - [`Rate`]: an exact positive decimal (`rust_decimal`), never a float.
//! - [`Price`]: how many units of one currency one unit of another buys, as
//!   an exact fraction, so a cross rate through a pivot and a markup are
//!   multiplied at full precision and rounded only once, at the end.
//! - [`convert`]: a conversion rounded once in the named direction, with its
//!   [`Residue`] (the rounded amount less the exact one) for the rounding
//!   account.
//! - [`refund_shares`]: refunds at the original amounts, pro rata, the last
//!   taking the remainder.
//!
//! Exact values are `num-rational` fractions of big integers: no product can
//! overflow; a result that does not fit an i64 is [`MoneyError::Overflow`].

use std::fmt;
use std::str::FromStr;

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, ToPrimitive, Zero};
use rust_decimal::Decimal;

/// Why an amount, a currency or a rate was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("{0:?} is not an ISO 4217 currency code")]
    UnknownCurrency(String),
    #[error("{0} has no minor unit (it is not a currency payments use)")]
    NoMinorUnit(String),
    #[error("{amount:?} has more decimals than {currency} has ({exponent})")]
    TooPrecise {
        amount: String,
        currency: String,
        exponent: u32,
    },
    #[error("{0:?} is not an amount: digits, with an optional decimal point")]
    NotAnAmount(String),
    #[error("the amount must be more than zero")]
    NotPositive,
    #[error("the amount does not fit in 64-bit minor units")]
    Overflow,
    #[error("{0} and {1} are different currencies")]
    CurrencyMismatch(String, String),
    #[error(
        "{0:?} is not a rate: a positive decimal, at most {RATE_DIGITS_MAX} significant digits"
    )]
    BadRate(String),
    #[error("refund: {0}")]
    Refund(String),
}

/// Most significant digits a rate may have.
pub const RATE_DIGITS_MAX: u32 = 18;

/// An ISO 4217 currency that has a minor unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// From its three-letter code (upper case).
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let c = iso_currency::Currency::from_code(code)
            .ok_or_else(|| MoneyError::UnknownCurrency(code.chars().take(8).collect()))?;
        if c.exponent().is_none() {
            return Err(MoneyError::NoMinorUnit(code.to_string()));
        }
        Ok(Currency(c))
    }

    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Decimal places of the minor unit.
    pub fn exponent(self) -> u32 {
        self.0.exponent().map_or(0, u32::from)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An amount: integer minor units of a currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

/// Most digits of a `value` in JSON (i64 holds 18 in full).
const VALUE_DIGITS_MAX: usize = 18;

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    pub fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    /// From major-unit text such as `"100.50"`: at most the currency's
    /// decimals, no sign, no exponent.
    pub fn from_major(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let not_amount = || MoneyError::NotAnAmount(text.chars().take(40).collect());
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || (text.contains('.') && frac.is_empty())
        {
            return Err(not_amount());
        }
        let exp = currency.exponent();
        let significant = frac.trim_end_matches('0');
        if significant.len() > exp as usize {
            return Err(MoneyError::TooPrecise {
                amount: text.chars().take(40).collect(),
                currency: currency.code().into(),
                exponent: exp,
            });
        }
        let mut digits = whole.trim_start_matches('0').to_string();
        digits.push_str(significant);
        for _ in significant.len()..exp as usize {
            digits.push('0');
        }
        if digits.len() > VALUE_DIGITS_MAX + 1 {
            return Err(MoneyError::Overflow);
        }
        let minor = if digits.trim_start_matches('0').is_empty() {
            0
        } else {
            digits.parse::<i64>().map_err(|_| MoneyError::Overflow)?
        };
        Ok(Money { minor, currency })
    }

    /// Major-unit text with exactly the currency's decimals (`"100.50"`).
    pub fn to_major(self) -> String {
        let exp = self.currency.exponent();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs().to_string();
        if exp == 0 {
            return format!("{sign}{abs}");
        }
        let padded = format!("{abs:0>width$}", width = exp as usize + 1);
        let (whole, frac) = padded.split_at(padded.len() - exp as usize);
        format!("{sign}{whole}.{frac}")
    }

    /// This amount, refused unless more than zero.
    pub fn positive(self) -> Result<Money, MoneyError> {
        if self.minor > 0 {
            Ok(self)
        } else {
            Err(MoneyError::NotPositive)
        }
    }

    fn same(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(
                self.currency.code().into(),
                other.currency.code().into(),
            ))
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money { minor, ..self })
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same(other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money { minor, ..self })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_major(), self.currency)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MoneyJson<'a> {
    #[serde(borrow)]
    value: std::borrow::Cow<'a, str>,
    currency: Currency,
}

impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MoneyJson {
            value: self.minor.to_string().into(),
            currency: self.currency,
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Money {
    /// `value` is minor units as a string of digits (SPEC §4.2).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = MoneyJson::deserialize(d)?;
        let v = j.value.as_ref();
        if v.is_empty() || v.len() > VALUE_DIGITS_MAX || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(serde::de::Error::custom(format!(
                "value {:?} is not 1 to {VALUE_DIGITS_MAX} digits of minor units",
                v.chars().take(40).collect::<String>()
            )));
        }
        let minor = v
            .parse::<i64>()
            .map_err(|_| serde::de::Error::custom("value does not fit in 64 bits"))?;
        Ok(Money {
            minor,
            currency: j.currency,
        })
    }
}

/// An exact positive decimal rate, as providers quote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rate(Decimal);

impl Rate {
    /// From decimal text (`"4.8312"`): positive, no sign or exponent, at
    /// most [`RATE_DIGITS_MAX`] significant digits.
    pub fn parse(text: &str) -> Result<Rate, MoneyError> {
        let bad = || MoneyError::BadRate(text.chars().take(40).collect());
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(bad());
        }
        let d = Decimal::from_str_exact(text).map_err(|_| bad())?;
        Rate::from_decimal(d).ok_or_else(bad)
    }

    pub fn from_decimal(d: Decimal) -> Option<Rate> {
        let d = d.normalize();
        let digits = d.mantissa().unsigned_abs().to_string().len();
        (d > Decimal::ZERO && digits <= RATE_DIGITS_MAX as usize).then_some(Rate(d))
    }

    pub fn decimal(self) -> Decimal {
        self.0
    }

    /// The exact fraction.
    pub fn ratio(self) -> BigRational {
        let mantissa = BigInt::from(self.0.mantissa());
        let scale = BigInt::from(10u8).pow(self.0.scale());
        BigRational::new(mantissa, scale)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl serde::Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Rate::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// What one major unit of `from` buys in major units of `to`, exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Price {
    pub from: Currency,
    pub to: Currency,
    value: BigRational,
}

impl Price {
    /// `rate` units of `to` per unit of `from`.
    pub fn new(from: Currency, to: Currency, rate: Rate) -> Price {
        Price {
            from,
            to,
            value: rate.ratio(),
        }
    }

    /// One to one (a currency into itself).
    pub fn identity(currency: Currency) -> Price {
        Price {
            from: currency,
            to: currency,
            value: BigRational::one(),
        }
    }

    pub fn value(&self) -> &BigRational {
        &self.value
    }

    /// The other way round, exactly.
    pub fn inverse(&self) -> Price {
        Price {
            from: self.to,
            to: self.from,
            value: self.value.recip(),
        }
    }

    /// `self` then `next` (a cross through `self.to`), at full precision.
    /// `None` when `next` does not start where `self` ends.
    pub fn then(&self, next: &Price) -> Option<Price> {
        (self.to == next.from).then(|| Price {
            from: self.from,
            to: next.to,
            value: &self.value * &next.value,
        })
    }

    /// The price less a markup of `bps` basis points (the customer gets
    /// that much less of `to`).
    pub fn less_markup(&self, bps: u32) -> Price {
        let keep = BigRational::new(
            BigInt::from(10_000i64 - i64::from(bps.min(10_000))),
            BigInt::from(10_000),
        );
        Price {
            value: &self.value * keep,
            ..self.clone()
        }
    }

    /// A price stored as its exact fraction (`num`/`den`, decimal text).
    pub fn from_fraction(
        from: Currency,
        to: Currency,
        num: &str,
        den: &str,
    ) -> Result<Price, MoneyError> {
        let bad = || MoneyError::BadRate(format!("{num}/{den}"));
        let (n, d) = (
            BigInt::from_str(num).map_err(|_| bad())?,
            BigInt::from_str(den).map_err(|_| bad())?,
        );
        if n <= BigInt::zero() || d <= BigInt::zero() {
            return Err(bad());
        }
        Ok(Price {
            from,
            to,
            value: BigRational::new(n, d),
        })
    }

    /// The price before a markup of `bps` was taken ([`Price::less_markup`]
    /// undone).
    pub fn before_markup(&self, bps: u32) -> Price {
        let keep = BigRational::new(
            BigInt::from(10_000i64 - i64::from(bps.min(9_999))),
            BigInt::from(10_000),
        );
        Price {
            value: &self.value / keep,
            ..self.clone()
        }
    }

    /// Halfway between two prices of the same pair, exactly.
    pub fn midpoint(&self, other: &Price) -> Price {
        let two = BigRational::from_integer(BigInt::from(2));
        Price {
            value: (&self.value + &other.value) / two,
            ..self.clone()
        }
    }

    /// The price as a decimal with `places` decimals (for display only;
    /// conversions use the exact value).
    pub fn to_decimal_string(&self, places: u32) -> String {
        let scale = BigInt::from(10u8).pow(places);
        let scaled = round(
            &(&self.value * BigRational::from_integer(scale)),
            Rounding::HalfEven,
        );
        let digits = format!(
            "{:0>width$}",
            scaled.to_string(),
            width = places as usize + 1
        );
        if places == 0 {
            return digits;
        }
        let (whole, frac) = digits.split_at(digits.len() - places as usize);
        format!("{whole}.{frac}")
    }
}

/// Which way a conversion rounds to the target's minor unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Toward +∞: the payer's amount (SPEC §6).
    Up,
    /// Toward −∞: what a party receives.
    Down,
    /// To nearest, ties to even: reporting amounts.
    HalfEven,
}

fn round(x: &BigRational, mode: Rounding) -> BigInt {
    match mode {
        Rounding::Up => x.ceil().to_integer(),
        Rounding::Down => x.floor().to_integer(),
        Rounding::HalfEven => {
            let floor = x.floor();
            let frac = x - &floor;
            let half = BigRational::new(BigInt::one(), BigInt::from(2));
            let f = floor.to_integer();
            if frac > half || (frac == half && f.is_odd()) {
                f + 1
            } else {
                f
            }
        }
    }
}

/// What rounding left over: the rounded amount less the exact one, in
/// minor units of the target (strictly between -1 and 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Residue(BigRational);

impl Residue {
    pub fn zero() -> Residue {
        Residue(BigRational::zero())
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    pub fn value(&self) -> &BigRational {
        &self.0
    }

    /// The sum of two residues, exactly.
    pub fn plus(&self, other: &Residue) -> Residue {
        Residue(&self.0 + &other.0)
    }
}

/// A conversion: the amount given, the amount it became, the exact value
/// before rounding and the residue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversion {
    pub from: Money,
    pub to: Money,
    /// The exact amount in minor units of the target.
    pub exact_minor: BigRational,
    pub residue: Residue,
}

/// How a payer's amount for `receive` divides: the FX provider's part at
/// its own price (rounded down), the gateway's markup (the customer's
/// exact amount rounded down, less the provider's part), and the rounding
/// residue (what the payer paid, rounded up, beyond that).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FxSplit {
    pub provider: i64,
    pub markup: i64,
    pub rounding: i64,
}

/// Split `pay_minor` (the payer's amount, in `customer.from`) for
/// `receive` (in `customer.to`) bought at `customer`, the provider's price
/// less `markup_bps`. The three parts are never negative and add up to
/// `pay_minor`.
pub fn fx_split(
    receive: Money,
    customer: &Price,
    markup_bps: u32,
    pay_minor: i64,
) -> Result<FxSplit, MoneyError> {
    let payer_floor = convert(receive, &customer.inverse(), Rounding::Down)?
        .to
        .minor;
    let provider = convert(
        receive,
        &customer.before_markup(markup_bps).inverse(),
        Rounding::Down,
    )?
    .to
    .minor;
    let markup = payer_floor
        .checked_sub(provider)
        .ok_or(MoneyError::Overflow)?;
    let rounding = pay_minor
        .checked_sub(payer_floor)
        .ok_or(MoneyError::Overflow)?;
    if markup < 0 || rounding < 0 || provider < 0 {
        return Err(MoneyError::CurrencyMismatch(
            "the payer's amount".into(),
            "the quote's price".into(),
        ));
    }
    Ok(FxSplit {
        provider,
        markup,
        rounding,
    })
}

/// Convert `amount` at `price`, rounding once to the target's minor unit.
pub fn convert(amount: Money, price: &Price, rounding: Rounding) -> Result<Conversion, MoneyError> {
    if amount.currency != price.from {
        return Err(MoneyError::CurrencyMismatch(
            amount.currency.code().into(),
            price.from.code().into(),
        ));
    }
    let ten = BigInt::from(10u8);
    let exact = BigRational::from_integer(BigInt::from(amount.minor))
        * &price.value
        * BigRational::new(ten.pow(price.to.exponent()), ten.pow(price.from.exponent()));
    let rounded = round(&exact, rounding);
    let minor = rounded.to_i64().ok_or(MoneyError::Overflow)?;
    let residue = BigRational::from_integer(rounded) - &exact;
    Ok(Conversion {
        from: amount,
        to: Money::new(minor, price.to),
        exact_minor: exact,
        residue: Residue(residue),
    })
}

/// The shares of a refund: `originals` are the payment's amounts (merchant,
/// payer, each settlement, each fee…), `refunded` what earlier refunds took
/// of each, `base_total` and `base_refunded_after` the amount the refund is
/// asked in (the first of `originals`, usually the merchant's) in total and
/// cumulatively including this refund.
///
/// Each component's cumulative refund is `floor(original × refunded_after
/// / total)`, and this refund is that less what was refunded before: so no
/// component is ever refunded beyond its pro-rata share, and the refund
/// that reaches the total takes exactly the remainder of every component.
pub fn refund_shares(
    originals: &[Money],
    refunded: &[Money],
    base_total: i64,
    base_refunded_after: i64,
) -> Result<Vec<Money>, MoneyError> {
    if base_total <= 0 || base_refunded_after <= 0 {
        return Err(MoneyError::NotPositive);
    }
    let refund = |why: &str| MoneyError::Refund(why.to_string());
    if base_refunded_after > base_total {
        return Err(refund("the refunds would exceed the original amount"));
    }
    if originals.len() != refunded.len() {
        return Err(refund("one refunded amount per original amount"));
    }
    if originals.first().map(|o| o.minor) != Some(base_total) {
        return Err(refund("the total is the first original amount"));
    }
    originals
        .iter()
        .zip(refunded)
        .map(|(o, r)| {
            o.same(*r)?;
            if o.minor < 0 || r.minor < 0 {
                return Err(refund("amounts are not negative"));
            }
            let cumulative = (i128::from(o.minor) * i128::from(base_refunded_after))
                .div_euclid(i128::from(base_total));
            let share = cumulative - i128::from(r.minor);
            if share < 0 {
                return Err(refund("more was refunded before than the pro-rata share"));
            }
            let minor = i64::try_from(share).map_err(|_| MoneyError::Overflow)?;
            Ok(Money::new(minor, o.currency))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn exponents_come_from_the_currency_table() {
        for (code, exp) in [
            ("JPY", 0),
            ("VND", 0),
            ("CNY", 2),
            ("MNT", 2),
            ("KWD", 3),
            ("THB", 2),
        ] {
            assert_eq!(c(code).exponent(), exp, "{code}");
        }
        assert!(matches!(
            Currency::parse("XXX"),
            Err(MoneyError::NoMinorUnit(_)) | Err(MoneyError::UnknownCurrency(_))
        ));
        assert!(matches!(
            Currency::parse("ABC"),
            Err(MoneyError::UnknownCurrency(_))
        ));
        assert!(Currency::parse("thb").is_err());
    }

    #[test]
    fn major_text_in_and_out() {
        assert_eq!(Money::from_major("100.5", c("THB")).unwrap().minor, 10_050);
        assert_eq!(
            Money::from_major("100.50", c("THB")).unwrap().to_major(),
            "100.50"
        );
        assert_eq!(Money::from_major("0.001", c("KWD")).unwrap().minor, 1);
        assert_eq!(
            Money::from_major("500", c("JPY")).unwrap().to_major(),
            "500"
        );
        assert_eq!(Money::from_major("1.000", c("JPY")).unwrap().minor, 1);
        assert_eq!(Money::new(5, c("CNY")).to_major(), "0.05");
        assert_eq!(Money::new(-5, c("CNY")).to_major(), "-0.05");
        assert!(matches!(
            Money::from_major("1.001", c("THB")),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(matches!(
            Money::from_major("1.5", c("JPY")),
            Err(MoneyError::TooPrecise { .. })
        ));
        for bad in ["", ".5", "1.", "-1", "1e3", "1,000", " 1"] {
            assert!(
                matches!(
                    Money::from_major(bad, c("THB")),
                    Err(MoneyError::NotAnAmount(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            Money::from_major("99999999999999999999", c("THB")),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn json_is_the_spec_shape() {
        let m = Money::new(12_345, c("THB"));
        let j = serde_json::to_string(&m).unwrap();
        assert_eq!(j, r#"{"value":"12345","currency":"THB"}"#);
        assert_eq!(serde_json::from_str::<Money>(&j).unwrap(), m);
        for bad in [
            r#"{"value":12345,"currency":"THB"}"#,
            r#"{"value":"-1","currency":"THB"}"#,
            r#"{"value":"1.5","currency":"THB"}"#,
            r#"{"value":"1","currency":"THX"}"#,
            r#"{"value":"9999999999999999999","currency":"THB"}"#,
            r#"{"value":"1","currency":"THB","x":1}"#,
        ] {
            assert!(serde_json::from_str::<Money>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rates_are_exact_positive_decimals() {
        assert_eq!(Rate::parse("4.8312").unwrap().to_string(), "4.8312");
        assert_eq!(
            Rate::parse("0.000123").unwrap().ratio(),
            BigRational::new(123.into(), 1_000_000.into())
        );
        for bad in [
            "0",
            "0.000",
            "-1",
            "1e5",
            "",
            "abc",
            "1.2.3",
            "1234567890.1234567890",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_conversion_rounds_once_and_keeps_its_residue() {
        // 100.00 CNY at 4.8312 THB per CNY = 483.12 THB exactly.
        let p = Price::new(c("CNY"), c("THB"), Rate::parse("4.8312").unwrap());
        let conv = convert(Money::new(10_000, c("CNY")), &p, Rounding::Up).unwrap();
        assert_eq!(conv.to, Money::new(48_312, c("THB")));
        assert!(conv.residue.is_zero());
        // 1 JPY at 0.0467 CNY = 4.67 fen: up gives 5, residue 0.33.
        let p = Price::new(c("JPY"), c("CNY"), Rate::parse("0.0467").unwrap());
        let up = convert(Money::new(1, c("JPY")), &p, Rounding::Up).unwrap();
        assert_eq!(up.to.minor, 5);
        assert_eq!(up.residue.value(), &BigRational::new(33.into(), 100.into()));
        let down = convert(Money::new(1, c("JPY")), &p, Rounding::Down).unwrap();
        assert_eq!(down.to.minor, 4);
        // Into a zero-exponent and a three-decimal currency.
        let p = Price::new(c("USD"), c("VND"), Rate::parse("25400.5").unwrap());
        assert_eq!(
            convert(Money::new(101, c("USD")), &p, Rounding::HalfEven)
                .unwrap()
                .to
                .minor,
            25_655
        );
        let p = Price::new(c("USD"), c("KWD"), Rate::parse("0.3072").unwrap());
        assert_eq!(
            convert(Money::new(1_000, c("USD")), &p, Rounding::Up)
                .unwrap()
                .to
                .minor,
            3_072
        );
        assert_eq!(
            convert(Money::new(1, c("THB")), &p, Rounding::Up),
            Err(MoneyError::CurrencyMismatch("THB".into(), "USD".into()))
        );
        let huge = Price::new(c("USD"), c("VND"), Rate::parse("99999999").unwrap());
        assert_eq!(
            convert(Money::new(i64::MAX, c("USD")), &huge, Rounding::Up),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn a_cross_rate_through_a_pivot_is_rounded_once() {
        // MNT → CNY → THB: two legs multiplied exactly.
        let mnt_cny = Price::new(c("MNT"), c("CNY"), Rate::parse("0.002064").unwrap());
        let cny_thb = Price::new(c("CNY"), c("THB"), Rate::parse("4.8312").unwrap());
        let cross = mnt_cny.then(&cny_thb).unwrap();
        assert_eq!(
            cross.value(),
            &(Rate::parse("0.002064").unwrap().ratio() * Rate::parse("4.8312").unwrap().ratio())
        );
        assert!(cny_thb.then(&mnt_cny).is_none());
        let once = convert(Money::new(1_234_567, c("MNT")), &cross, Rounding::Down).unwrap();
        // Rounding each leg would differ: 12345.67 MNT → 25.48 CNY (down) → 123.09 THB.
        let leg1 = convert(Money::new(1_234_567, c("MNT")), &mnt_cny, Rounding::Down).unwrap();
        let leg2 = convert(leg1.to, &cny_thb, Rounding::Down).unwrap();
        assert_eq!(once.to.minor, 12_310);
        assert_eq!(leg2.to.minor, 12_309);
        assert_eq!(cross.inverse().inverse(), cross);
        assert!(cross.less_markup(50).value() < cross.value());
        assert_eq!(cny_thb.to_decimal_string(2), "4.83");
    }

    #[test]
    fn refunds_take_their_share_and_the_last_the_remainder() {
        let (thb, cny) = (c("THB"), c("CNY"));
        let originals = [Money::new(1_000, thb), Money::new(207, cny)];
        let mut refunded = vec![Money::zero(thb), Money::zero(cny)];
        let mut done = 0;
        for part in [333, 333, 334] {
            done += part;
            let shares = refund_shares(&originals, &refunded, 1_000, done).unwrap();
            for (r, s) in refunded.iter_mut().zip(&shares) {
                *r = r.checked_add(*s).unwrap();
            }
        }
        assert_eq!(refunded, originals.to_vec());
        assert!(refund_shares(&originals, &refunded, 1_000, 1_001).is_err());
        assert!(refund_shares(&originals, &refunded, 1_000, 0).is_err());
        // The total must be the first amount; nothing negative; no earlier
        // over-refund hidden.
        let none = [Money::zero(thb), Money::zero(cny)];
        assert!(matches!(
            refund_shares(&originals, &none, 999, 1),
            Err(MoneyError::Refund(_))
        ));
        let negative = [Money::new(1_000, thb), Money::new(-5, cny)];
        assert!(matches!(
            refund_shares(&negative, &none, 1_000, 1),
            Err(MoneyError::Refund(_))
        ));
        let over = [Money::zero(thb), Money::new(200, cny)];
        assert!(matches!(
            refund_shares(&originals, &over, 1_000, 500),
            Err(MoneyError::Refund(_))
        ));
    }
}

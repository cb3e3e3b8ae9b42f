//! Amounts as EMVCo writes them ("98.73", "100", "100.5"), read into integer
//! minor units of the currency's ISO 4217 exponent. No floats.

use std::fmt;

/// An amount in minor units with the exponent it was read at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Amount {
    minor: u64,
    exponent: u8,
}

/// Why an amount's text was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmountError {
    /// Not digits with an optional single '.' between digits, or too large.
    Syntax,
    /// More non-zero decimals than the currency's exponent.
    Precision,
}

impl Amount {
    /// The amount in minor units (cents for USD, yen for JPY).
    pub fn minor(self) -> u64 {
        self.minor
    }

    /// The currency exponent the amount is expressed at.
    pub fn exponent(self) -> u8 {
        self.exponent
    }
}

impl fmt::Display for Amount {
    /// Normalised to the exponent: `100` THB is `100.00`, `500` JPY is `500`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.exponent == 0 {
            return write!(f, "{}", self.minor);
        }
        let scale = 10u64.pow(u32::from(self.exponent));
        write!(
            f,
            "{}.{:0width$}",
            self.minor / scale,
            self.minor % scale,
            width = usize::from(self.exponent)
        )
    }
}

/// Read `text` at `exponent` decimals: digits with at most one '.'. Extra decimals that are zeros are
/// accepted ("500.00" JPY is 500); non-zero ones are a precision error.
pub fn parse_amount(text: &str, exponent: u8) -> Result<Amount, AmountError> {
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // EMVCo: "the '.' character may be present even if there are no
    // decimals" ("98." is valid); a leading '.' is not described, so refused.
    if !digits(whole) || fraction.is_some_and(|f| !f.bytes().all(|b| b.is_ascii_digit())) {
        return Err(AmountError::Syntax);
    }
    let fraction = fraction.unwrap_or("");
    let exp = usize::from(exponent);
    let (kept, dropped) = fraction.split_at(fraction.len().min(exp));
    if dropped.bytes().any(|b| b != b'0') {
        return Err(AmountError::Precision);
    }
    let mut minor: u64 = 0;
    let padded = kept
        .bytes()
        .chain(std::iter::repeat_n(b'0', exp - kept.len()));
    for b in whole.bytes().chain(padded) {
        minor = minor
            .checked_mul(10)
            .and_then(|m| m.checked_add(u64::from(b - b'0')))
            .ok_or(AmountError::Syntax)?;
    }
    Ok(Amount { minor, exponent })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, exponent: u8, expect: Result<&str, AmountError>) {
        let got = parse_amount(text, exponent).map(|a| a.to_string());
        assert_eq!(
            got.as_deref().map_err(|e| *e),
            expect,
            "{text} at {exponent}"
        );
    }

    #[test]
    fn amounts() {
        check("98.73", 2, Ok("98.73"));
        check("100", 2, Ok("100.00"));
        check("100.5", 2, Ok("100.50"));
        check("0100.5", 2, Ok("100.50"));
        check("500", 0, Ok("500"));
        check("500.00", 0, Ok("500"));
        check("1.234", 3, Ok("1.234"));
        check("1.235", 2, Err(AmountError::Precision));
        check("1.230", 2, Ok("1.23"));
        check("", 2, Err(AmountError::Syntax));
        check(".5", 2, Err(AmountError::Syntax));
        check("98.", 2, Ok("98.00"));
        check(".", 2, Err(AmountError::Syntax));
        check("1.2.3", 2, Err(AmountError::Syntax));
        check("-1", 2, Err(AmountError::Syntax));
        check("1,00", 2, Err(AmountError::Syntax));
        check("99999999999999999999", 2, Err(AmountError::Syntax));
    }
}

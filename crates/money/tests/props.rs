//! No minor unit created or lost: conversions, cross rates, markups and
//! refunds over random amounts, currencies and rates.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use money::{Currency, Money, MoneyError, Price, Rate, Residue, Rounding, convert, refund_shares};
use num_rational::BigRational;
use num_traits::{One, Signed, Zero};
use proptest::prelude::*;

const CODES: [&str; 10] = [
    "CNY", "THB", "MNT", "JPY", "VND", "KWD", "USD", "IDR", "BHD", "SGD",
];

fn currency() -> impl Strategy<Value = Currency> {
    (0..CODES.len()).prop_map(|i| Currency::parse(CODES[i]).unwrap())
}

fn rate() -> impl Strategy<Value = Rate> {
    (1u64..1_000_000_000_000, 0u32..13).prop_map(|(m, s)| {
        Rate::from_decimal(rust_decimal::Decimal::from_i128_with_scale(
            i128::from(m),
            s,
        ))
        .unwrap()
    })
}

fn rounding() -> impl Strategy<Value = Rounding> {
    prop_oneof![
        Just(Rounding::Up),
        Just(Rounding::Down),
        Just(Rounding::HalfEven)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn a_conversion_is_its_exact_value_plus_its_residue(
        minor in 1i64..1_000_000_000_000,
        from in currency(), to in currency(), r in rate(), mode in rounding(),
    ) {
        let price = Price::new(from, to, r);
        let conv = match convert(Money::new(minor, from), &price, mode) {
            Ok(conv) => conv,
            // Beyond 64-bit minor units: refused, never wrapped.
            Err(e) => {
                prop_assert_eq!(e, MoneyError::Overflow);
                return Ok(());
            }
        };
        let rounded = BigRational::from_integer(conv.to.minor.into());
        prop_assert_eq!(&rounded - &conv.exact_minor, conv.residue.value().clone());
        prop_assert!(conv.residue.value().abs() < BigRational::one());
        match mode {
            Rounding::Up => prop_assert!(!conv.residue.value().is_negative()),
            Rounding::Down => prop_assert!(!conv.residue.value().is_positive()),
            Rounding::HalfEven => prop_assert!(conv.residue.value().abs() * BigRational::from_integer(2.into()) <= BigRational::one()),
        }
    }

    #[test]
    fn residues_sum_exactly_over_many_conversions(
        items in prop::collection::vec((1i64..10_000_000_000, rate(), rounding()), 1..40),
        from in currency(), to in currency(),
    ) {
        let mut total_rounded = BigRational::zero();
        let mut total_exact = BigRational::zero();
        let mut residues = Residue::zero();
        for (minor, r, mode) in items {
            let Ok(conv) = convert(Money::new(minor, from), &Price::new(from, to, r), mode) else {
                continue;
            };
            total_rounded += BigRational::from_integer(conv.to.minor.into());
            total_exact += conv.exact_minor.clone();
            residues = residues.plus(&conv.residue);
        }
        prop_assert_eq!(total_rounded - total_exact, residues.value().clone());
    }

    #[test]
    fn a_cross_with_a_markup_is_rounded_once(
        minor in 1i64..1_000_000_000_000,
        a in currency(), p in currency(), b in currency(),
        r1 in rate(), r2 in rate(), bps in 0u32..500,
    ) {
        let cross = Price::new(a, p, r1).then(&Price::new(p, b, r2)).unwrap().less_markup(bps);
        let conv = convert(Money::new(minor, a), &cross, Rounding::Up);
        if let Ok(conv) = conv {
            prop_assert!(conv.residue.value().abs() < BigRational::one());
            prop_assert!(!conv.residue.value().is_negative());
        }
    }

    #[test]
    fn refunds_never_exceed_and_end_exact(
        originals in prop::collection::vec((currency(), 0i64..1_000_000_000_000), 1..6),
        base in 1i64..1_000_000,
        cuts in prop::collection::vec(1i64..1_000_000, 0..8),
    ) {
        let mut originals: Vec<Money> = originals.into_iter().map(|(c, m)| Money::new(m, c)).collect();
        originals[0].minor = base;
        // Split `base` into refunds at the cut points.
        let mut points: Vec<i64> = cuts.into_iter().map(|c| c % base).filter(|c| *c > 0).collect();
        points.push(base);
        points.sort_unstable();
        points.dedup();
        let mut refunded: Vec<Money> = originals.iter().map(|o| Money::zero(o.currency)).collect();
        for after in points {
            let shares = refund_shares(&originals, &refunded, base, after).unwrap();
            for ((r, s), o) in refunded.iter_mut().zip(&shares).zip(&originals) {
                prop_assert!(s.minor >= 0);
                *r = r.checked_add(*s).unwrap();
                prop_assert!(r.minor <= o.minor, "refunded beyond the original");
            }
            prop_assert_eq!(refunded[0].minor, after);
        }
        prop_assert_eq!(refunded, originals);
    }

    #[test]
    fn major_text_round_trips(minor in 0i64..i64::MAX, c in currency()) {
        let m = Money::new(minor, c);
        prop_assert_eq!(Money::from_major(&m.to_major(), c).unwrap(), m);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// A payment's FX legs: the provider's part, the markup and the
    /// rounding residue are never negative and add up to what the payer
    /// paid.
    #[test]
    fn the_fx_split_adds_up_to_the_payers_amount(
        from in currency(),
        to in currency(),
        rate in rate(),
        bps in 0u32..2_000,
        minor in 1i64..1_000_000_000,
    ) {
        let customer = Price::new(from, to, rate).less_markup(bps);
        let receive = Money::new(minor, to);
        let Ok(pay) = convert(receive, &customer.inverse(), Rounding::Up) else {
            return Ok(());
        };
        let split = money::fx_split(receive, &customer, bps, pay.to.minor).unwrap();
        prop_assert!(split.provider >= 0 && split.markup >= 0 && split.rounding >= 0);
        prop_assert_eq!(split.provider + split.markup + split.rounding, pay.to.minor);
        // Stored as a fraction and read back, the price is the same.
        let stored = Price::from_fraction(
            from,
            to,
            &customer.value().numer().to_string(),
            &customer.value().denom().to_string(),
        )
        .unwrap();
        prop_assert_eq!(stored, customer);
    }
}

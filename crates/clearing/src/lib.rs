//! Clearing and settlement (SPEC §2.8, §6), pure: no I/O.
//!
//! - [`net`]: a cycle's posted movements → each party's gross debits,
//!   gross credits, fees and multilateral net position per currency. A
//!   party is an account's owner: a participant (its settlement account)
//!   or the gateway (`unigate`: its fee income, FX markup, rounding and
//!   suspense accounts). Every movement is balanced in one currency, so
//!   the nets of a currency sum to zero — checked, not assumed
//!   ([`NettingError::Unbalanced`]).
//! - [`instructions`]: who pays whom, per currency, so that every net goes
//!   to zero: net debtors pay net creditors, largest first, in as few
//!   payments as that greedy order gives (at most parties − 1 per
//!   currency).
//! - [`Calendar`]: value dates, the n-th business day after the clearing
//!   date in the currency's calendar (weekends and configured holidays).

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::{Date, Weekday};
use ledger::{AccountId, Code};
use money::Currency;
use serde::{Deserialize, Serialize};

/// One posted movement of the cycle: `amount` (minor units of the
/// accounts' currency) from `debit` to `credit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Movement {
    pub debit: AccountId,
    pub credit: AccountId,
    pub amount: i64,
    pub code: Code,
}

/// A party's position in one currency for one cycle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub party: String,
    pub currency: Currency,
    /// What its accounts were debited in the cycle (it gave).
    pub gross_debits: i64,
    /// What its accounts were credited (it received).
    pub gross_credits: i64,
    /// Of those, the fees: credited less debited (positive: it earned
    /// fees; an acquirer's is negative: it paid them).
    pub fees: i64,
    /// Credits less debits: positive, it is owed; negative, it owes.
    pub net: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NettingError {
    #[error("a movement of {0} minor units is not positive")]
    NotPositive(i64),
    #[error("a movement debits {debit} and credits {credit}: two currencies")]
    TwoCurrencies { debit: String, credit: String },
    #[error("a sum in {0} overflows 64 bits")]
    Overflow(Currency),
    #[error("the nets in {currency} sum to {sum}, not zero")]
    Unbalanced { currency: Currency, sum: i64 },
}

/// Each party's position per currency, ordered by currency then party.
pub fn net(movements: &[Movement]) -> Result<Vec<Position>, NettingError> {
    let mut book: BTreeMap<(Currency, String), Position> = BTreeMap::new();
    for m in movements {
        if m.amount <= 0 {
            return Err(NettingError::NotPositive(m.amount));
        }
        if m.debit.currency != m.credit.currency {
            return Err(NettingError::TwoCurrencies {
                debit: m.debit.key(),
                credit: m.credit.key(),
            });
        }
        let ccy = m.debit.currency;
        let overflow = || NettingError::Overflow(ccy);
        for (account, credit) in [(&m.debit, false), (&m.credit, true)] {
            let p = book
                .entry((ccy, account.owner.clone()))
                .or_insert_with(|| Position {
                    party: account.owner.clone(),
                    currency: ccy,
                    gross_debits: 0,
                    gross_credits: 0,
                    fees: 0,
                    net: 0,
                });
            let signed = if credit { m.amount } else { -m.amount };
            if credit {
                p.gross_credits = p.gross_credits.checked_add(m.amount).ok_or_else(overflow)?;
            } else {
                p.gross_debits = p.gross_debits.checked_add(m.amount).ok_or_else(overflow)?;
            }
            if m.code == Code::Fee {
                p.fees = p.fees.checked_add(signed).ok_or_else(overflow)?;
            }
            p.net = p.net.checked_add(signed).ok_or_else(overflow)?;
        }
    }
    // A movement within one party (its own two accounts) nets to nothing
    // for it; what remains must balance per currency.
    let mut sums: BTreeMap<Currency, i64> = BTreeMap::new();
    for ((ccy, _), p) in &book {
        let s = sums.entry(*ccy).or_insert(0);
        *s = s.checked_add(p.net).ok_or(NettingError::Overflow(*ccy))?;
    }
    if let Some((currency, sum)) = sums.into_iter().find(|(_, s)| *s != 0) {
        return Err(NettingError::Unbalanced { currency, sum });
    }
    Ok(book.into_values().collect())
}

/// One settlement payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instruction {
    /// The party that pays (a net debtor) and the one paid (a creditor).
    pub payer: String,
    pub payee: String,
    pub currency: Currency,
    /// Minor units, positive.
    pub amount: i64,
}

/// The payments that bring every net to zero: per currency, the largest
/// debtor pays the largest creditor as much as both allow, and again,
/// until nothing is owed. Deterministic (ties by party name).
pub fn instructions(positions: &[Position]) -> Vec<Instruction> {
    let mut out = Vec::new();
    let currencies: BTreeSet<Currency> = positions.iter().map(|p| p.currency).collect();
    for ccy in currencies {
        let mut debtors: Vec<(String, i64)> = positions
            .iter()
            .filter(|p| p.currency == ccy && p.net < 0)
            .map(|p| (p.party.clone(), p.net.saturating_neg()))
            .collect();
        let mut creditors: Vec<(String, i64)> = positions
            .iter()
            .filter(|p| p.currency == ccy && p.net > 0)
            .map(|p| (p.party.clone(), p.net))
            .collect();
        let order = |v: &mut Vec<(String, i64)>| {
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        };
        order(&mut debtors);
        order(&mut creditors);
        let (mut d, mut c) = (0usize, 0usize);
        while let (Some(debtor), Some(creditor)) = (debtors.get(d), creditors.get(c)) {
            let amount = debtor.1.min(creditor.1);
            if amount > 0 {
                out.push(Instruction {
                    payer: debtor.0.clone(),
                    payee: creditor.0.clone(),
                    currency: ccy,
                    amount,
                });
            }
            let (left_d, left_c) = (debtor.1 - amount, creditor.1 - amount);
            if let Some(x) = debtors.get_mut(d) {
                x.1 = left_d;
            }
            if let Some(x) = creditors.get_mut(c) {
                x.1 = left_c;
            }
            if left_d == 0 {
                d += 1;
            }
            if left_c == 0 {
                c += 1;
            }
        }
    }
    out
}

/// Business days per currency: weekends (Saturday, Sunday) and the
/// configured holidays are not.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    /// Holidays by currency code: `{"CNY": ["2026-10-01", …]}`.
    #[serde(default)]
    pub holidays: BTreeMap<String, BTreeSet<String>>,
    /// Value date = this many business days after the clearing date.
    #[serde(default = "one")]
    pub lag_days: u32,
}

fn one() -> u32 {
    1
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("calendar: {0}")]
pub struct CalendarError(pub String);

impl Calendar {
    /// Check every holiday is a date and every key a currency.
    pub fn check(&self) -> Result<(), CalendarError> {
        if self.lag_days > 10 {
            return Err(CalendarError("lag_days is 0 to 10".into()));
        }
        for (ccy, days) in &self.holidays {
            Currency::parse(ccy).map_err(|e| CalendarError(format!("{ccy:?}: {e}")))?;
            if days.len() > 1_000 {
                return Err(CalendarError(format!("{ccy}: at most 1000 holidays")));
            }
            for d in days {
                d.parse::<Date>()
                    .map_err(|e| CalendarError(format!("{ccy} holiday {d:?}: {e}")))?;
            }
        }
        Ok(())
    }

    pub fn is_business_day(&self, currency: Currency, day: Date) -> bool {
        !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday)
            && !self
                .holidays
                .get(currency.code())
                .is_some_and(|h| h.contains(&day.to_string()))
    }

    /// The value date of a settlement in `currency` for `clearing_date`:
    /// `lag_days` business days later (0: the clearing date itself if it
    /// is a business day, else the next one).
    pub fn value_date(
        &self,
        currency: Currency,
        clearing_date: Date,
    ) -> Result<Date, CalendarError> {
        let mut day = clearing_date;
        let mut left = self.lag_days;
        // No calendar has a year of holidays: bounded.
        for _ in 0..400 {
            if left == 0 && self.is_business_day(currency, day) {
                return Ok(day);
            }
            day = day.tomorrow().map_err(|e| CalendarError(e.to_string()))?;
            if left > 0 && self.is_business_day(currency, day) {
                left -= 1;
                if left == 0 {
                    return Ok(day);
                }
            }
        }
        Err(CalendarError(format!(
            "no business day in {currency} within 400 days of {clearing_date}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::Kind;
    use proptest::prelude::*;

    fn ccy(c: &str) -> Currency {
        Currency::parse(c).unwrap()
    }

    fn settlement(owner: &str, c: &str) -> AccountId {
        AccountId::new(owner, Kind::Settlement, ccy(c))
    }

    fn mv(from: AccountId, to: AccountId, amount: i64, code: Code) -> Movement {
        Movement {
            debit: from,
            credit: to,
            amount,
            code,
        }
    }

    #[test]
    fn a_payment_with_fx_and_fees_nets_per_party_and_currency() {
        let movements = vec![
            // The wallet pays 4,800 MNT: 4,700 to the provider, 100 markup.
            mv(
                settlement("w", "MNT"),
                settlement("fx", "MNT"),
                4_700,
                Code::FxLeg,
            ),
            mv(
                settlement("w", "MNT"),
                AccountId::gateway(Kind::FxMarkup, ccy("MNT")),
                100,
                Code::Markup,
            ),
            // The provider pays the acquirer 1,000 CNY.
            mv(
                settlement("fx", "CNY"),
                settlement("a", "CNY"),
                1_000,
                Code::FxLeg,
            ),
            // Fees: 6 to the gateway, 2 to the wallet.
            mv(
                settlement("a", "CNY"),
                AccountId::gateway(Kind::FeeIncome, ccy("CNY")),
                6,
                Code::Fee,
            ),
            mv(settlement("a", "CNY"), settlement("w", "CNY"), 2, Code::Fee),
        ];
        let p = net(&movements).unwrap();
        let get = |party: &str, c: &str| {
            p.iter()
                .find(|x| x.party == party && x.currency == ccy(c))
                .unwrap()
                .clone()
        };
        assert_eq!(get("w", "MNT").net, -4_800);
        assert_eq!(get("fx", "MNT").net, 4_700);
        assert_eq!(get("unigate", "MNT").net, 100);
        assert_eq!(get("a", "CNY").net, 992);
        assert_eq!(get("a", "CNY").fees, -8);
        assert_eq!(get("a", "CNY").gross_credits, 1_000);
        assert_eq!(get("a", "CNY").gross_debits, 8);
        assert_eq!(get("w", "CNY").fees, 2);
        assert_eq!(get("unigate", "CNY").net, 6);
        assert_eq!(get("fx", "CNY").net, -1_000);
        let ins = instructions(&p);
        // Settling the instructions brings every net to zero.
        let mut left: BTreeMap<(String, Currency), i64> = p
            .iter()
            .map(|x| ((x.party.clone(), x.currency), x.net))
            .collect();
        for i in &ins {
            *left.get_mut(&(i.payer.clone(), i.currency)).unwrap() += i.amount;
            *left.get_mut(&(i.payee.clone(), i.currency)).unwrap() -= i.amount;
        }
        assert!(left.values().all(|v| *v == 0), "{left:?}");
        assert!(
            ins.iter()
                .any(|i| i.payer == "w" && i.payee == "fx" && i.amount == 4_700)
        );
    }

    #[test]
    fn bad_movements_are_refused() {
        assert_eq!(
            net(&[mv(
                settlement("a", "CNY"),
                settlement("b", "CNY"),
                0,
                Code::Payment
            )]),
            Err(NettingError::NotPositive(0))
        );
        assert!(matches!(
            net(&[mv(
                settlement("a", "CNY"),
                settlement("b", "THB"),
                5,
                Code::Payment
            )]),
            Err(NettingError::TwoCurrencies { .. })
        ));
        assert!(matches!(
            net(&[
                mv(
                    settlement("a", "CNY"),
                    settlement("b", "CNY"),
                    i64::MAX,
                    Code::Payment
                ),
                mv(
                    settlement("a", "CNY"),
                    settlement("b", "CNY"),
                    i64::MAX,
                    Code::Payment
                ),
            ]),
            Err(NettingError::Overflow(_))
        ));
    }

    #[test]
    fn value_dates_skip_weekends_and_holidays() {
        let mut cal = Calendar {
            lag_days: 1,
            ..Calendar::default()
        };
        let d = |s: &str| s.parse::<Date>().unwrap();
        // Friday → Monday.
        assert_eq!(
            cal.value_date(ccy("CNY"), d("2026-11-20")).unwrap(),
            d("2026-11-23")
        );
        // One business day after a Sunday is the Monday.
        assert_eq!(
            cal.value_date(ccy("CNY"), d("2026-11-22")).unwrap(),
            d("2026-11-23")
        );
        cal.holidays
            .insert("CNY".into(), ["2026-11-23".to_string()].into());
        assert_eq!(
            cal.value_date(ccy("CNY"), d("2026-11-20")).unwrap(),
            d("2026-11-24")
        );
        // Other currencies keep their own calendar.
        assert_eq!(
            cal.value_date(ccy("THB"), d("2026-11-20")).unwrap(),
            d("2026-11-23")
        );
        let same_day = Calendar {
            lag_days: 0,
            ..Calendar::default()
        };
        assert_eq!(
            same_day.value_date(ccy("THB"), d("2026-11-21")).unwrap(),
            d("2026-11-23")
        );
        assert_eq!(
            same_day.value_date(ccy("THB"), d("2026-11-20")).unwrap(),
            d("2026-11-20")
        );
        assert!(cal.check().is_ok());
        cal.holidays.insert("XXX1".into(), BTreeSet::new());
        assert!(cal.check().is_err());
    }

    proptest! {
        /// Any balanced movements: the nets of each currency sum to zero,
        /// and the instructions bring every one of them to zero, each
        /// from a debtor to a creditor.
        #[test]
        fn instructions_settle_every_net(
            moves in proptest::collection::vec((0usize..6, 0usize..6, 1i64..1_000_000, 0usize..2), 1..60)
        ) {
            let parties = ["w1", "w2", "a1", "a2", "fx", "unigate"];
            let currencies = ["CNY", "THB"];
            let movements: Vec<Movement> = moves
                .iter()
                .map(|(d, c, amount, k)| mv(
                    settlement(parties[*d], currencies[*k]),
                    settlement(parties[*c], currencies[*k]),
                    *amount,
                    Code::Payment,
                ))
                .collect();
            let positions = net(&movements).unwrap();
            let mut left: BTreeMap<(String, Currency), i64> =
                positions.iter().map(|x| ((x.party.clone(), x.currency), x.net)).collect();
            for i in instructions(&positions) {
                prop_assert!(i.amount > 0);
                prop_assert!(left[&(i.payer.clone(), i.currency)] < 0);
                prop_assert!(left[&(i.payee.clone(), i.currency)] > 0);
                *left.get_mut(&(i.payer.clone(), i.currency)).unwrap() += i.amount;
                *left.get_mut(&(i.payee.clone(), i.currency)).unwrap() -= i.amount;
            }
            prop_assert!(left.values().all(|v| *v == 0));
        }
    }
}

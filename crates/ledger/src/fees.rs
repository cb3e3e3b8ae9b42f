//! The fee schedule as data (SPEC §2.8): a merchant discount rate by
//! corridor, MCC and mode — a percentage with a minimum and a cap — split
//! among acquirer, wallet and gateway by configured shares, plus an
//! optional per-transaction scheme fee.
//!
//! Rules: the rate is applied to the merchant amount and rounded half-even
//! to the minor unit, then held within the minimum and the cap. The split
//! gives the acquirer and the wallet the floor of their shares; the gateway
//! takes the remainder, so the parts always add up to the fee. The most
//! specific matching rule applies; two rules that can match the same
//! payment with the same specificity are refused when the schedule is
//! loaded, as are shares that do not add up to 100%.

/// Why a schedule was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FeeError {
    #[error("rule {0}: the shares add up to {1} basis points, not 10000")]
    Shares(usize, u32),
    #[error("rule {0}: the rate is at most 10000 basis points")]
    Rate(usize),
    #[error("rule {0}: the minimum is above the cap, or an amount is negative")]
    Bounds(usize),
    #[error("rules {0} and {1} can match the same payment and neither is more specific")]
    Ambiguous(usize, usize),
}

/// MPM or CPM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Mpm,
    Cpm,
}

/// The shares of a fee, in basis points of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Split {
    pub acquirer_bps: u32,
    pub wallet_bps: u32,
    pub gateway_bps: u32,
}

/// One rule of the schedule; a field left out matches anything.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeRule {
    /// The payer's country (ISO 3166-1 alpha-2).
    #[serde(default)]
    pub payer_country: Option<String>,
    /// The merchant's country.
    #[serde(default)]
    pub merchant_country: Option<String>,
    #[serde(default)]
    pub mcc: Option<String>,
    #[serde(default)]
    pub mode: Option<Mode>,
    /// The merchant discount rate, in basis points of the merchant amount.
    pub rate_bps: u32,
    #[serde(default)]
    pub min_minor: i64,
    #[serde(default)]
    pub cap_minor: Option<i64>,
    pub split: Split,
    /// A per-transaction scheme fee, to the gateway, in minor units.
    #[serde(default)]
    pub scheme_fee_minor: i64,
}

impl FeeRule {
    fn keys(&self) -> [Option<&str>; 4] {
        [
            self.payer_country.as_deref(),
            self.merchant_country.as_deref(),
            self.mcc.as_deref(),
            self.mode.map(|m| match m {
                Mode::Mpm => "mpm",
                Mode::Cpm => "cpm",
            }),
        ]
    }

    fn specificity(&self) -> usize {
        self.keys().iter().filter(|k| k.is_some()).count()
    }

    fn matches(&self, p: &Payment<'_>) -> bool {
        let mode = match p.mode {
            Mode::Mpm => "mpm",
            Mode::Cpm => "cpm",
        };
        let given = [
            Some(p.payer_country),
            Some(p.merchant_country),
            Some(p.mcc),
            Some(mode),
        ];
        self.keys()
            .iter()
            .zip(given)
            .all(|(want, got)| want.is_none_or(|w| Some(w) == got))
    }
}

/// What a fee is computed for.
#[derive(Clone, Copy, Debug)]
pub struct Payment<'a> {
    pub payer_country: &'a str,
    pub merchant_country: &'a str,
    pub mcc: &'a str,
    pub mode: Mode,
    /// The merchant amount, in minor units of the merchant's currency.
    pub amount_minor: i64,
}

/// A payment's fee and its parts, in the merchant's currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Fee {
    /// The merchant discount (acquirer + wallet + gateway).
    pub discount: i64,
    pub acquirer: i64,
    pub wallet: i64,
    pub gateway: i64,
    /// The scheme fee on top, to the gateway.
    pub scheme: i64,
    /// Which rule applied.
    pub rule: usize,
}

/// A loaded, checked schedule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    rules: Vec<FeeRule>,
}

impl Schedule {
    /// Check and load the rules.
    pub fn load(rules: Vec<FeeRule>) -> Result<Schedule, FeeError> {
        for (i, r) in rules.iter().enumerate() {
            let s = r.split;
            let total = s
                .acquirer_bps
                .saturating_add(s.wallet_bps)
                .saturating_add(s.gateway_bps);
            if total != 10_000 {
                return Err(FeeError::Shares(i, total));
            }
            if r.rate_bps > 10_000 {
                return Err(FeeError::Rate(i));
            }
            if r.min_minor < 0
                || r.scheme_fee_minor < 0
                || r.cap_minor.is_some_and(|c| c < r.min_minor)
            {
                return Err(FeeError::Bounds(i));
            }
        }
        for (i, a) in rules.iter().enumerate() {
            for (j, b) in rules.iter().enumerate().skip(i + 1) {
                let overlap = a
                    .keys()
                    .iter()
                    .zip(b.keys())
                    .all(|(x, y)| x.is_none() || y.is_none() || *x == y);
                if overlap && a.specificity() == b.specificity() {
                    return Err(FeeError::Ambiguous(i, j));
                }
            }
        }
        Ok(Schedule { rules })
    }

    pub fn rules(&self) -> &[FeeRule] {
        &self.rules
    }

    /// The fee of a payment under the most specific matching rule; `None`
    /// when no rule matches.
    pub fn fee(&self, p: &Payment<'_>) -> Option<Fee> {
        let (index, rule) = self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.matches(p))
            .max_by_key(|(_, r)| r.specificity())?;
        let exact = i128::from(p.amount_minor.max(0)) * i128::from(rule.rate_bps);
        let (q, r) = (exact / 10_000, exact % 10_000);
        // Half-even to the minor unit.
        let rounded = if r > 5_000 || (r == 5_000 && q % 2 == 1) {
            q + 1
        } else {
            q
        };
        let mut discount = i64::try_from(rounded).ok()?.max(rule.min_minor);
        if let Some(cap) = rule.cap_minor {
            discount = discount.min(cap);
        }
        let share = |bps: u32| i64::try_from(i128::from(discount) * i128::from(bps) / 10_000).ok();
        let acquirer = share(rule.split.acquirer_bps)?;
        let wallet = share(rule.split.wallet_bps)?;
        Some(Fee {
            discount,
            acquirer,
            wallet,
            gateway: discount - acquirer - wallet,
            scheme: rule.scheme_fee_minor,
            rule: index,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(mcc: Option<&str>, mode: Option<Mode>, rate: u32) -> FeeRule {
        FeeRule {
            payer_country: None,
            merchant_country: None,
            mcc: mcc.map(str::to_string),
            mode,
            rate_bps: rate,
            min_minor: 1,
            cap_minor: Some(5_000),
            split: Split {
                acquirer_bps: 6_000,
                wallet_bps: 3_333,
                gateway_bps: 667,
            },
            scheme_fee_minor: 0,
        }
    }

    fn payment(amount: i64) -> Payment<'static> {
        Payment {
            payer_country: "MN",
            merchant_country: "CN",
            mcc: "5812",
            mode: Mode::Mpm,
            amount_minor: amount,
        }
    }

    #[test]
    fn the_most_specific_rule_applies_and_parts_add_up() {
        let s = Schedule::load(vec![
            rule(None, None, 60),
            rule(Some("5812"), Some(Mode::Mpm), 38),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let f = s.fee(&payment(12_345)).unwrap_or_else(|| panic!());
        // 0.38% of 123.45 = 0.46911 → 0.47.
        assert_eq!((f.discount, f.rule), (47, 1));
        assert_eq!(f.acquirer + f.wallet + f.gateway, f.discount);
        assert_eq!((f.acquirer, f.wallet, f.gateway), (28, 15, 4));
        assert_eq!(
            s.fee(&payment(1)).map(|f| f.discount),
            Some(1),
            "the minimum"
        );
        assert_eq!(
            s.fee(&payment(10_000_000_000)).map(|f| f.discount),
            Some(5_000),
            "the cap"
        );
    }

    #[test]
    fn bad_schedules_are_refused_at_load() {
        let mut bad = rule(None, None, 60);
        bad.split.gateway_bps = 0;
        assert_eq!(Schedule::load(vec![bad]), Err(FeeError::Shares(0, 9_333)));
        assert_eq!(
            Schedule::load(vec![
                rule(Some("5812"), None, 1),
                rule(None, Some(Mode::Mpm), 2)
            ]),
            Err(FeeError::Ambiguous(0, 1))
        );
        assert!(
            Schedule::load(vec![
                rule(Some("5812"), None, 1),
                rule(Some("5411"), None, 2)
            ])
            .is_ok()
        );
        let mut b = rule(None, None, 60);
        b.min_minor = 10_000;
        assert_eq!(Schedule::load(vec![b]), Err(FeeError::Bounds(0)));
        assert_eq!(
            Schedule::load(vec![rule(None, None, 10_001)]),
            Err(FeeError::Rate(0))
        );
    }
}

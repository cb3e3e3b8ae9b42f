//! The rate book and the competition between FX providers (SPEC §2.7, §6).
//!
//! A provider quotes a pair two-sided: `bid` (what it pays in `quote` for
//! one `base`) and `ask` (what it charges in `quote` for one `base`). A
//! customer converting `base → quote` gets the bid; converting
//! `quote → base` pays the ask, so gets `1/ask` base per quote. A pair the
//! provider does not quote is crossed through the configured pivot with two
//! of its own legs, at full precision. Rates older than the staleness limit
//! are not used. The gateway's markup (basis points, the most specific of
//! default, corridor and participant rules) is taken off the customer's
//! price. Among the offers, the payer gets the one that buys the most of
//! the target currency; ties go to the most recent rate, then to the
//! provider id that sorts first.

use money::{Currency, Price, Rate};

/// Why a rate or an FX request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FxError {
    #[error("a pair needs two different currencies, not {0} twice")]
    SameCurrency(String),
    #[error("the bid {bid} is above the ask {ask}")]
    BidAboveAsk { bid: String, ask: String },
    #[error("no fresh rate converts {from} to {to}")]
    NoRate { from: String, to: String },
    #[error("a markup is at most {MARKUP_BPS_MAX} basis points, not {0}")]
    MarkupTooLarge(u32),
    #[error("markup rules {0} and {1} can both match one conversion and neither is more specific")]
    AmbiguousMarkups(usize, usize),
}

/// Largest markup accepted (10%).
pub const MARKUP_BPS_MAX: u32 = 1_000;

/// A provider's two-sided rate for one pair at one time.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quoted {
    pub provider: String,
    pub base: Currency,
    pub quote: Currency,
    pub bid: Rate,
    pub ask: Rate,
    /// When the provider set it (Unix ms).
    pub at_ms: i64,
    /// Where it comes from (the provider's own reference).
    pub source: String,
}

impl Quoted {
    /// A rate must be for two currencies with `bid <= ask`.
    pub fn validate(&self) -> Result<(), FxError> {
        if self.base == self.quote {
            return Err(FxError::SameCurrency(self.base.code().into()));
        }
        if self.bid > self.ask {
            return Err(FxError::BidAboveAsk {
                bid: self.bid.to_string(),
                ask: self.ask.to_string(),
            });
        }
        Ok(())
    }

    /// The customer's price for `from → to` on this rate, if it is this
    /// pair either way round.
    pub fn price(&self, from: Currency, to: Currency) -> Option<Price> {
        if from == self.base && to == self.quote {
            Some(Price::new(from, to, self.bid))
        } else if from == self.quote && to == self.base {
            Some(Price::new(to, from, self.ask).inverse())
        } else {
            None
        }
    }

    /// The mid rate `base → quote`, exactly.
    pub fn mid(&self) -> Price {
        let bid = Price::new(self.base, self.quote, self.bid);
        let ask = Price::new(self.base, self.quote, self.ask);
        bid.midpoint(&ask)
    }

    pub fn fresh_at(&self, now_ms: i64, staleness_ms: i64) -> bool {
        now_ms.saturating_sub(self.at_ms) <= staleness_ms
            && self.at_ms <= now_ms.saturating_add(60_000)
    }
}

/// The price a set of one provider's rates gives for `from → to`: its
/// direct pair, or else a cross through `pivot` with two of its legs (the
/// freshest rate of each pair counts). `None` when it has neither.
pub fn provider_price(
    rates: &[&Quoted],
    from: Currency,
    to: Currency,
    pivot: Currency,
) -> Option<(Price, i64)> {
    if from == to {
        return Some((Price::identity(from), i64::MAX));
    }
    let leg = |a: Currency, b: Currency| {
        rates
            .iter()
            .filter_map(|q| q.price(a, b).map(|p| (p, q.at_ms)))
            .max_by_key(|(_, at)| *at)
    };
    if let Some(direct) = leg(from, to) {
        return Some(direct);
    }
    if from == pivot || to == pivot {
        return None;
    }
    let (first, at1) = leg(from, pivot)?;
    let (second, at2) = leg(pivot, to)?;
    Some((first.then(&second)?, at1.min(at2)))
}

/// One provider's offer for a conversion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub provider: String,
    /// The customer's price before the gateway's markup.
    pub price: Price,
    /// When its (oldest) rate was set.
    pub at_ms: i64,
    /// The provider's reference of a firm quote it gave, or empty.
    pub reference: String,
}

/// The best offer for the payer: the most of the target currency per unit
/// of the source; on a tie the most recent rate; then the provider id that
/// sorts first.
pub fn best(offers: &[Offer]) -> Option<&Offer> {
    offers.iter().max_by(|a, b| {
        a.price
            .value()
            .cmp(b.price.value())
            .then(a.at_ms.cmp(&b.at_ms))
            .then(b.provider.cmp(&a.provider))
    })
}

/// The offers of every provider with fresh rates for `from → to`.
pub fn offers(
    rates: &[Quoted],
    providers: &[&str],
    from: Currency,
    to: Currency,
    pivot: Currency,
    now_ms: i64,
    staleness_ms: i64,
) -> Vec<Offer> {
    providers
        .iter()
        .filter_map(|p| {
            let own: Vec<&Quoted> = rates
                .iter()
                .filter(|q| q.provider == *p && q.fresh_at(now_ms, staleness_ms))
                .collect();
            provider_price(&own, from, to, pivot).map(|(price, at_ms)| Offer {
                provider: (*p).to_string(),
                price,
                at_ms,
                reference: String::new(),
            })
        })
        .collect()
}

/// A markup rule: applies when each field given matches; the most specific
/// matching rule wins (a participant counts more than a corridor end).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MarkupRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Currency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Currency>,
    pub bps: u32,
}

impl MarkupRule {
    pub fn validate(&self) -> Result<(), FxError> {
        if self.bps > MARKUP_BPS_MAX {
            return Err(FxError::MarkupTooLarge(self.bps));
        }
        Ok(())
    }

    fn weight(&self) -> u32 {
        u32::from(self.participant.is_some()) * 4
            + u32::from(self.from.is_some())
            + u32::from(self.to.is_some())
    }

    fn matches(&self, participant: &str, from: Currency, to: Currency) -> Option<u32> {
        let mut weight = 0;
        if let Some(p) = &self.participant {
            if p != participant {
                return None;
            }
            weight += 4;
        }
        for (want, got) in [(self.from, from), (self.to, to)] {
            if let Some(c) = want {
                if c != got {
                    return None;
                }
                weight += 1;
            }
        }
        Some(weight)
    }
}

/// Check a set of rules: each within bounds, and no two that can match the
/// same conversion with the same specificity (so which applies is never a
/// matter of order).
pub fn check_rules(rules: &[MarkupRule]) -> Result<(), FxError> {
    for r in rules {
        r.validate()?;
    }
    for (i, a) in rules.iter().enumerate() {
        for (j, b) in rules.iter().enumerate().skip(i + 1) {
            let meet =
                |x: &Option<Currency>, y: &Option<Currency>| x.is_none() || y.is_none() || x == y;
            let overlap = (a.participant.is_none()
                || b.participant.is_none()
                || a.participant == b.participant)
                && meet(&a.from, &b.from)
                && meet(&a.to, &b.to);
            if overlap && a.weight() == b.weight() {
                return Err(FxError::AmbiguousMarkups(i, j));
            }
        }
    }
    Ok(())
}

/// The markup for `participant` converting `from → to`: the most specific
/// matching rule's, or `default_bps` (sets of rules are checked with
/// [`check_rules`], so no two can tie).
pub fn markup_bps(
    rules: &[MarkupRule],
    default_bps: u32,
    participant: &str,
    from: Currency,
    to: Currency,
) -> u32 {
    let mut best: Option<(u32, u32)> = None;
    for r in rules {
        if let Some(w) = r.matches(participant, from, to)
            && best.is_none_or(|(bw, _)| w > bw)
        {
            best = Some((w, r.bps));
        }
    }
    best.map_or(default_bps, |(_, bps)| bps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Currency {
        Currency::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn r(s: &str) -> Rate {
        Rate::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn quoted(p: &str, base: &str, quote: &str, bid: &str, ask: &str, at: i64) -> Quoted {
        Quoted {
            provider: p.into(),
            base: c(base),
            quote: c(quote),
            bid: r(bid),
            ask: r(ask),
            at_ms: at,
            source: "test".into(),
        }
    }

    #[test]
    fn both_sides_and_validation() {
        let q = quoted("fx1", "CNY", "THB", "4.80", "4.90", 0);
        q.validate().unwrap_or_else(|e| panic!("{e}"));
        let sell = q.price(c("CNY"), c("THB")).unwrap_or_else(|| panic!());
        assert_eq!(sell.to_decimal_string(2), "4.80");
        let buy = q.price(c("THB"), c("CNY")).unwrap_or_else(|| panic!());
        assert_eq!(buy.inverse().to_decimal_string(2), "4.90");
        assert!(q.price(c("CNY"), c("USD")).is_none());
        assert_eq!(q.mid().to_decimal_string(2), "4.85");
        assert!(matches!(
            quoted("x", "CNY", "THB", "5", "4", 0).validate(),
            Err(FxError::BidAboveAsk { .. })
        ));
        assert!(matches!(
            quoted("x", "CNY", "CNY", "1", "1", 0).validate(),
            Err(FxError::SameCurrency(_))
        ));
    }

    #[test]
    fn three_providers_a_stale_rate_a_cross_and_a_tie() {
        let now = 1_000_000;
        let rates = vec![
            quoted("alpha", "CNY", "THB", "4.80", "4.90", now - 1_000),
            // Better, but stale: not used.
            quoted("beta", "CNY", "THB", "4.95", "5.00", now - 120_000),
            // Crosses through USD at full precision: 0.14 × 34.5 = 4.83.
            quoted("gamma", "CNY", "USD", "0.14", "0.15", now - 500),
            quoted("gamma", "USD", "THB", "34.5", "35.0", now - 700),
        ];
        let providers = ["alpha", "beta", "gamma", "delta"];
        let offers = offers(
            &rates,
            &providers,
            c("CNY"),
            c("THB"),
            c("USD"),
            now,
            60_000,
        );
        assert_eq!(offers.len(), 2, "{offers:?}");
        let winner = best(&offers).unwrap_or_else(|| panic!());
        assert_eq!(winner.provider, "gamma");
        assert_eq!(winner.price.to_decimal_string(4), "4.8300");
        assert_eq!(winner.at_ms, now - 700);

        // A tie: the fresher rate wins, then the id that sorts first.
        let tie = vec![
            quoted("b", "CNY", "THB", "4.80", "4.90", now - 10),
            quoted("a", "CNY", "THB", "4.80", "4.90", now - 20),
            quoted("c", "CNY", "THB", "4.80", "4.90", now - 10),
        ];
        let offers = super::offers(
            &tie,
            &["a", "b", "c"],
            c("CNY"),
            c("THB"),
            c("USD"),
            now,
            60_000,
        );
        assert_eq!(best(&offers).map(|o| o.provider.as_str()), Some("b"));
        assert!(best(&[]).is_none());
    }

    #[test]
    fn the_most_specific_markup_wins() {
        let rules = vec![
            MarkupRule {
                participant: None,
                from: Some(c("MNT")),
                to: Some(c("CNY")),
                bps: 30,
            },
            MarkupRule {
                participant: Some("hipay".into()),
                from: None,
                to: None,
                bps: 20,
            },
            MarkupRule {
                participant: Some("hipay".into()),
                from: Some(c("MNT")),
                to: None,
                bps: 10,
            },
            MarkupRule {
                participant: None,
                from: None,
                to: Some(c("CNY")),
                bps: 40,
            },
        ];
        let (mnt, cny, thb) = (c("MNT"), c("CNY"), c("THB"));
        assert_eq!(markup_bps(&rules, 50, "hipay", mnt, cny), 10);
        assert_eq!(markup_bps(&rules, 50, "hipay", thb, cny), 20);
        assert_eq!(markup_bps(&rules, 50, "other", mnt, cny), 30);
        assert_eq!(markup_bps(&rules, 50, "other", thb, cny), 40);
        assert_eq!(markup_bps(&rules, 50, "other", cny, thb), 50);
        assert!(
            MarkupRule {
                participant: None,
                from: None,
                to: None,
                bps: 1_001
            }
            .validate()
            .is_err()
        );
    }
}

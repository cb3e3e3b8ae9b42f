//! The direction of a payment from the home country's point of view
//! (SPEC §1), from the payer's and the merchant's countries.

use serde::Serialize;

/// The home country when the configuration names none (SPEC §1).
pub const HOME_COUNTRY_DEFAULT: &str = "CN";

/// Where a payment goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A foreign payer at a home merchant (外包内用).
    Inbound,
    /// A home payer at a foreign merchant (内包外用).
    Outbound,
    /// Neither side at home: the hub connects two foreign sides.
    Transit,
    /// Both sides at home: not a cross-border payment; the cross-border
    /// flows refuse it.
    Domestic,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Transit => "transit",
            Direction::Domestic => "domestic",
        }
    }

    /// Whether the payment crosses a border (every direction but
    /// `domestic`).
    pub fn is_cross_border(self) -> bool {
        self != Direction::Domestic
    }
}

/// The direction of a payment by a payer of `payer_country` at a merchant
/// of `merchant_country` (ISO 3166 alpha-2, any case), seen from
/// `home_country`.
pub fn direction(home_country: &str, payer_country: &str, merchant_country: &str) -> Direction {
    let home = |c: &str| c.trim().eq_ignore_ascii_case(home_country.trim());
    match (home(payer_country), home(merchant_country)) {
        (true, true) => Direction::Domestic,
        (true, false) => Direction::Outbound,
        (false, true) => Direction::Inbound,
        (false, false) => Direction::Transit,
    }
}

//! A merchant's time zone from its country, for the anomaly score's night
//! feature: the IANA zone of the country's capital (for a country of
//! several zones, its capital's is the one most of its card-present trade
//! keeps; Mongolia's merchants near the border with China keep
//! Ulaanbaatar's time too). Unknown countries have no night feature.

/// ISO 3166 alpha-2 → IANA time zone, sorted by country for the search.
const ZONES: &[(&str, &str)] = &[
    ("AE", "Asia/Dubai"),
    ("AR", "America/Argentina/Buenos_Aires"),
    ("AT", "Europe/Vienna"),
    ("AU", "Australia/Sydney"),
    ("BD", "Asia/Dhaka"),
    ("BE", "Europe/Brussels"),
    ("BG", "Europe/Sofia"),
    ("BN", "Asia/Brunei"),
    ("BR", "America/Sao_Paulo"),
    ("BT", "Asia/Thimphu"),
    ("BY", "Europe/Minsk"),
    ("CA", "America/Toronto"),
    ("CH", "Europe/Zurich"),
    ("CL", "America/Santiago"),
    ("CN", "Asia/Shanghai"),
    ("CO", "America/Bogota"),
    ("CZ", "Europe/Prague"),
    ("DE", "Europe/Berlin"),
    ("DK", "Europe/Copenhagen"),
    ("EG", "Africa/Cairo"),
    ("ES", "Europe/Madrid"),
    ("FI", "Europe/Helsinki"),
    ("FR", "Europe/Paris"),
    ("GB", "Europe/London"),
    ("GR", "Europe/Athens"),
    ("HK", "Asia/Hong_Kong"),
    ("HU", "Europe/Budapest"),
    ("ID", "Asia/Jakarta"),
    ("IE", "Europe/Dublin"),
    ("IL", "Asia/Jerusalem"),
    ("IN", "Asia/Kolkata"),
    ("IT", "Europe/Rome"),
    ("JP", "Asia/Tokyo"),
    ("KE", "Africa/Nairobi"),
    ("KG", "Asia/Bishkek"),
    ("KH", "Asia/Phnom_Penh"),
    ("KR", "Asia/Seoul"),
    ("KZ", "Asia/Almaty"),
    ("LA", "Asia/Vientiane"),
    ("LK", "Asia/Colombo"),
    ("MM", "Asia/Yangon"),
    ("MN", "Asia/Ulaanbaatar"),
    ("MO", "Asia/Macau"),
    ("MV", "Indian/Maldives"),
    ("MX", "America/Mexico_City"),
    ("MY", "Asia/Kuala_Lumpur"),
    ("NG", "Africa/Lagos"),
    ("NL", "Europe/Amsterdam"),
    ("NO", "Europe/Oslo"),
    ("NP", "Asia/Kathmandu"),
    ("NZ", "Pacific/Auckland"),
    ("PE", "America/Lima"),
    ("PH", "Asia/Manila"),
    ("PK", "Asia/Karachi"),
    ("PL", "Europe/Warsaw"),
    ("PT", "Europe/Lisbon"),
    ("QA", "Asia/Qatar"),
    ("RO", "Europe/Bucharest"),
    ("RU", "Europe/Moscow"),
    ("SA", "Asia/Riyadh"),
    ("SE", "Europe/Stockholm"),
    ("SG", "Asia/Singapore"),
    ("TH", "Asia/Bangkok"),
    ("TJ", "Asia/Dushanbe"),
    ("TM", "Asia/Ashgabat"),
    ("TR", "Europe/Istanbul"),
    ("TW", "Asia/Taipei"),
    ("UA", "Europe/Kyiv"),
    ("US", "America/New_York"),
    ("UZ", "Asia/Tashkent"),
    ("VN", "Asia/Ho_Chi_Minh"),
    ("ZA", "Africa/Johannesburg"),
];

/// The time zone of a merchant in `country` (ISO 3166 alpha-2).
pub fn country_time_zone(country: &str) -> Option<&'static str> {
    ZONES
        .binary_search_by(|(c, _)| (*c).cmp(country))
        .ok()
        .and_then(|i| ZONES.get(i))
        .map(|(_, zone)| *zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_unique_so_the_search_finds_every_row() {
        assert!(ZONES.windows(2).all(|w| w[0].0 < w[1].0));
        for (country, zone) in ZONES {
            assert_eq!(country_time_zone(country), Some(*zone));
        }
        assert_eq!(country_time_zone("MN"), Some("Asia/Ulaanbaatar"));
        assert_eq!(country_time_zone("XX"), None);
    }
}

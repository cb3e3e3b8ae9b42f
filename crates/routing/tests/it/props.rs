//! Properties: no input reaches a panic, canonical values are fixed
//! points, and the longest matching prefix wins.

use proptest::prelude::*;
use routing::{Kind, Matcher, Side, subject_of};

use crate::table;

proptest! {
    #[test]
    fn any_payload_and_any_route_value_are_handled(payload in ".{0,300}", value in ".{0,120}") {
        let t = table(&[
            ("merchant", "account", "A000000727:9704", "a"),
            ("merchant", "url_host", "*.alipay.com", "b"),
            ("wallet", "token_range", "10-15", "c"),
        ]);
        if let Ok(s) = subject_of(&payload) {
            let _ = t.resolve(&s, &[]);
        }
        for kind in Kind::ALL {
            if let Ok(m) = Matcher::parse(kind, &value) {
                // The canonical text parses to the same matcher.
                prop_assert_eq!(Matcher::parse(kind, &m.value()), Ok(m));
            }
        }
    }

    #[test]
    fn the_longest_matching_wallet_prefix_wins(code in "62[0-9]{17}", cut in 2usize..19) {
        let long = &code[..cut];
        let t = table(&[
            ("wallet", "payment_code_prefix", "6", "one"),
            ("wallet", "payment_code_prefix", long, "long"),
        ]);
        let got = t.resolve(&subject_of(&code).unwrap(), &[]).unwrap();
        prop_assert_eq!(got.side, Side::Wallet);
        prop_assert_eq!(got.participant_id, "long");
    }
}

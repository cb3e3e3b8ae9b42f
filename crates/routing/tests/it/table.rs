//! Specificity, ambiguity, not found, the registry, direction and
//! validation, by example.

use routing::{
    Direction, Kind, MatchKind, Matcher, RegistryHit, ResolveError, RouteSpec, Side, direction,
    subject_of,
};

use crate::table;

/// A PromptPay code that also carries UnionPay (tag 15).
const PROMPTPAY: &str =
    "00020101021129370016A000000677010111011300668012345675802TH530376463046197";
/// The EMVCo example from Ghana: Visa (02) and Mastercard (04), no
/// national scheme.
const GHANA: &str = "0002010102110213404587173785204155326311010619815204829953039365802GH5909CIB GHANA6005ACCRA622407088656730603088656730663041437";
/// A DuitNow code (acquirer id 890053 in tag 26 sub-tag 01).
fn duitnow() -> String {
    routing_sample("duitnow")
}

/// The first valid sample of `scheme` in the codec's fixtures.
fn routing_sample(scheme: &str) -> String {
    let path = format!(
        "{}/../qr/tests/fixtures/schemes.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let all: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all.iter()
        .find(|f| f["expect"]["valid"] == true && f["expect"]["scheme"] == scheme)
        .and_then(|f| f["payload"].as_str())
        .unwrap()
        .to_string()
}

fn spec(side: &str, kind: &str, value: &str, participant: &str) -> RouteSpec {
    RouteSpec {
        side: side.into(),
        kind: kind.into(),
        value: value.into(),
        participant_id: participant.into(),
    }
}

#[test]
fn a_longer_account_prefix_beats_a_shorter_one_and_the_bare_id() {
    let t = table(&[
        ("merchant", "account", "A000000677010111", "bare"),
        ("merchant", "account", "A000000677010111:0066", "short"),
        ("merchant", "account", "A000000677010111:00668", "long"),
    ]);
    let got = t.resolve(&subject_of(PROMPTPAY).unwrap(), &[]).unwrap();
    assert_eq!(
        (got.participant_id.as_str(), got.route_id.as_deref()),
        ("long", Some("r3"))
    );
    assert_eq!(got.kind, MatchKind::Account);
    assert_eq!(got.value.as_deref(), Some("A000000677010111:00668"));
    // A prefix that does not match does not count.
    let t = table(&[
        ("merchant", "account", "A000000677010111", "bare"),
        ("merchant", "account", "A000000677010111:0099", "other"),
    ]);
    let got = t.resolve(&subject_of(PROMPTPAY).unwrap(), &[]).unwrap();
    assert_eq!(got.participant_id, "bare");
}

#[test]
fn the_registry_beats_an_acquirer_id_which_beats_an_account_prefix() {
    let code = duitnow();
    let subject = subject_of(&code).unwrap();
    let acquirer = subject
        .accounts
        .iter()
        .find(|a| a.scheme == Some("duitnow"))
        .and_then(|a| a.acquirer_ids.first().cloned())
        .expect("DuitNow names its acquirer");
    let by_id = format!("duitnow:{acquirer}");
    let by_prefix = format!("A0000006150001:{acquirer}");
    let t = table(&[
        ("merchant", "account", &by_prefix, "prefix"),
        ("merchant", "acquirer_id", &by_id, "acquirer"),
        ("merchant", "account", "A0000006150001", "bare"),
    ]);
    let got = t.resolve(&subject, &[]).unwrap();
    assert_eq!(
        (got.participant_id.as_str(), got.kind),
        ("acquirer", MatchKind::AcquirerId)
    );
    let hit = RegistryHit {
        merchant_id: "gm-1".into(),
        acquirer_id: "registered".into(),
    };
    let got = t.resolve(&subject, std::slice::from_ref(&hit)).unwrap();
    assert_eq!(got.participant_id, "registered");
    assert_eq!(got.kind, MatchKind::Registry);
    assert_eq!(got.merchant_id.as_deref(), Some("gm-1"));
    assert_eq!(got.route_id, None);
    // Two registered merchants of different acquirers: ambiguous.
    let other = RegistryHit {
        merchant_id: "gm-2".into(),
        acquirer_id: "elsewhere".into(),
    };
    assert!(matches!(
        t.resolve(&subject, &[hit, other]),
        Err(ResolveError::Ambiguous { .. })
    ));
}

#[test]
fn the_governing_scheme_wins_a_tie_and_other_ties_are_ambiguous() {
    // Visa and Mastercard in a code no national scheme governs: a tie.
    let t = table(&[
        ("merchant", "account", "02", "acq-visa"),
        ("merchant", "account", "04", "acq-mastercard"),
    ]);
    match t.resolve(&subject_of(GHANA).unwrap(), &[]) {
        Err(ResolveError::Ambiguous { side, candidates }) => {
            assert_eq!(side, Side::Merchant);
            let mut ids: Vec<_> = candidates
                .iter()
                .map(|c| c.participant_id.as_str())
                .collect();
            ids.sort_unstable();
            assert_eq!(ids, ["acq-mastercard", "acq-visa"]);
        }
        other => panic!("{other:?}"),
    }
    // Two routes of one participant are not ambiguous.
    let t = table(&[
        ("merchant", "account", "02", "acq-cards"),
        ("merchant", "account", "04", "acq-cards"),
    ]);
    assert_eq!(
        t.resolve(&subject_of(GHANA).unwrap(), &[])
            .unwrap()
            .participant_id,
        "acq-cards"
    );
    // SGQR with PayNow and UnionPay: the governing SGQR entry wins.
    let t = table(&[
        ("merchant", "account", "SG.PAYNOW", "acq-paynow"),
        ("merchant", "account", "15", "acq-unionpay"),
        ("merchant", "account", "sg.sgqr", "acq-sgqr"),
    ]);
    let got = t
        .resolve(&subject_of(&routing_sample("sgqr")).unwrap(), &[])
        .unwrap();
    assert_eq!(got.participant_id, "acq-sgqr");
}

#[test]
fn nothing_matching_is_not_found_on_the_code_side() {
    let t = table(&[("wallet", "payment_code_prefix", "62", "w")]);
    assert_eq!(
        t.resolve(&subject_of(PROMPTPAY).unwrap(), &[]),
        Err(ResolveError::NotFound {
            side: Side::Merchant
        })
    );
    let t = table(&[("merchant", "account", "A000000677010111", "a")]);
    assert_eq!(
        t.resolve(&subject_of("6212345678901234567").unwrap(), &[]),
        Err(ResolveError::NotFound { side: Side::Wallet })
    );
}

#[test]
fn wallet_routes_narrower_wins_equal_width_is_ambiguous() {
    let code = subject_of("6212345678901234567").unwrap();
    let t = table(&[
        ("wallet", "payment_code_prefix", "62", "wide"),
        ("wallet", "token_range", "621-622", "range"),
        ("wallet", "payment_code_prefix", "6212", "prefix"),
    ]);
    assert_eq!(t.resolve(&code, &[]).unwrap().participant_id, "prefix");
    // A range of width 1 over four digits covers what a four-digit prefix
    // covers: equal specificity, different participants.
    let t = table(&[
        ("wallet", "token_range", "6212-6212", "range"),
        ("wallet", "payment_code_prefix", "6212", "prefix"),
    ]);
    assert!(matches!(
        t.resolve(&code, &[]),
        Err(ResolveError::Ambiguous {
            side: Side::Wallet,
            ..
        })
    ));
    // Narrower than a prefix of the same length: a range of two-digit
    // bounds of width 1 beats a prefix of one digit.
    let t = table(&[
        ("wallet", "token_range", "60-69", "ten"),
        ("wallet", "token_range", "62-63", "two"),
    ]);
    assert_eq!(t.resolve(&code, &[]).unwrap().participant_id, "two");
    // Outside the range: not found.
    let t = table(&[("wallet", "token_range", "63-69", "x")]);
    assert!(t.resolve(&code, &[]).is_err());
}

#[test]
fn hosts_exact_beat_wildcards_and_wildcards_skip_the_apex() {
    let url = subject_of("https://qr.alipay.com/bavh4wjlxf12tper3a").unwrap();
    let t = table(&[
        ("merchant", "url_host", "*.alipay.com", "wild"),
        ("merchant", "url_host", "QR.ALIPAY.COM", "exact"),
    ]);
    assert_eq!(t.resolve(&url, &[]).unwrap().participant_id, "exact");
    let t = table(&[
        ("merchant", "url_host", "*.com", "wide"),
        ("merchant", "url_host", "*.alipay.com", "narrow"),
    ]);
    assert_eq!(t.resolve(&url, &[]).unwrap().participant_id, "narrow");
    let t = table(&[("merchant", "url_host", "*.qr.alipay.com", "sub")]);
    assert!(t.resolve(&url, &[]).is_err());
}

#[test]
fn reverse_domain_ids_ignore_case_aids_do_not() {
    let pix = subject_of(&routing_sample("pix")).unwrap();
    let t = table(&[("merchant", "account", "BR.Gov.Bcb.Pix", "pix")]);
    assert_eq!(t.resolve(&pix, &[]).unwrap().participant_id, "pix");
    let t = table(&[("merchant", "account", "a000000677010111", "lower")]);
    assert!(t.resolve(&subject_of(PROMPTPAY).unwrap(), &[]).is_err());
}

#[test]
fn identifiers_for_the_registry_are_read_from_the_code() {
    let s = subject_of(PROMPTPAY).unwrap();
    assert!(
        s.identifiers
            .iter()
            .any(|i| i.kind == "promptpay_proxy" && i.value == "0066801234567"),
        "{:?}",
        s.identifiers
    );
    assert_eq!(s.merchant_country.as_deref(), Some("TH"));
    for i in &s.identifiers {
        assert!(
            participant::merchant::IDENTIFIER_KINDS
                .iter()
                .any(|(k, _)| *k == i.kind),
            "{i:?}"
        );
    }
    // A payment code is a secret: its Debug shows the last four only.
    let code = subject_of("6212345678901234567").unwrap();
    let shown = format!("{code:?}");
    assert!(!shown.contains("6212345678901234567"), "{shown}");
    assert!(shown.contains("4567"));
}

#[test]
fn directions_from_the_home_country() {
    assert_eq!(direction("CN", "MN", "CN"), Direction::Inbound);
    assert_eq!(direction("CN", "cn", "TH"), Direction::Outbound);
    assert_eq!(direction("CN", "MN", "TH"), Direction::Transit);
    assert_eq!(direction("CN", "MN", "MN"), Direction::Transit);
    assert_eq!(direction("CN", "CN", "CN"), Direction::Domestic);
    assert!(!Direction::Domestic.is_cross_border());
    assert!(Direction::Transit.is_cross_border());
    assert_eq!(direction("TH", "CN", "TH"), Direction::Inbound);
    assert_eq!(Direction::Outbound.as_str(), "outbound");
}

#[test]
fn validation_names_the_field_and_the_fault() {
    let refused = |s: RouteSpec| s.validate().expect_err("refused");
    for (s, field, needle) in [
        (
            spec("buyer", "account", "15", "a"),
            "side",
            "merchant or wallet",
        ),
        (spec("merchant", "guid", "15", "a"), "kind", "not one of"),
        (
            spec("wallet", "account", "15", "a"),
            "kind",
            "merchant side",
        ),
        (
            spec("wallet", "url_host", "qr.alipay.com", "w"),
            "kind",
            "merchant side",
        ),
        (
            spec("merchant", "account", "15", ""),
            "participant_id",
            "1 to 64",
        ),
        (
            spec("merchant", "account", "15", "Has Caps"),
            "participant_id",
            "a-z",
        ),
        (spec("merchant", "account", "", "a"), "value", "1 to 100"),
        (
            spec("merchant", "account", &"A".repeat(101), "a"),
            "value",
            "1 to 100",
        ),
        (
            spec("merchant", "account", &"A".repeat(33), "a"),
            "value",
            "1 to 32",
        ),
        (spec("merchant", "account", "01", "a"), "value", "02-25"),
        (spec("merchant", "account", "26", "a"), "value", "02-25"),
        (
            spec("merchant", "account", "A0000!0727", "a"),
            "value",
            "AID or GUID",
        ),
        (
            spec("merchant", "account", "br..pix", "a"),
            "value",
            "reverse-domain",
        ),
        (spec("merchant", "account", "@", "a"), "value", "bank id"),
        (
            spec("merchant", "account", "A000000727:", "a"),
            "value",
            "account prefix",
        ),
        (
            spec("merchant", "acquirer_id", "970436", "a"),
            "value",
            "SCHEME:ID",
        ),
        (
            spec("merchant", "acquirer_id", "pix:1", "a"),
            "value",
            "names no acquirer id",
        ),
        (
            spec("merchant", "url_host", "https://qr.alipay.com", "a"),
            "value",
            "host name",
        ),
        (
            spec("merchant", "url_host", "*.", "a"),
            "value",
            "host name",
        ),
        (
            spec("wallet", "payment_code_prefix", "62a", "a"),
            "value",
            "digits",
        ),
        (
            spec("wallet", "payment_code_prefix", &"1".repeat(31), "a"),
            "value",
            "1 to 30",
        ),
        (
            spec("wallet", "token_range", "62", "a"),
            "value",
            "LOW-HIGH",
        ),
        (
            spec("wallet", "token_range", "62-6299", "a"),
            "value",
            "equal length",
        ),
        (
            spec("wallet", "token_range", "69-62", "a"),
            "value",
            "above",
        ),
        (spec("merchant", "account", " 15", "a"), "value", "spaces"),
    ] {
        let e = refused(s.clone());
        assert_eq!(e.field, field, "{s:?}: {e}");
        assert!(e.message.contains(needle), "{s:?}: {e}");
    }
    // Canonical forms: reverse-domain ids and hosts in lower case.
    let (row, m) = spec("merchant", "account", "SG.PayNow:0066", "acq-1")
        .validate()
        .unwrap();
    assert_eq!(row.value, "sg.paynow:0066");
    assert_eq!((row.side, row.kind), (Side::Merchant, Kind::Account));
    assert_eq!(m.kind(), Kind::Account);
    let (row, _) = spec("merchant", "url_host", "*.QR.Alipay.com", "acq-1")
        .validate()
        .unwrap();
    assert_eq!(row.value, "*.qr.alipay.com");
    let (row, m) = spec("wallet", "token_range", "1000-1999", "w")
        .validate()
        .unwrap();
    assert_eq!(row.value, "1000-1999");
    assert_eq!(
        m,
        Matcher::TokenRange {
            low: "1000".into(),
            high: "1999".into()
        }
    );
}

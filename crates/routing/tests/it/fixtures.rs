//! Every published sample code of `crates/qr/tests/fixtures` routes to its
//! governing scheme's acquirer (or a more specific route the table adds),
//! every payment code to its wallet, every merchant URL by its host.

use routing::{MatchKind, Side, subject_of};
use serde_json::Value;

use crate::table;

fn fixture(name: &str) -> Vec<Value> {
    let path = format!("{}/../qr/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("fixture JSON")
}

/// Each scheme its own acquirer, plus a few narrower routes.
fn merchant_routes() -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    let m = "merchant";
    vec![
        (m, "account", "A000000677010111", "acq-promptpay"),
        (m, "account", "A000000677010114", "acq-promptpay"),
        (m, "account", "A000000677010112", "acq-promptpay"),
        (m, "account", "A000000677012006", "acq-promptpay"),
        (m, "account", "ID.CO.QRIS.WWW", "acq-qris"),
        (m, "account", "ID.OR.GPNQR.WWW", "acq-qris"),
        (m, "account", "A0000006150001", "acq-duitnow"),
        (m, "account", "SG.PAYNOW", "acq-paynow"),
        (m, "account", "SG.SGQR", "acq-sgqr"),
        (m, "account", "hk.com.hkicl", "acq-fps"),
        (m, "account", "A000000727", "acq-vietqr"),
        (m, "account", "@devb", "acq-khqr"),
        (m, "account", "@nbcq", "acq-khqr"),
        (m, "account", "@ftcc", "acq-khqr"),
        (m, "account", "@abaa", "acq-khqr"),
        (m, "account", "com.p2pqrpay", "acq-qrph"),
        (m, "account", "ph.ppmi.p2m", "acq-qrph"),
        (m, "account", "ph.ppmi.p2micro", "acq-qrph"),
        // Upper case here, lower case in some codes: reverse-domain ids
        // match ignoring case.
        (m, "account", "BR.GOV.BCB.PIX", "acq-pix"),
        (m, "account", "A000000524", "acq-upi"),
        (m, "account", "jp.or.paymentsjapan", "acq-jpqr"),
        (m, "account", "15", "acq-unionpay"),
        (m, "account", "16", "acq-unionpay"),
        (m, "account", "02", "acq-visa"),
        (m, "account", "04", "acq-mastercard"),
        (m, "account", "05", "acq-mastercard"),
        (m, "account", "11", "acq-amex"),
        (m, "account", "12", "acq-amex"),
        (m, "account", "D15600000000", "acq-emvco"),
        (m, "account", "D15600000001", "acq-emvco"),
        (m, "account", "A000000775", "acq-emvco"),
        // Narrower: one VietQR bank by its BIN as an account prefix, another
        // by the acquirer id VietQR names, one UnionPay acquirer by its IIN.
        (m, "account", "A000000727:970436", "acq-vietcombank"),
        (m, "acquirer_id", "vietqr:970403", "acq-sacombank"),
        (m, "account", "15:27330524", "acq-unionpay-nepal"),
        // Merchant URL codes by host; the exact host beats the wildcard.
        (m, "url_host", "qr.alipay.com", "acq-alipay"),
        (m, "url_host", "*.alipay.com", "acq-other"),
        (m, "url_host", "wxpay", "acq-wechatpay"),
        (m, "url_host", "wxp", "acq-wechatpay"),
        (m, "url_host", "*.95516.com", "acq-unionpay-cn"),
        // UPI links by the payee address's handle.
        (m, "account", "@npci", "acq-npci"),
        (m, "account", "@okicici", "acq-icici"),
    ]
}

fn wallet_routes() -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    let w = "wallet";
    vec![
        (w, "token_range", "10-14", "wallet-wechatpay"),
        (w, "payment_code_prefix", "15", "wallet-wechatpay-hk"),
        (w, "token_range", "25-30", "wallet-alipay"),
        (w, "payment_code_prefix", "62", "wallet-unionpay"),
        // Narrower than 62: one issuer's BIN.
        (w, "payment_code_prefix", "622609", "wallet-unionpay-issuer"),
        (w, "token_range", "9360000000-9360999999", "wallet-qris"),
        (w, "payment_code_prefix", "1234", "wallet-test"),
    ]
}

fn all_routes() -> routing::Table {
    let mut rows = merchant_routes();
    rows.extend(wallet_routes());
    table(&rows)
}

/// The acquirer the table above should choose for a valid MPM fixture,
/// read from the fixture's own expectation (not from this crate).
fn expected_acquirer(scheme: &str, expect: &Value) -> String {
    let accounts = expect["accounts"].as_array().cloned().unwrap_or_default();
    let named = |scheme: &str, key: &str| {
        accounts
            .iter()
            .filter(|a| a["scheme"] == scheme)
            .filter_map(|a| a["named"][key].as_str().map(str::to_string))
            .collect::<Vec<_>>()
    };
    if named("vietqr", "bank_bin").iter().any(|b| b == "970403") {
        return "acq-sacombank".into();
    }
    if named("vietqr", "bank_bin").iter().any(|b| b == "970436") {
        return "acq-vietcombank".into();
    }
    if named("unionpay", "acquirer_iin")
        .iter()
        .any(|b| b == "27330524")
    {
        return "acq-unionpay-nepal".into();
    }
    format!("acq-{scheme}")
}

#[test]
fn every_valid_mpm_sample_routes_to_its_scheme_acquirer() {
    let table = all_routes();
    let mut routed = 0;
    for f in fixture("schemes.json") {
        let name = f["name"].as_str().unwrap();
        let payload = f["payload"].as_str().unwrap();
        let expect = &f["expect"];
        if expect["valid"] != true {
            // Refused samples (some only once a clock says they expired).
            continue;
        }
        let subject = subject_of(payload).unwrap_or_else(|e| panic!("{name}: {e}"));
        let scheme = expect["scheme"].as_str().unwrap_or(subject.scheme);
        assert_eq!(subject.scheme, scheme, "{name}");
        assert_eq!(subject.side(), Side::Merchant, "{name}");
        let got = table
            .resolve(&subject, &[])
            .unwrap_or_else(|e| panic!("{name} ({scheme}): {e}"));
        assert_eq!(
            got.participant_id,
            expected_acquirer(scheme, expect),
            "{name} ({scheme}) matched {:?} {:?}",
            got.kind,
            got.value
        );
        routed += 1;
    }
    assert!(routed >= 140, "only {routed} samples routed");
}

#[test]
fn payment_codes_route_to_wallets_and_merchant_urls_by_host() {
    let table = all_routes();
    let (mut wallets, mut urls, mut upi) = (0, 0, 0);
    for f in fixture("cpm-cn-upi.json") {
        let name = f["name"].as_str().unwrap();
        let payload = f["payload"].as_str().unwrap();
        let expect = &f["expect"];
        if expect["valid"] != true {
            continue;
        }
        let subject = subject_of(payload).unwrap_or_else(|e| panic!("{name}: {e}"));
        if expect["format"] == "emvco-cpm" && expect["pan_last4"].is_null() {
            // A CPM without a PAN (only proprietary tokens) has nothing
            // to route by.
            assert_eq!(
                table.resolve(&subject, &[]),
                Err(routing::ResolveError::NotFound { side: Side::Wallet }),
                "{name}"
            );
            continue;
        }
        let got = table
            .resolve(&subject, &[])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let scheme = expect["scheme"].as_str().unwrap();
        let want = match (expect["format"].as_str().unwrap(), scheme) {
            ("cn-payment-code", "wechatpay") if payload.starts_with("15") => "wallet-wechatpay-hk",
            ("cn-payment-code", "unionpay") if payload.starts_with("622609") => {
                "wallet-unionpay-issuer"
            }
            ("cn-payment-code" | "emvco-cpm", s) => match s {
                "wechatpay" => "wallet-wechatpay",
                "alipay" => "wallet-alipay",
                "unionpay" => "wallet-unionpay",
                "qris" => "wallet-qris",
                _ => "wallet-test",
            },
            ("cn-merchant-url", "alipay") => "acq-alipay",
            ("cn-merchant-url", "wechatpay") => "acq-wechatpay",
            ("cn-merchant-url", "unionpay") => "acq-unionpay-cn",
            ("upi-uri", _) if payload.contains("@npci") => "acq-npci",
            ("upi-uri", _) => "acq-icici",
            other => panic!("{name}: no expectation for {other:?}"),
        };
        assert_eq!(got.participant_id, want, "{name}: {got:?}");
        match got.side {
            Side::Wallet => {
                assert!(matches!(
                    got.kind,
                    MatchKind::PaymentCodePrefix | MatchKind::TokenRange
                ));
                wallets += 1;
            }
            Side::Merchant if got.kind == MatchKind::UrlHost => urls += 1,
            Side::Merchant => upi += 1,
        }
    }
    assert!(
        wallets >= 15 && urls == 5 && upi == 4,
        "{wallets} {urls} {upi}"
    );
}

#[test]
fn the_qr_examples_payment_codes_route_too() {
    let table = all_routes();
    for (code, want) in [
        ("134567890123456789", "wallet-wechatpay"),
        ("281234567890123456", "wallet-alipay"),
        ("6212345678901234567", "wallet-unionpay"),
        ("6226091234567890123", "wallet-unionpay-issuer"),
    ] {
        let subject = subject_of(code).unwrap();
        let got = table.resolve(&subject, &[]).unwrap();
        assert_eq!(got.participant_id, want, "{code}");
        assert_eq!(got.side, Side::Wallet);
    }
}

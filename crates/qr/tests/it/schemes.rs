//! The national scheme profiles: published codes decode as expected, each
//! tolerated deviation is refused by generic EMVCo, and each rule a scheme
//! adds is shown both ways.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::assert_subset;
use crate::encoder::mutate;
use crate::fixtures::fixtures;

fn options(now: Option<&str>, profile: Option<&str>, refuse_expired: bool) -> qr::Options {
    qr::Options {
        refuse_expired,
        profile: profile.map(|p| qr::profile::by_name(p).expect("known profile")),
        context: qr::profile::Context {
            now_unix_ms: now.map(|t| {
                t.parse::<jiff::Timestamp>()
                    .expect("RFC 3339")
                    .as_millisecond()
            }),
        },
        ..qr::Options::default()
    }
}

fn decode(payload: &str, now: Option<&str>, profile: Option<&str>) -> Value {
    decode_with(payload, &options(now, profile, false))
}

fn decode_with(payload: &str, options: &qr::Options) -> Value {
    let text = match qr::decode(payload, options) {
        Ok(d) => d.to_json(),
        Err(e) => e.to_json(),
    };
    serde_json::from_str(&text).expect("JSON")
}

fn payload_of(name: &str) -> String {
    fixtures("schemes.json")
        .into_iter()
        .find(|f| f["name"] == name)
        .and_then(|f| f["payload"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no fixture {name}"))
}

#[test]
fn published_codes_decode_as_expected() {
    let list = fixtures("schemes.json");
    assert!(list.len() > 150);
    for f in &list {
        let name = f["name"].as_str().unwrap_or("?");
        let refuse = f["refuse_expired"].as_bool().unwrap_or(false);
        let actual = decode_with(
            f["payload"].as_str().expect("payload"),
            &options(f["now"].as_str(), None, refuse),
        );
        assert_subset(&f["expect"], &actual, name);
        if let Some(refusal) = f.get("generic_refuses") {
            let generic = decode(
                f["payload"].as_str().expect("payload"),
                f["now"].as_str(),
                Some("emvco"),
            );
            assert_subset(
                &serde_json::json!({"valid": false, "error": refusal}),
                &generic,
                &format!("{name} under emvco"),
            );
        }
    }
}

#[test]
fn every_scheme_has_published_codes() {
    let list = fixtures("schemes.json");
    let valid: BTreeSet<&str> = list
        .iter()
        .filter(|f| f["expect"]["valid"] == true)
        .filter_map(|f| f["expect"]["scheme"].as_str())
        .collect();
    for p in qr::profile::PROFILES {
        assert!(
            valid.contains(p.scheme()),
            "no published valid code for {}",
            p.scheme()
        );
    }
}

/// Every tolerance of every profile is exercised: a published code shows it
/// as a warning (and generic EMVCo refuses that code), or the synthetic case
/// below does.
#[test]
fn every_tolerance_is_exercised_both_ways() {
    let list = fixtures("schemes.json");
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for f in &list {
        let Some(warnings) = f["expect"]["warnings"].as_array() else {
            continue;
        };
        for w in warnings {
            seen.insert((
                f["expect"]["scheme"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                w["rule"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    // KHQR with lowercase CRC digits (the SDK upper-cases before comparing).
    let kh = payload_of("kh2_khqr_rs_merchant_khr");
    let lower = format!(
        "{}{}",
        &kh[..kh.len() - 4],
        kh[kh.len() - 4..].to_lowercase()
    );
    assert_ne!(lower, kh);
    let d = decode(&lower, None, None);
    assert_eq!(d["scheme"], "khqr", "{d}");
    assert_eq!(d["warnings"][0]["rule"], "crc.uppercase", "{d}");
    let g = decode(&lower, None, Some("emvco"));
    assert_eq!(g["error"]["rule"], "crc.uppercase", "{g}");
    seen.insert(("khqr".into(), "crc.uppercase".into()));

    for p in qr::profile::PROFILES {
        for t in p.tolerances() {
            assert!(
                seen.contains(&(p.scheme().to_string(), t.rule.id().to_string())),
                "{} tolerates {} but no test shows it",
                p.scheme(),
                t.rule.id()
            );
            assert!(!t.source.is_empty());
        }
    }
}

/// One broken rule: the base code with `path` set to `value` (removed for
/// `None`) fails with `code` and `rule`.
struct Case {
    base: &'static str,
    path: &'static str,
    value: Option<&'static str>,
    now: Option<&'static str>,
    code: &'static str,
    rule: &'static str,
}

const fn case(
    base: &'static str,
    path: &'static str,
    value: Option<&'static str>,
    code: &'static str,
    rule: &'static str,
) -> Case {
    Case {
        base,
        path,
        value,
        now: None,
        code,
        rule,
    }
}

const PP: &str = "promptpay_p2p_mobile_080_123_4567_static";
const PPB: &str = "promptpay_bill_payment_tag_30_biller_0112233445566_ref1_cust";
const QRIS: &str = "qris_speedcash_merchant_static_real_world_from_app_config";
const DN: &str = "duitnow_mosque_static_qr_real_world";
const PN: &str = "paynow_paynow_mobile_6512345678_amount_1234_56_expiry_203012";
const SG: &str = "sgqr_nets_sgqr_soba_express_from_cna_news_photo";
const FPS: &str = "fps_fps_id_6000509_with_26_06_1_10_50";
const VN: &str = "vn7_giautm_test";
const KH: &str = "kh2_khqr_rs_merchant_khr";
const KHD: &str = "kh4_khqr_rs_aba_merchant";
const PH: &str = "ph1_paymongo_qr_transfer_resource";
const BR: &str = "br1_bcb_manual_static_evp_stone_test_bacen_example";
const BRD: &str = "br4_gist_manual_6_2_dynamic_url";
const IN: &str = "in2_razorpay_docs_dynamic_bharat_qr";
const JP: &str = "jp1_mercari_jpqr_test_decode_encode";

const BV: &str = "bad_value";
const MT: &str = "missing_tag";

fn cases() -> Vec<Case> {
    vec![
        case(PP, "53", Some("840"), BV, "promptpay.currency"),
        case(PP, "58", Some("LA"), BV, "promptpay.country"),
        case(PP, "29.01", None, MT, "promptpay.proxy"),
        case(PP, "29.02", Some("1111111111111"), BV, "promptpay.proxy"),
        case(PP, "29.01", Some("0812345678"), BV, "promptpay.mobile"),
        case(PPB, "30.01", None, MT, "promptpay.biller_id"),
        case(PPB, "30.02", None, MT, "promptpay.reference_1"),
        case(QRIS, "53", Some("840"), BV, "qris.currency"),
        case(QRIS, "61", None, MT, "qris.postal_code"),
        case(QRIS, "51.02", None, MT, "qris.nmid"),
        case(QRIS, "51.03", Some("XYZ"), BV, "qris.merchant_criteria"),
        case(QRIS, "26.01", Some("93600815ABC"), BV, "qris.merchant_pan"),
        case(DN, "53", Some("702"), BV, "duitnow.currency"),
        case(DN, "58", Some("SG"), BV, "duitnow.country"),
        case(PN, "53", Some("458"), BV, "paynow.currency"),
        case(PN, "26.01", None, MT, "paynow.proxy_type"),
        case(PN, "26.02", None, MT, "paynow.proxy"),
        case(PN, "26.03", Some("2"), BV, "paynow.amount_editable"),
        case(PN, "26.04", Some("20301332"), BV, "paynow.expiry"),
        Case {
            now: Some("2031-01-01T00:00:00Z"),
            ..case(PN, "26.04", Some("20301231"), "expired", "paynow.expiry")
        },
        case(SG, "58", Some("MY"), BV, "sgqr.country"),
        case(SG, "51.01", None, MT, "sgqr.id"),
        case(FPS, "53", Some("840"), BV, "fps.currency"),
        case(FPS, "58", Some("MO"), BV, "fps.country"),
        case(FPS, "26.02", None, MT, "fps.proxy"),
        case(FPS, "26.04", Some("A@B.HK"), BV, "fps.proxy"),
        case(
            FPS,
            "26.05",
            Some("29123123595"),
            BV,
            "fps.merchant_timeout",
        ),
        Case {
            now: Some("2030-01-01T00:00:00Z"),
            ..case(
                FPS,
                "26.05",
                Some("291231235959"),
                "expired",
                "fps.merchant_timeout",
            )
        },
        case(VN, "53", Some("840"), BV, "vietqr.currency"),
        case(VN, "58", Some("LA"), BV, "vietqr.country"),
        case(VN, "38.01", None, MT, "vietqr.beneficiary"),
        case(VN, "38.01", Some("0006970415011"), BV, "vietqr.beneficiary"),
        case(
            VN,
            "38.01",
            Some("0005970410112113366668888"),
            BV,
            "vietqr.bank_bin",
        ),
        case(VN, "38.01", Some("0006970415"), BV, "vietqr.account"),
        case(VN, "38.02", Some("QRFOO"), BV, "vietqr.service_code"),
        case(KH, "53", Some("764"), BV, "khqr.currency"),
        case(KH, "58", Some("TH"), BV, "khqr.country"),
        case(KH, "30.01", None, MT, "khqr.merchant_id"),
        case(KH, "30.02", None, MT, "khqr.acquiring_bank"),
        case(KH, "01", Some("12"), MT, "khqr.dynamic_amount"),
        case(KHD, "99.01", Some("17598055253"), BV, "khqr.expiry_format"),
        Case {
            now: Some("2026-01-01T00:00:00Z"),
            ..case(
                KHD,
                "99.01",
                Some("1759805525337"),
                "expired",
                "khqr.expiry",
            )
        },
        case(PH, "53", Some("840"), BV, "qrph.currency"),
        case(PH, "58", Some("US"), BV, "qrph.country"),
        case(PH, "27.01", None, MT, "qrph.bic"),
        case(PH, "27.01", Some("PAEY-PHM2"), BV, "qrph.bic"),
        case(BR, "53", Some("840"), BV, "pix.currency"),
        case(BR, "58", Some("PT"), BV, "pix.country"),
        case(BR, "26.01", None, MT, "pix.key_or_url"),
        case(
            BR,
            "26.25",
            Some("pix.example.com/qr/1"),
            BV,
            "pix.key_or_url",
        ),
        case(
            BRD,
            "26.25",
            Some("https://pix.example.com/qr/1"),
            BV,
            "pix.url",
        ),
        case(BRD, "26.02", Some("info"), BV, "pix.additional_info"),
        case(BR, "62", None, MT, "pix.txid"),
        case(IN, "53", Some("840"), BV, "upi.currency"),
        case(IN, "61", None, MT, "upi.postal_code"),
        case(IN, "26.01", None, MT, "upi.vpa"),
        case(IN, "26.01", Some("razorpaybqr.icici"), BV, "upi.vpa"),
        case(IN, "08", Some("YESB0CMSNO"), BV, "upi.ifsc_account"),
        case(JP, "53", Some("840"), BV, "jpqr.currency"),
        case(JP, "58", Some("KR"), BV, "jpqr.country"),
        case(JP, "61", None, MT, "jpqr.postal_code"),
        case(JP, "64", None, MT, "jpqr.language"),
        case(JP, "64.00", Some("EN"), BV, "jpqr.language"),
        case(JP, "64.02", Some("東京"), BV, "jpqr.language"),
        case(JP, "26.02", Some("01"), BV, "jpqr.merchant_id"),
    ]
}

#[test]
fn every_added_rule_is_shown_both_ways() {
    let mut covered = BTreeSet::new();
    for c in cases() {
        let base = payload_of(c.base);
        // The base code passes (at the same clock)...
        let ok = decode(&base, c.now.map(|_| "2020-01-01T00:00:00Z"), None);
        assert_eq!(ok["valid"], true, "{}: {ok}", c.base);
        // ...and the one change breaks exactly the rule.
        let broken = mutate(&base, c.path, c.value);
        // A code past its expiry is refused where a payment would be.
        let d = decode_with(&broken, &options(c.now, None, c.now.is_some()));
        assert_eq!(
            d["valid"], false,
            "{} {}={:?}: {d}",
            c.base, c.path, c.value
        );
        assert_eq!(
            d["error"]["rule"], c.rule,
            "{} {}={:?}: {d}",
            c.base, c.path, c.value
        );
        assert_eq!(
            d["error"]["code"], c.code,
            "{} {}={:?}: {d}",
            c.base, c.path, c.value
        );
        covered.insert(c.rule);
    }
    assert!(covered.len() >= 50, "{}", covered.len());
}

#[test]
fn expiry_is_reported_and_refused_only_when_asked() {
    let kh = payload_of("kh4_khqr_rs_aba_merchant");
    let before = decode(&kh, Some("2025-01-01T00:00:00Z"), None);
    assert_eq!(before["valid"], true);
    assert_eq!(before["expires_at"], "2025-10-07T02:52:05.337Z");
    assert_eq!(before["expired"], false);
    let after = decode(&kh, Some("2026-01-01T00:00:00Z"), None);
    assert_eq!(after["valid"], true);
    assert_eq!(after["expired"], true);
    let no_clock = decode(&kh, None, None);
    assert_eq!(no_clock["expired"], Value::Null);
    assert_eq!(no_clock["expires_at"], "2025-10-07T02:52:05.337Z");
    let refused = decode_with(&kh, &options(Some("2026-01-01T00:00:00Z"), None, true));
    assert_eq!(refused["error"]["code"], "expired");
    assert_eq!(refused["error"]["tag"], "99.01");
    assert!(refused["error"]["position"].is_number());
    let fresh = decode_with(&kh, &options(Some("2025-01-01T00:00:00Z"), None, true));
    assert_eq!(fresh["valid"], true);
    // A code without an expiry has none.
    let static_code = decode(&payload_of(PP), Some("2026-01-01T00:00:00Z"), None);
    assert_eq!(static_code["expires_at"], Value::Null);
    assert_eq!(static_code["expired"], Value::Null);
}

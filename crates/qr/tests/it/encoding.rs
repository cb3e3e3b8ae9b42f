//! The encoder, for every scheme: what it writes decodes back to what it
//! was given, with the right scheme and the scheme's own fields.

use std::collections::BTreeMap;

use proptest::prelude::*;
use qr::encode::{MpmSpec, Tree};
use qr::mpm::Initiation;

fn t(pairs: &[(&str, String)]) -> Tree {
    Tree::Template(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Tree::Text(v.clone())))
            .collect(),
    )
}

fn map(pairs: Vec<(&str, Tree)>) -> BTreeMap<String, Tree> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Random parts a code is built from.
#[derive(Debug, Clone)]
struct Parts {
    name: String,
    city: String,
    minor: u64,
    dynamic: bool,
    digits: String,
    alnum: String,
}

fn parts() -> impl Strategy<Value = Parts> {
    (
        "[A-Z][A-Za-z0-9 .&'-]{0,24}",
        "[A-Z][A-Za-z ]{0,14}",
        1u64..=9_999_999,
        any::<bool>(),
        "[0-9]{19}",
        "[A-Z0-9]{12}",
    )
        .prop_map(|(name, city, minor, dynamic, digits, alnum)| Parts {
            name: name.trim_end().to_string(),
            city: city.trim_end().to_string(),
            minor,
            dynamic,
            digits,
            alnum,
        })
}

fn amount_text(minor: u64, currency: &str) -> String {
    let exp = iso_currency::Currency::from_code(currency)
        .and_then(|c| c.exponent())
        .unwrap_or(2);
    if exp == 0 {
        return minor.to_string();
    }
    let scale = 10u64.pow(u32::from(exp));
    format!(
        "{}.{:0w$}",
        minor / scale,
        minor % scale,
        w = usize::from(exp)
    )
}

/// Accounts, currency, country, the named field to check and its value,
/// and whatever else the scheme needs.
type Shape = (
    Vec<(&'static str, Tree)>,
    &'static str,
    &'static str,
    &'static str,
    String,
    Box<dyn Fn(&mut MpmSpec)>,
);

/// A code of `scheme` from `p`, and the named field that must come back.
fn spec(scheme: &str, p: &Parts) -> (MpmSpec, &'static str, String) {
    let d = &p.digits;
    let (accounts, currency, country, key, value, extra): Shape = match scheme {
        "promptpay" => {
            let mobile = format!("0066{}", &d[..9]);
            (
                vec![(
                    "29",
                    t(&[("00", "A000000677010111".into()), ("01", mobile.clone())]),
                )],
                "THB",
                "TH",
                "proxy",
                mobile,
                Box::new(|_| {}),
            )
        }
        "qris" => {
            let nmid = format!("ID{}", &d[..13]);
            (
                vec![
                    (
                        "26",
                        t(&[
                            ("00", "ID.CO.EXAMPLE.WWW".into()),
                            ("01", format!("93600{}", &d[..13])),
                            ("02", p.alnum.clone()),
                            ("03", "UMI".into()),
                        ]),
                    ),
                    (
                        "51",
                        t(&[
                            ("00", "ID.CO.QRIS.WWW".into()),
                            ("02", nmid.clone()),
                            ("03", "UMI".into()),
                        ]),
                    ),
                ],
                "IDR",
                "ID",
                "nmid",
                nmid,
                Box::new(|s: &mut MpmSpec| s.postal_code = Some("10110".into())),
            )
        }
        "duitnow" => {
            let acq = d[..6].to_string();
            (
                vec![(
                    "26",
                    t(&[
                        ("00", "A0000006150001".into()),
                        ("01", acq.clone()),
                        ("02", p.alnum.clone()),
                    ]),
                )],
                "MYR",
                "MY",
                "acquirer_id",
                acq,
                Box::new(|_| {}),
            )
        }
        "paynow" => {
            let uen = format!("{}X", &d[..9]);
            (
                vec![(
                    "26",
                    t(&[
                        ("00", "SG.PAYNOW".into()),
                        ("01", "2".into()),
                        ("02", uen.clone()),
                        ("03", "1".into()),
                        ("04", "20991231".into()),
                    ]),
                )],
                "SGD",
                "SG",
                "proxy",
                uen,
                Box::new(|_| {}),
            )
        }
        "sgqr" => {
            let id = p.alnum.clone();
            (
                vec![
                    (
                        "26",
                        t(&[
                            ("00", "SG.PAYNOW".into()),
                            ("01", "0".into()),
                            ("02", format!("+65{}", &d[..8])),
                            ("03", "0".into()),
                        ]),
                    ),
                    (
                        "51",
                        t(&[
                            ("00", "SG.SGQR".into()),
                            ("01", id.clone()),
                            ("02", "01.0001".into()),
                            ("03", d[..6].to_string()),
                        ]),
                    ),
                ],
                "SGD",
                "SG",
                "sgqr_id",
                id,
                Box::new(|_| {}),
            )
        }
        "fps" => {
            let id = d[..9].to_string();
            (
                vec![(
                    "26",
                    t(&[("00", "hk.com.hkicl".into()), ("02", id.clone())]),
                )],
                "HKD",
                "HK",
                "fps_id",
                id,
                Box::new(|_| {}),
            )
        }
        "vietqr" => {
            let acct = d[..13].to_string();
            let beneficiary = format!("0006970415{}{acct}", format_args!("01{:02}", acct.len()));
            (
                vec![(
                    "38",
                    t(&[
                        ("00", "A000000727".into()),
                        ("01", beneficiary),
                        ("02", "QRIBFTTA".into()),
                    ]),
                )],
                "VND",
                "VN",
                "account",
                acct,
                Box::new(|_| {}),
            )
        }
        "khqr" => {
            let id = format!("{}@aclb", p.alnum.to_lowercase());
            (
                vec![("29", t(&[("00", id.clone()), ("01", d[..10].to_string())]))],
                "USD",
                "KH",
                "bakong_account_id",
                id,
                Box::new(|s: &mut MpmSpec| {
                    s.other.insert(
                        "99".into(),
                        t(&[
                            ("00", "1700000000000".into()),
                            ("01", "4102444800000".into()),
                        ]),
                    );
                }),
            )
        }
        "qrph" => {
            let acct = d[..12].to_string();
            (
                vec![(
                    "27",
                    t(&[
                        ("00", "com.p2pqrpay".into()),
                        ("01", "GXCHPHM2XXX".into()),
                        ("02", "99964403".into()),
                        ("04", acct.clone()),
                    ]),
                )],
                "PHP",
                "PH",
                "credit_account",
                acct,
                Box::new(|_| {}),
            )
        }
        "pix" => {
            let key = d[..11].to_string();
            (
                vec![(
                    "26",
                    t(&[("00", "br.gov.bcb.pix".into()), ("01", key.clone())]),
                )],
                "BRL",
                "BR",
                "key",
                key,
                Box::new(|s: &mut MpmSpec| {
                    s.additional.insert("05".into(), Tree::Text("***".into()));
                }),
            )
        }
        "upi" => {
            let vpa = format!("{}@okbank", p.alnum.to_lowercase());
            (
                vec![("26", t(&[("00", "A000000524".into()), ("01", vpa.clone())]))],
                "INR",
                "IN",
                "vpa",
                vpa,
                Box::new(|s: &mut MpmSpec| s.postal_code = Some("110085".into())),
            )
        }
        "jpqr" => {
            let lv1 = d[..13].to_string();
            (
                vec![(
                    "26",
                    t(&[
                        ("00", "jp.or.paymentsjapan".into()),
                        ("01", lv1.clone()),
                        ("02", d[..4].to_string()),
                        ("03", d[..6].to_string()),
                        ("04", d[13..19].to_string()),
                    ]),
                )],
                "JPY",
                "JP",
                "merchant_id_level_1",
                lv1,
                Box::new(|s: &mut MpmSpec| {
                    s.postal_code = Some("1066143".into());
                    s.language = map(vec![
                        ("00", Tree::Text("JA".into())),
                        ("01", Tree::Text("カフェ".into())),
                    ]);
                }),
            )
        }
        "unionpay" => {
            let value = format!("{}{}", &d[..16], &p.alnum[..12]) + "001";
            (
                vec![("15", Tree::Text(value))],
                "CNY",
                "CN",
                "merchant_id",
                format!("{}001", &p.alnum[..12]),
                Box::new(|_| {}),
            )
        }
        other => panic!("no generator for {other}"),
    };
    let mut s = MpmSpec {
        initiation: Some(if p.dynamic {
            Initiation::Dynamic
        } else {
            Initiation::Static
        }),
        accounts: map(accounts),
        mcc: Some("5812".into()),
        currency: Some(currency.into()),
        amount: p.dynamic.then(|| amount_text(p.minor, currency)),
        country: Some(country.into()),
        merchant_name: Some(p.name.clone()),
        merchant_city: Some(p.city.clone()),
        ..MpmSpec::default()
    };
    extra(&mut s);
    (s, key, value)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_profile_round_trips_through_the_encoder(which in 0usize..13, p in parts()) {
        let scheme = qr::profile::PROFILES[which].scheme();
        let (spec, key, value) = spec(scheme, &p);
        let options = qr::Options::default();
        let payload = spec.encode(&options).map_err(|e| TestCaseError::fail(format!("{scheme}: {e}")))?;
        let Ok(qr::Decoded::Mpm(d)) = qr::decode(&payload, &options) else {
            return Err(TestCaseError::fail(format!("{payload} is not a valid MPM code")));
        };
        prop_assert_eq!(d.scheme(), scheme);
        prop_assert_eq!(d.merchant.name, Some(p.name.as_str()));
        prop_assert_eq!(d.merchant.city, Some(p.city.as_str()));
        prop_assert_eq!(d.initiation, spec.initiation);
        prop_assert_eq!(d.amount.map(|a| a.minor()), p.dynamic.then_some(p.minor));
        let named = d.accounts.iter().flat_map(|a| a.named.iter()).find(|(k, _)| *k == key);
        prop_assert_eq!(named.map(|(_, v)| v.to_string()), Some(value));
        // And the raw tree re-encodes to the same payload.
        let tree = qr::tlv::parse(&payload).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&crate::encoder::reencode(&tree), &payload);
    }
}

#[test]
fn the_generators_cover_every_profile() {
    assert_eq!(qr::profile::PROFILES.len(), 13);
}

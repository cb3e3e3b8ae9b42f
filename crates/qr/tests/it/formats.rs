//! The other formats: CPM, Chinese payment codes and merchant URL codes,
//! UPI links — published examples, and CPM round trips.

use proptest::prelude::*;
use qr::cpm::{Ber, encode_ber};

use crate::assert_subset;
use crate::fixtures::fixtures;

fn decode_json(payload: &str) -> serde_json::Value {
    let text = match qr::decode(payload, &qr::Options::default()) {
        Ok(d) => d.to_json(),
        Err(e) => e.to_json(),
    };
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn published_examples_decode_as_expected() {
    let list = fixtures("cpm-cn-upi.json");
    assert!(list.len() >= 35);
    for f in &list {
        let actual = decode_json(f["payload"].as_str().expect("payload"));
        assert_subset(&f["expect"], &actual, f["name"].as_str().unwrap_or("?"));
    }
}

#[test]
fn spec_example_tags_follow_spec_section_5() {
    let d = decode_json(
        "hQVDUFYwMWETTwegAAAAVVVVUAhQcm9kdWN0MWETTwegAAAAZmZmUAhQcm9kdWN0MmJJWggSNFZ4kBI0WF8gDkNBUkRIT0xERVIvRU1WXy0IcnVlc2RlZW5kIZ8QBwYBCgMAAACfJghYT9OF+iNLzJ82AgABnzcEbVjvEw==",
    );
    assert_eq!(d["format"], "emvco-cpm");
    // Two 61 templates at one level become a list; text elements are text;
    // everything else uppercase hex.
    assert_eq!(d["tags"]["85"], "CPV01");
    assert_eq!(d["tags"]["61"][1]["50"], "Product2");
    assert_eq!(d["tags"]["61"][0]["4F"], "A0000000555555");
    assert_eq!(d["tags"]["62"]["5F20"], "CARDHOLDER/EMV");
    assert_eq!(d["tags"]["62"]["64"]["9F26"], "584FD385FA234BCC");
    assert_eq!(d["pan_last4"], "3458");
}

#[test]
fn payment_codes_are_not_repeated_in_full() {
    let d = decode_json("120061098828009406");
    let text = d.to_string();
    assert!(!text.contains("120061098828009406"), "{text}");
    assert_eq!(d["payment_code"]["last4"], "9406");
}

#[test]
fn bad_base64_and_truncated_ber() {
    let d = decode_json("hQVDUFYwMW!!");
    assert_eq!(d["error"]["code"], "bad_value");
    // 85 05 'CPV01' 61 10 (declares 16 bytes, has 2).
    let d = decode_json("hQVDUFYwMWEQTwA=");
    assert_eq!(d["error"]["code"], "truncated");
    // 61 without 4F.
    let d = decode_json(&b64(&[
        0x85, 5, b'C', b'P', b'V', b'0', b'1', 0x61, 3, 0x50, 1, b'x',
    ]));
    assert_eq!(d["error"]["code"], "missing_tag");
    // Wrong format indicator.
    let d = decode_json(&b64(&[0x85, 5, b'C', b'P', b'V', b'0', b'2']));
    assert_eq!(d["error"]["code"], "bad_format_indicator");
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn prim(tag: &[u8], value: Vec<u8>) -> Ber {
    Ber {
        tag: tag.to_vec(),
        value,
        children: None,
        offset: 0,
    }
}

fn cons(tag: u8, children: Vec<Ber>) -> Ber {
    Ber {
        tag: vec![tag],
        value: Vec::new(),
        children: Some(children),
        offset: 0,
    }
}

/// Data element tags an application or the common template may carry.
const POOL: [&[u8]; 8] = [
    &[0x50],
    &[0x5F, 0x20],
    &[0x5F, 0x2D],
    &[0x9F, 0x08],
    &[0x9F, 0x19],
    &[0x9F, 0x24],
    &[0x5A],
    &[0x9F, 0x74],
];
const CRYPTO: [&[u8]; 4] = [&[0x9F, 0x26], &[0x9F, 0x27], &[0x9F, 0x36], &[0x9F, 0x37]];

fn value_for(tag: &[u8], raw: Vec<u8>) -> Vec<u8> {
    if qr::cpm::TEXT_TAGS.contains(&tag) {
        raw.iter().map(|b| b'A' + b % 26).collect()
    } else {
        raw
    }
}

fn tree() -> impl Strategy<Value = Vec<Ber>> {
    (
        1usize..=3,
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 5..=16), 3),
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..=300), 8),
        proptest::collection::vec(any::<bool>(), 8),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(apps, aids, values, in_app, with_common, with_crypto)| {
            let mut out = vec![prim(&[0x85], b"CPV01".to_vec())];
            let mut common = Vec::new();
            let mut app_children: Vec<Vec<Ber>> = (0..apps)
                .map(|i| vec![prim(&[0x4F], aids[i % 3].clone())])
                .collect();
            for (i, tag) in POOL.iter().enumerate() {
                let v = value_for(tag, values[i].clone());
                if in_app[i] {
                    app_children[i % apps].push(prim(tag, v));
                } else if with_common {
                    common.push(prim(tag, v));
                }
            }
            if with_crypto {
                let crypto: Vec<Ber> = CRYPTO
                    .iter()
                    .enumerate()
                    .map(|(i, t)| prim(t, values[i].iter().take(8).copied().collect()))
                    .collect();
                app_children[0].push(cons(0x63, crypto.clone()));
                if with_common {
                    common.push(cons(0x64, crypto));
                }
            }
            out.extend(app_children.into_iter().map(|c| cons(0x61, c)));
            if with_common && !common.is_empty() {
                out.push(cons(0x62, common));
            }
            out
        })
}

/// Tag, value, and children as (tag, encoded value): a tree without offsets.
type Stripped = Vec<(Vec<u8>, Vec<u8>, Option<Vec<(Vec<u8>, Vec<u8>)>>)>;

fn strip(objects: &[Ber]) -> Stripped {
    objects
        .iter()
        .map(|o| {
            let children = o.children.as_ref().map(|c| {
                c.iter()
                    .map(|x| {
                        (
                            x.tag.clone(),
                            x.children
                                .as_ref()
                                .map(|g| encode_ber(g))
                                .unwrap_or_else(|| x.value.clone()),
                        )
                    })
                    .collect()
            });
            (
                o.tag.clone(),
                if o.children.is_some() {
                    Vec::new()
                } else {
                    o.value.clone()
                },
                children,
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// decode(encode(x)) == x for generated CPM trees (long-form lengths,
    /// multi-byte tags, nested 63/64, several applications).
    #[test]
    fn cpm_trees_round_trip(objects in tree()) {
        let payload = qr::cpm::encode(&objects).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let qr::Decoded::Cpm(d) = qr::decode(&payload, &qr::Options { limits: qr::Limits { payload_bytes_max: 1 << 16 }, ..qr::Options::default() })
            .map_err(|e| TestCaseError::fail(e.to_string()))?
        else {
            return Err(TestCaseError::fail("not CPM"));
        };
        prop_assert_eq!(strip(&d.objects), strip(&objects));
        prop_assert_eq!(b64(&encode_ber(&d.objects)), payload);
    }

    /// Any bytes as CPM, and any text as a UPI link, URL or digits: an
    /// answer, never a panic.
    #[test]
    fn other_formats_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), text in "\\PC{0,80}") {
        let mut cpm = vec![0x85, 5, b'C', b'P', b'V', b'0', b'1'];
        cpm.extend_from_slice(&bytes);
        let _ = qr::decode(&b64(&cpm), &qr::Options::default()).map(|d| d.to_json());
        for prefix in ["upi://pay?", "https://qr.alipay.com/", "wxp://", "62", ""] {
            let _ = qr::decode(&format!("{prefix}{text}"), &qr::Options::default()).map(|d| d.to_json());
        }
    }
}

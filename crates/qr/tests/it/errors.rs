//! An invalid case for every error code, and the edges of every limit.

use qr::ErrorCode;

use crate::encoder::{Node, base_objects, encode_payload, v, with};

fn error_of(payload: &str) -> qr::DecodeError {
    match qr::decode(payload, &qr::Options::default()) {
        Ok(d) => panic!("{payload:?} decoded: {}", d.to_json()),
        Err(e) => e,
    }
}

/// `payload` is refused with `code` about `tag`.
fn check(payload: &str, code: ErrorCode, tag: Option<&str>) {
    let e = error_of(payload);
    assert_eq!(e.code, code, "{payload:?}: {e}");
    assert_eq!(e.tag.as_deref(), tag, "{payload:?}: {e}");
    assert!(!e.message.is_empty());
}

fn check_objects(objects: &[(u8, Node)], code: ErrorCode, tag: &str) {
    check(&encode_payload(objects), code, Some(tag));
}

#[test]
fn the_base_code_is_valid() {
    let payload = encode_payload(&base_objects());
    let d = qr::decode(&payload, &qr::Options::default()).expect("valid");
    let json = d.to_json();
    assert!(json.contains(r#""amount":"100.25""#), "{json}");
    assert!(json.contains(r#""currency":"THB""#), "{json}");
}

#[test]
fn crc_mismatch() {
    let good = encode_payload(&base_objects());
    let mut bad = good[..good.len() - 4].to_string();
    let crc = u16::from_str_radix(&good[good.len() - 4..], 16).unwrap();
    bad.push_str(&format!("{:04X}", crc ^ 1));
    check(&bad, ErrorCode::CrcMismatch, Some("63"));
    // A changed character anywhere before the CRC.
    let flipped = good.replacen("BANGKOK", "BANGKOX", 1);
    check(&flipped, ErrorCode::CrcMismatch, Some("63"));
    // The CRC runs over UTF-8 bytes, so the same characters in another
    // encoding's CRC do not pass (the GBK case of the fixtures).
    let e = error_of(&flipped);
    assert!(e.message.contains("CRC-16/CCITT-FALSE"), "{e}");
}

#[test]
fn crc_tag_placement_and_digits() {
    let good = encode_payload(&base_objects());
    let body = &good[..good.len() - 8];
    let sealed = |text: &str| format!("{text}{:04X}", qr::crc16(text.as_bytes()));
    // A data object after the CRC.
    let after = format!("{}5802TH", &good);
    check(&after, ErrorCode::BadValue, Some("63"));
    // A second CRC tag before the real one (an id repeated at the top level).
    let twice = sealed(&format!("{body}630400006304"));
    check(&twice, ErrorCode::BadValue, Some("63"));
    // No CRC at all.
    check(&format!("{body}5802TH"), ErrorCode::MissingTag, Some("63"));
    // Four characters that are not four hex digits, a sign included.
    for digits in ["ZZZZ", "+FFF", "-001", "12 4"] {
        check(
            &format!("{body}6304{digits}"),
            ErrorCode::BadValue,
            Some("63"),
        );
    }
    // Lowercase hex is read (and then held to the uppercase rule): the first
    // of a few merchant names whose CRC has a letter in it.
    let lettered = (0..16)
        .map(|n| encode_payload(&with(59, Some(v(&format!("SHOP {n}"))))))
        .find(|p| p[p.len() - 4..].bytes().any(|b| b.is_ascii_alphabetic()))
        .expect("a CRC with a hex letter");
    let (head, crc) = lettered.split_at(lettered.len() - 4);
    let e = error_of(&format!("{head}{}", crc.to_lowercase()));
    assert_eq!(e.code, ErrorCode::BadValue, "{e}");
    assert!(e.message.contains("lowercase"), "{e}");
}

#[test]
fn bad_length() {
    let good = encode_payload(&base_objects());
    // A length that is not two digits.
    let bad = good.replacen("5913SOM", "59X3SOM", 1);
    check(&bad, ErrorCode::BadLength, Some("59"));
    // Length 00.
    check(
        &encode_payload(&with(59, Some(v("")))),
        ErrorCode::BadLength,
        Some("59"),
    );
    // A CRC tag of length 05.
    check("00020163051234A", ErrorCode::BadLength, Some("63"));
    // Values over their maximum lengths.
    check_objects(
        &with(59, Some(v(&"N".repeat(26)))),
        ErrorCode::BadLength,
        "59",
    );
    check_objects(
        &with(60, Some(v(&"C".repeat(16)))),
        ErrorCode::BadLength,
        "60",
    );
    check_objects(
        &with(61, Some(v(&"1".repeat(11)))),
        ErrorCode::BadLength,
        "61",
    );
    check_objects(
        &with(54, Some(v("12345678901.23"))),
        ErrorCode::BadLength,
        "54",
    );
    check_objects(
        &with(62, Some(Node::Template(vec![(5, v(&"R".repeat(26)))]))),
        ErrorCode::BadLength,
        "62.05",
    );
    check_objects(
        &with(26, Some(Node::Template(vec![(0, v(&"G".repeat(33)))]))),
        ErrorCode::BadLength,
        "26.00",
    );
}

#[test]
fn lengths_at_their_edges_are_accepted() {
    for (id, max) in [(59, 25), (60, 15), (61, 10)] {
        let payload = encode_payload(&with(id, Some(v(&"A".repeat(max)))));
        qr::decode(&payload, &qr::Options::default()).expect("at the limit");
    }
    let payload = encode_payload(&with(54, Some(v("1234567890.12"))));
    qr::decode(&payload, &qr::Options::default()).expect("13-character amount");
}

#[test]
fn truncated() {
    let good = encode_payload(&base_objects());
    check("", ErrorCode::Truncated, None);
    check("0", ErrorCode::Truncated, None);
    check("000", ErrorCode::Truncated, None);
    check("00020", ErrorCode::Truncated, None);
    check("0002010", ErrorCode::Truncated, None);
    check(&good[..good.len() - 2], ErrorCode::Truncated, Some("63"));
    let e = error_of(&good[..40]);
    assert_eq!(e.code, ErrorCode::Truncated);
    assert!(e.position.is_some());
}

#[test]
fn missing_tag() {
    for (id, tag) in [(52, "52"), (53, "53"), (58, "58"), (59, "59"), (60, "60")] {
        check_objects(&with(id, None), ErrorCode::MissingTag, tag);
    }
    check_objects(&with(26, None), ErrorCode::MissingTag, "02-51");
    check_objects(
        &with(26, Some(Node::Template(vec![(1, v("M123"))]))),
        ErrorCode::MissingTag,
        "26.00",
    );
    check_objects(
        &with(64, Some(Node::Template(vec![(1, v("ร้านส้มตำ"))]))),
        ErrorCode::MissingTag,
        "64.00",
    );
    check_objects(
        &with(56, Some(v("5.00")))
            .into_iter()
            .filter(|(i, _)| *i != 56)
            .chain([(55, v("02"))])
            .collect::<Vec<_>>(),
        ErrorCode::MissingTag,
        "56",
    );
    // No CRC at all.
    check("0002015903123", ErrorCode::MissingTag, Some("63"));
}

#[test]
fn bad_format_indicator() {
    let good = encode_payload(&base_objects());
    check(
        &good.replacen("000201", "000203", 1),
        ErrorCode::BadFormatIndicator,
        Some("00"),
    );
    // "02" (DuitNow's version) with a correct CRC: refused by generic EMVCo.
    let body = &good.replacen("000201", "000202", 1)[..good.len() - 4];
    let v02 = format!("{body}{:04X}", qr::crc16(body.as_bytes()));
    check(&v02, ErrorCode::BadFormatIndicator, Some("00"));
    check(&good[6..], ErrorCode::BadFormatIndicator, Some("00"));
    check("hello", ErrorCode::BadFormatIndicator, Some("00"));
    check("0003010", ErrorCode::BadFormatIndicator, Some("00"));
}

#[test]
fn duplicate_tag() {
    let mut objects = base_objects();
    objects.push((59, v("AGAIN")));
    check_objects(&objects, ErrorCode::DuplicateTag, "59");
    let objects = with(62, Some(Node::Template(vec![(5, v("A")), (5, v("B"))])));
    check_objects(&objects, ErrorCode::DuplicateTag, "62.05");
}

#[test]
fn bad_value() {
    let cases: Vec<(u8, Node, &str)> = vec![
        (1, v("13"), "01"),
        (52, v("58A2"), "52"),
        (52, v("581"), "52"),
        (53, v("000"), "53"),
        (53, v("THB"), "53"),
        (54, v("1,00"), "54"),
        (54, v("0.00"), "54"),
        (54, v("-5"), "54"),
        (54, v("1.005"), "54"),
        (55, v("04"), "55"),
        (58, v("XX"), "58"),
        (58, v("th"), "58"),
        (59, v("CAFÉ"), "59"),
        (62, Node::Template(vec![(9, v("AX"))]), "62.09"),
        (62, Node::Template(vec![(9, v("AA"))]), "62.09"),
        (
            64,
            Node::Template(vec![(0, v("Z1")), (1, v("名"))]),
            "64.00",
        ),
    ];
    for (id, node, tag) in cases {
        check_objects(&with(id, Some(node)), ErrorCode::BadValue, tag);
    }
    // 56 without 55 = 02; 57 out of range.
    check_objects(&with(56, Some(v("5"))), ErrorCode::BadValue, "56");
    let mut objects = with(55, Some(v("03")));
    objects.push((57, v("100")));
    check_objects(&objects, ErrorCode::BadValue, "57");
    // A tag id that is not two digits.
    check("000201AB020163040000", ErrorCode::BadValue, None);
    // CRC not hex; CRC not last.
    check("0002016304XYZW", ErrorCode::BadValue, Some("63"));
    check("0002016304000059011", ErrorCode::BadValue, Some("63"));
    // A template that is not ID-length-value.
    check_objects(&with(26, Some(v("not tlv"))), ErrorCode::BadValue, "26");
    check_objects(&with(26, Some(v("0005ab"))), ErrorCode::Truncated, "26");
    // Lowercase CRC digits: generic EMVCo writes them uppercase.
    let good = encode_payload(&base_objects());
    let lower = format!(
        "{}{}",
        &good[..good.len() - 4],
        good[good.len() - 4..].to_lowercase()
    );
    if lower != good {
        check(&lower, ErrorCode::BadValue, Some("63"));
    }
}

#[test]
fn valid_variants_of_the_rules() {
    for objects in [
        with(54, Some(v("98."))),
        with(54, Some(v("98"))),
        with(1, None),
        with(55, Some(v("01"))),
        with(53, Some(v("392")))
            .into_iter()
            .map(|(i, n)| if i == 54 { (i, v("500")) } else { (i, n) })
            .collect(),
    ] {
        let payload = encode_payload(&objects);
        qr::decode(&payload, &qr::Options::default()).unwrap_or_else(|e| panic!("{payload}: {e}"));
    }
    let mut objects = with(55, Some(v("03")));
    objects.push((57, v("99.99")));
    qr::decode(&encode_payload(&objects), &qr::Options::default()).expect("57 at 99.99");
    let mut objects = with(55, Some(v("02")));
    objects.push((56, v("10")));
    qr::decode(&encode_payload(&objects), &qr::Options::default()).expect("56 with 55=02");
}

#[test]
fn payload_too_large() {
    let options = qr::Options::default();
    let big = "0".repeat(options.limits.payload_bytes_max + 1);
    let e = qr::decode(&big, &options).expect_err("too large");
    assert_eq!(e.code, ErrorCode::PayloadTooLarge);
    // At the limit it is parsed (and fails for its content, not its size).
    let at = "0".repeat(options.limits.payload_bytes_max);
    let e = qr::decode(&at, &options).expect_err("not a code");
    assert_ne!(e.code, ErrorCode::PayloadTooLarge);
    // The limit is configuration.
    let small = qr::Options {
        limits: qr::Limits {
            payload_bytes_max: 10,
        },
        ..options
    };
    let e = qr::decode(&encode_payload(&base_objects()), &small).expect_err("over 10");
    assert_eq!(e.code, ErrorCode::PayloadTooLarge);
}

#[test]
fn bytes_that_are_not_utf8() {
    let e = qr::decode_bytes(b"000201\xff\xfe", &qr::Options::default()).expect_err("not UTF-8");
    assert_eq!(e.code, ErrorCode::BadValue);
}

#[test]
fn errors_carry_the_position() {
    let good = encode_payload(&base_objects());
    let bad = good.replacen("5913SOM", "59X3SOM", 1);
    let e = error_of(&bad);
    assert_eq!(e.position, bad.find("59X3"));
    let json: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["error"]["code"], "bad_length");
    assert_eq!(json["error"]["position"], bad.find("59X3").unwrap());
}

//! Property tests: trees round-trip through encode and decode, and no input
//! makes the decoder panic.

use proptest::prelude::*;

use crate::encoder::{Node, base_objects, encode_objects, encode_payload, reencode, to_nodes, v};

/// Printable ASCII, the EMVCo common character set.
fn ans(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0x20u8..=0x7e, 1..=max)
        .prop_map(|b| b.into_iter().map(char::from).collect())
}

/// Any text, including multi-byte UTF-8 (for tag 64 and raw trees).
fn any_text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => (0x20u32..0x7f).prop_map(|c| char::from_u32(c).unwrap_or('a')),
            1 => proptest::char::range('\u{80}', '\u{10FFFF}'),
        ],
        1..=max,
    )
    .prop_map(|c| c.into_iter().collect())
}

/// Children with unique ids whose encoding fits a 99-character template.
fn children(
    ids: std::ops::RangeInclusive<u8>,
    value: BoxedStrategy<Node>,
) -> impl Strategy<Value = Vec<(u8, Node)>> {
    proptest::collection::btree_map(ids, value, 1..5)
        .prop_map(|m| m.into_iter().collect::<Vec<_>>())
        .prop_filter("fits a template", |c| {
            let len = encode_objects(c).chars().count();
            (1..=99).contains(&len)
        })
}

/// One top-level object for `id`: a template where EMVCo says so.
fn object(id: u8) -> BoxedStrategy<(u8, Node)> {
    let leaf = any_text(20).prop_map(Node::Value).boxed();
    match id {
        26..=51 | 80..=99 => children(0..=99, leaf)
            .prop_map(move |c| (id, Node::Template(c)))
            .boxed(),
        62 => {
            let inner = prop_oneof![
                any_text(12).prop_map(Node::Value),
                children(0..=99, any_text(8).prop_map(Node::Value).boxed())
                    .prop_map(Node::Template),
            ];
            proptest::collection::btree_map(0u8..=99, inner, 1..4)
                .prop_map(|m| {
                    m.into_iter()
                        .map(|(k, n)| match (k, n) {
                            // Only 50-99 are templates inside 62.
                            (k @ 50..=99, n) => (k, n),
                            (k, Node::Template(c)) => (k, Node::Value(encode_objects(&c))),
                            (k, n) => (k, n),
                        })
                        .collect::<Vec<_>>()
                })
                .prop_filter("fits", |c| {
                    (1..=99).contains(&encode_objects(c).chars().count())
                })
                .prop_map(|c| (62, Node::Template(c)))
                .boxed()
        }
        64 => children(0..=99, any_text(20).prop_map(Node::Value).boxed())
            .prop_map(|c| (64, Node::Template(c)))
            .boxed(),
        _ => any_text(40)
            .prop_filter("fits", |s| s.chars().count() <= 99)
            .prop_map(move |s| (id, Node::Value(s)))
            .boxed(),
    }
}

/// A raw tree: unique top-level ids other than 00 and 63.
fn tree() -> impl Strategy<Value = Vec<(u8, Node)>> {
    proptest::sample::subsequence((1u8..=99).filter(|i| *i != 63).collect::<Vec<_>>(), 1..12)
        .prop_shuffle()
        .prop_flat_map(|ids| ids.into_iter().map(object).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// decode(encode(x)) == x for generated trees, UTF-8 and nesting included.
    #[test]
    fn trees_round_trip(objects in tree()) {
        let payload = encode_payload(&objects);
        let code = qr::mpm::parse(&payload).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let nodes = to_nodes(&code.tree);
        prop_assert_eq!(&nodes[0], &(0u8, v("01")));
        prop_assert_eq!(&nodes[1..nodes.len() - 1], &objects[..]);
        prop_assert_eq!(reencode(&code.tree), payload);
    }

    /// Generated valid codes decode to the fields they were made from.
    #[test]
    fn valid_codes_decode_to_their_fields(
        name in ans(25), city in ans(15), mcc in 1u16..=9999, minor in 1u64..=99_999_999,
        dynamic in any::<bool>(), alt_name in any_text(25),
    ) {
        let mut objects = base_objects();
        for (id, node) in objects.iter_mut() {
            match id {
                1 => *node = v(if dynamic { "12" } else { "11" }),
                52 => *node = v(&format!("{mcc:04}")),
                54 => *node = v(&format!("{}.{:02}", minor / 100, minor % 100)),
                59 => *node = v(&name),
                60 => *node = v(&city),
                _ => {}
            }
        }
        objects.push((64, Node::Template(vec![(0, v("TH")), (1, v(&alt_name))])));
        let payload = encode_payload(&objects);
        let d = qr::decode(&payload, &qr::Options::default())
            .map_err(|e| TestCaseError::fail(format!("{payload}: {e}")))?;
        let qr::Decoded::Mpm(d) = d else {
            return Err(TestCaseError::fail("not MPM"));
        };
        prop_assert_eq!(d.merchant.name, Some(name.as_str()));
        prop_assert_eq!(d.merchant.city, Some(city.as_str()));
        prop_assert_eq!(d.amount.map(|a| a.minor()), Some(minor));
        prop_assert_eq!(d.initiation == Some(qr::mpm::Initiation::Dynamic), dynamic);
        let json: serde_json::Value = serde_json::from_str(&qr::Decoded::Mpm(d).to_json()).unwrap();
        prop_assert_eq!(json["merchant_alternate_language"]["name"].as_str(), Some(alt_name.as_str()));
    }

    /// No bytes make the decoder panic.
    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = qr::decode_bytes(&bytes, &qr::Options::default()).map(|d| d.to_json());
    }

    /// Nor do small edits of a valid code (where random bytes rarely reach).
    #[test]
    fn edits_of_valid_codes_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<char>(), 0u8..3), 1..4),
    ) {
        let mut chars: Vec<char> = encode_payload(&base_objects()).chars().collect();
        for (at, c, kind) in edits {
            let i = at.index(chars.len().max(1));
            match kind {
                0 => if i < chars.len() { chars[i] = c },
                1 => chars.insert(i.min(chars.len()), c),
                _ => if i < chars.len() { chars.remove(i); },
            }
        }
        let text: String = chars.into_iter().collect();
        let _ = qr::decode(&text, &qr::Options::default()).map(|d| d.to_json());
        // And with a CRC recomputed, so the edits reach the validator.
        if text.len() > 4 {
            let body = &text[..text.char_indices().rev().nth(3).map(|(i, _)| i).unwrap_or(0)];
            let fixed = format!("{body}{:04X}", qr::crc16(body.as_bytes()));
            let _ = qr::decode(&fixed, &qr::Options::default()).map(|d| d.to_json());
        }
    }
}

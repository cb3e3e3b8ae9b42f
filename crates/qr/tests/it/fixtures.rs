//! Published example payloads (each with its source in the fixture file)
//! decode exactly as expected, and re-encode byte for byte.

use serde_json::Value;

use crate::encoder::reencode;
use crate::{assert_subset, decode_json};

pub fn fixtures(file: &str) -> Vec<Value> {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture file");
    let list: Vec<Value> = serde_json::from_str(&text).expect("fixture JSON");
    for f in &list {
        assert!(
            f["source"].as_str().is_some_and(|s| !s.is_empty()),
            "fixture {} names no source",
            f["name"]
        );
    }
    list
}

#[test]
fn emvco_fixtures_decode_as_published() {
    let list = fixtures("emvco-mpm.json");
    assert!(list.len() >= 15);
    for f in list {
        let payload = f["payload"].as_str().expect("payload");
        let actual = decode_json(payload, f["profile"].as_str());
        assert_subset(&f["expect"], &actual, f["name"].as_str().unwrap_or("?"));
    }
}

#[test]
fn every_fixture_reencodes_byte_for_byte() {
    for f in fixtures("emvco-mpm.json") {
        let payload = f["payload"].as_str().expect("payload");
        let tree = qr::tlv::parse(payload).expect("structurally sound");
        assert_eq!(reencode(&tree), payload, "{}", f["name"]);
    }
}

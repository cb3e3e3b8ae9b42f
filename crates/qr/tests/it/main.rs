//! The qr crate's integration tests: one binary, one module per feature.
// Test helpers index freely: a panic in a test is a failed test.
#![allow(clippy::indexing_slicing)]

mod encoder;
mod encoding;
mod errors;
mod fixtures;
mod formats;
mod properties;
mod schemes;

use serde_json::Value;

/// Decode `payload` (under `profile` if named) and return the decode JSON.
pub fn decode_json(payload: &str, profile: Option<&str>) -> Value {
    let options = qr::Options {
        profile: profile.map(|p| qr::profile::by_name(p).expect("known profile")),
        ..qr::Options::default()
    };
    let text = match qr::decode(payload, &options) {
        Ok(d) => d.to_json(),
        Err(e) => e.to_json(),
    };
    serde_json::from_str(&text).expect("decode JSON parses")
}

/// Every key of `expect` is in `actual` with an equal value (objects are
/// compared key by key, recursively; everything else exactly).
pub fn assert_subset(expect: &Value, actual: &Value, path: &str) {
    match (expect, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                let Some(av) = a.get(k) else {
                    panic!("{path}.{k}: missing in {actual}");
                };
                assert_subset(v, av, &format!("{path}.{k}"));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            assert_eq!(e.len(), a.len(), "{path}: {expect} vs {actual}");
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                assert_subset(ev, av, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(expect, actual, "{path}"),
    }
}

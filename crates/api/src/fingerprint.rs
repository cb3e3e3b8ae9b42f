//! The fingerprint of a request (SPEC §4.3): SHA-256 of its canonical JSON,
//! so a repeat with the same content matches however its keys were ordered
//! or spaced, and a repeat with other content does not.

use sha2::{Digest, Sha256};

/// Canonical JSON in the style of RFC 8785: no insignificant white space,
/// object keys sorted by their UTF-16 code units, strings escaped as
/// `serde_json` writes them. (Numbers are written as `serde_json` writes
/// them; amounts in this API are strings, so no float formatting matters.)
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(k) {
                    write(v, out);
                }
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Hex SHA-256 of the canonical JSON.
pub fn fingerprint(value: &serde_json::Value) -> String {
    sha256_hex(canonical_json(value).as_bytes())
}

/// SHA-256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn order_and_spacing_do_not_matter() {
        let a = v(
            r#"{"request_id":"r1","amount":{"value":"100","currency":"THB"},"payer":{"id":"p","country":"MN"}}"#,
        );
        let b = v(
            r#"{ "payer": {"country":"MN","id":"p"}, "amount": {"currency":"THB","value":"100"}, "request_id":"r1" }"#,
        );
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"amount":{"currency":"THB","value":"100"},"payer":{"country":"MN","id":"p"},"request_id":"r1"}"#
        );
    }

    #[test]
    fn other_content_differs() {
        let a = v(r#"{"request_id":"r1","amount":{"value":"100","currency":"THB"}}"#);
        let b = v(r#"{"request_id":"r1","amount":{"value":"101","currency":"THB"}}"#);
        assert_ne!(fingerprint(&a), fingerprint(&b));
        // Array order is content.
        assert_ne!(fingerprint(&v("[1,2]")), fingerprint(&v("[2,1]")));
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // U+FB33 is 0xFB33 in UTF-16 and EF AC B3 in UTF-8; U+1F600 is the
        // surrogate pair 0xD83D 0xDE00 and F0 9F 98 80. UTF-16 order puts
        // the emoji first, UTF-8 byte order would not.
        let c = canonical_json(&v("{\"\u{fb33}\":1,\"\u{1f600}\":2,\"a\":3}"));
        assert_eq!(c, "{\"a\":3,\"\u{1f600}\":2,\"\u{fb33}\":1}");
    }
}

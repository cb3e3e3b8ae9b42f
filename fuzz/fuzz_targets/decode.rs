//! Any bytes into the codec's entry point: it must return, never panic, and
//! a valid result must serialise.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = qr::Options::default();
    if let Ok(decoded) = qr::decode_bytes(data, &options) {
        let _ = decoded.to_json();
    }
    // The same bytes as the tail of a structurally valid prefix, with a
    // correct CRC, so mutations reach the validator past the CRC check.
    if let Ok(text) = std::str::from_utf8(data) {
        let mut payload = String::from("000201");
        payload.push_str(text);
        payload.push_str("6304");
        let crc = qr::crc16(payload.as_bytes());
        payload.push_str(&format!("{crc:04X}"));
        if let Ok(decoded) = qr::decode(&payload, &options) {
            let _ = decoded.to_json();
        }
    }
});

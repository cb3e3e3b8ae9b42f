//! Any bytes after the CPM format indicator, base64-encoded, into the
//! decoder: the BER-TLV parser and the CPM rules must answer, never panic.
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = vec![0x85, 5, b'C', b'P', b'V', b'0', b'1'];
    bytes.extend_from_slice(data);
    let payload = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let options = qr::Options { limits: qr::Limits { payload_bytes_max: 1 << 16 }, ..qr::Options::default() };
    if let Ok(decoded) = qr::decode(&payload, &options) {
        let _ = decoded.to_json();
    }
});

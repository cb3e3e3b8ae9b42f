//! Any bytes as a `Signature` header and as signed content: the parser and
//! the verifier must answer, never panic, and never accept a forgery.
#![no_main]

use libfuzzer_sys::fuzz_target;

const PUBLIC: &str = include_str!("../../crates/sign/tests/keys/ed25519.pub.pem");

fuzz_target!(|data: &[u8]| {
    let Ok(key) = sign::PublicKey::from_pem(PUBLIC) else { return };
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(header) = sign::SignatureHeader::parse(text)
    {
        // Random bytes are no signature of this content.
        assert!(key.verify(b"POST /v1/payments\nx.t.{}", &header.signature).is_err());
    }
    let _ = key.verify(data, data);
    let _ = sign::PublicKey::from_pem(&String::from_utf8_lossy(data));
});

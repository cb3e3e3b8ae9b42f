//! Signatures against OpenSSL's, both algorithms, the header's edges, the
//! clock window, and round trips of random content.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use base64::Engine;
use proptest::prelude::*;
use sign::{
    Algorithm, PrivateKey, PublicKey, SignError, SignatureHeader, check_time, signed_content,
};

fn key(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn content() -> Vec<u8> {
    signed_content(
        "POST",
        "/v1/payments",
        "hipay-mn",
        "2026-11-22T01:00:00Z",
        br#"{"request_id":"r1"}"#,
    )
}

#[test]
fn signed_content_is_the_spec_string() {
    assert_eq!(
        content(),
        b"POST /v1/payments\nhipay-mn.2026-11-22T01:00:00Z.{\"request_id\":\"r1\"}".to_vec()
    );
    assert_eq!(
        std::fs::read(format!(
            "{}/tests/keys/content.txt",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
        content()
    );
    // GET: an empty body.
    assert_eq!(
        signed_content("GET", "/v1/payments?request_id=r1", "unigate", "t", b""),
        b"GET /v1/payments?request_id=r1\nunigate.t.".to_vec()
    );
}

#[test]
fn openssl_signatures_verify() {
    for (public, sig, alg) in [
        (
            "ed25519.pub.pem",
            "content.ed25519.sig.b64",
            Algorithm::Ed25519,
        ),
        (
            "rsa2048.pub.pem",
            "content.rsa256.sig.b64",
            Algorithm::Rsa256,
        ),
    ] {
        let pk = PublicKey::from_pem(&key(public)).unwrap();
        assert_eq!(pk.algorithm, alg);
        let sig = base64::engine::general_purpose::STANDARD
            .decode(key(sig).trim())
            .unwrap();
        pk.verify(&content(), &sig).unwrap();
        let mut tampered = content();
        tampered[5] ^= 1;
        assert_eq!(pk.verify(&tampered, &sig), Err(SignError::Mismatch));
    }
}

#[test]
fn our_signatures_verify_with_openssl_keys() {
    for (private, public) in [
        ("ed25519.pem", "ed25519.pub.pem"),
        ("rsa2048.pem", "rsa2048.pub.pem"),
    ] {
        let sk = PrivateKey::from_pem(&key(private)).unwrap();
        let pk = PublicKey::from_pem(&key(public)).unwrap();
        assert_eq!(sk.public_key(), pk);
        let sig = sk.sign(&content()).unwrap();
        pk.verify(&content(), &sig).unwrap();
        // Another key does not verify it.
        let other = PrivateKey::generate_ed25519().unwrap().0.public_key();
        assert!(other.verify(&content(), &sig).is_err());
    }
}

#[test]
fn weak_and_foreign_keys_are_refused() {
    let e = PublicKey::from_pem(&key("rsa1024.pub.pem")).unwrap_err();
    assert!(
        matches!(e, SignError::BadKey(ref m) if m.contains("2048")),
        "{e}"
    );
    assert!(PrivateKey::from_pem(&key("rsa1024.pem")).is_err());
    assert!(
        PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err()
    );
    assert!(PublicKey::from_pem("not pem").is_err());
    assert!(PrivateKey::from_pem(&key("ed25519.pub.pem")).is_err());
}

#[test]
fn header_round_trip_and_edges() {
    let h = SignatureHeader {
        algorithm: Algorithm::Ed25519,
        key_version: 3,
        signature: vec![0xFB; 64],
    };
    let text = h.format();
    assert!(text.starts_with("algorithm=ED25519,keyVersion=3,signature="));
    assert!(text.ends_with("=="), "padding kept: {text}");
    assert_eq!(SignatureHeader::parse(&text).unwrap(), h);
    for bad in [
        "algorithm=ED25519,keyVersion=3",
        "algorithm=ED25519,signature=AAAA",
        "keyVersion=1,signature=AAAA",
        "algorithm=HS256,keyVersion=1,signature=AAAA",
        "algorithm=ED25519,keyVersion=x,signature=AAAA",
        "algorithm=ED25519,keyVersion=1,signature=***",
        "algorithm=ED25519,keyVersion=1,keyVersion=2,signature=AAAA",
        "algorithm=ED25519,keyVersion=1,signature=AAAA,extra=1",
        "algorithm",
        "",
    ] {
        assert!(SignatureHeader::parse(bad).is_err(), "{bad}");
    }
    let long = format!(
        "algorithm=RSA256,keyVersion=1,signature={}",
        "A".repeat(4000)
    );
    assert!(matches!(
        SignatureHeader::parse(&long),
        Err(SignError::BadHeader(_))
    ));
}

#[test]
fn clock_window() {
    let now = "2026-11-22T01:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    check_time("2026-11-22T01:04:59Z", now, 300).unwrap();
    check_time("2026-11-22T00:55:01Z", now, 300).unwrap();
    assert!(matches!(
        check_time("2026-11-22T01:05:01Z", now, 300),
        Err(SignError::Skewed { .. })
    ));
    assert!(matches!(
        check_time("yesterday", now, 300),
        Err(SignError::BadTime(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_content_round_trips(body in proptest::collection::vec(any::<u8>(), 0..2000), path in "/v1/[a-z/?=&]{0,40}", flip in any::<prop::sample::Index>()) {
        let sk = PrivateKey::from_pem(&key("ed25519.pem")).unwrap();
        let c = signed_content("POST", &path, "wallet-1", "2026-11-22T01:00:00Z", &body);
        let header = SignatureHeader { algorithm: sk.algorithm(), key_version: 1, signature: sk.sign(&c).unwrap() }.format();
        let parsed = SignatureHeader::parse(&header).unwrap();
        let pk = sk.public_key();
        prop_assert!(pk.verify(&c, &parsed.signature).is_ok());
        let mut tampered = c.clone();
        let i = flip.index(tampered.len());
        tampered[i] ^= 0x01;
        prop_assert_eq!(pk.verify(&tampered, &parsed.signature), Err(SignError::Mismatch));
    }
}

#[test]
fn public_keys_round_trip_through_pem() {
    for name in ["ed25519.pub.pem", "rsa2048.pub.pem"] {
        let pem = std::fs::read_to_string(format!("tests/keys/{name}")).unwrap();
        let key = PublicKey::from_pem(&pem).unwrap();
        let again = key.to_pem().unwrap();
        assert_eq!(again.trim(), pem.trim(), "{name}");
        assert_eq!(PublicKey::from_pem(&again).unwrap(), key);
    }
    let (private, der) = PrivateKey::generate_ed25519().unwrap();
    let back = PrivateKey::ed25519_from_pkcs8(&der).unwrap();
    assert_eq!(back.public_key(), private.public_key());
}

//! Message signatures of SPEC §4.1, both ways.
//!
//! Every participant request, gateway callback and answer carries
//! `Client-Id`, `Request-Time` (answers: `Response-Time`) and
//! `Signature: algorithm=<ED25519|RSA256>,keyVersion=<n>,signature=<base64>`
//! over the UTF-8 string
//!
//! ```text
//! <METHOD> <path with query>\n<Client-Id>.<time>.<body>
//! ```
//!
//! `ED25519` is pure Ed25519; `RSA256` is RSASSA-PKCS1-v1_5 with SHA-256
//! over RSA-2048 or larger. Keys are PEM: SubjectPublicKeyInfo for public
//! keys, PKCS#8 for private ones. The cryptography is `ring`'s; key parsing
//! is the RustCrypto `spki`/`der` crates'. This crate does no I/O.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{self, KeyPair};
use spki::der::DecodePem;

/// Why a signature, key or header was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("the Signature header is malformed: {0}")]
    BadHeader(String),
    #[error("unsupported algorithm {0:?}: use ED25519 or RSA256")]
    BadAlgorithm(String),
    #[error("the key is not usable: {0}")]
    BadKey(String),
    #[error("the signature does not verify")]
    Mismatch,
    #[error("the time {0:?} is not RFC 3339 UTC")]
    BadTime(String),
    #[error("the time is {skew_s} s from now; the window is {window_s} s")]
    Skewed { skew_s: i64, window_s: i64 },
}

/// The two signature algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Ed25519,
    Rsa256,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ED25519",
            Algorithm::Rsa256 => "RSA256",
        }
    }

    pub fn parse(s: &str) -> Result<Algorithm, SignError> {
        match s {
            "ED25519" => Ok(Algorithm::Ed25519),
            "RSA256" => Ok(Algorithm::Rsa256),
            other => Err(SignError::BadAlgorithm(other.to_string())),
        }
    }
}

/// The signed content: `<METHOD> <path with query>\n<Client-Id>.<time>.<body>`.
pub fn signed_content(
    method: &str,
    path_and_query: &str,
    client_id: &str,
    time: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        method.len() + path_and_query.len() + client_id.len() + time.len() + body.len() + 4,
    );
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path_and_query.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(client_id.as_bytes());
    out.push(b'.');
    out.extend_from_slice(time.as_bytes());
    out.push(b'.');
    out.extend_from_slice(body);
    out
}

/// Longest `Signature` header accepted (an RSA-8192 signature is 1,368
/// base64 characters).
pub const SIGNATURE_HEADER_BYTES_MAX: usize = 2048;

/// A parsed `Signature` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureHeader {
    pub algorithm: Algorithm,
    pub key_version: u32,
    pub signature: Vec<u8>,
}

impl SignatureHeader {
    /// Parse `algorithm=…,keyVersion=…,signature=…`; each item splits on its
    /// first `=` (base64 padding holds more).
    pub fn parse(header: &str) -> Result<SignatureHeader, SignError> {
        if header.len() > SIGNATURE_HEADER_BYTES_MAX {
            return Err(SignError::BadHeader(format!(
                "longer than {SIGNATURE_HEADER_BYTES_MAX} bytes"
            )));
        }
        let (mut algorithm, mut key_version, mut signature) = (None, None, None);
        for item in header.split(',') {
            let (key, value) = item
                .trim()
                .split_once('=')
                .ok_or_else(|| SignError::BadHeader(format!("item {item:?} is not key=value")))?;
            let slot = match key {
                "algorithm" => &mut algorithm,
                "keyVersion" => &mut key_version,
                "signature" => &mut signature,
                other => return Err(SignError::BadHeader(format!("unknown item {other:?}"))),
            };
            if slot.replace(value).is_some() {
                return Err(SignError::BadHeader(format!("{key} appears twice")));
            }
        }
        let algorithm = Algorithm::parse(
            algorithm.ok_or_else(|| SignError::BadHeader("no algorithm".into()))?,
        )?;
        let key_version = key_version
            .ok_or_else(|| SignError::BadHeader("no keyVersion".into()))?
            .parse::<u32>()
            .map_err(|_| SignError::BadHeader("keyVersion is not a number".into()))?;
        let signature = STANDARD
            .decode(signature.ok_or_else(|| SignError::BadHeader("no signature".into()))?)
            .map_err(|e| SignError::BadHeader(format!("signature is not standard base64: {e}")))?;
        Ok(SignatureHeader {
            algorithm,
            key_version,
            signature,
        })
    }

    /// The header value.
    pub fn format(&self) -> String {
        format!(
            "algorithm={},keyVersion={},signature={}",
            self.algorithm.as_str(),
            self.key_version,
            STANDARD.encode(&self.signature)
        )
    }
}

/// A participant's (or the gateway's) public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    pub algorithm: Algorithm,
    /// Ed25519: the 32 raw bytes; RSA: the PKCS#1 `RSAPublicKey` DER.
    raw: Vec<u8>,
}

const OID_ED25519: &str = "1.3.101.112";
const OID_RSA: &str = "1.2.840.113549.1.1.1";

/// Smallest RSA modulus accepted, in bits.
pub const RSA_BITS_MIN: usize = 2048;

/// Largest RSA modulus accepted, in bits (what the verifier takes).
pub const RSA_BITS_MAX: usize = 8192;

#[derive(der::Sequence)]
struct RsaPublicKeyDer<'a> {
    modulus: der::asn1::UintRef<'a>,
    public_exponent: der::asn1::UintRef<'a>,
}

impl PublicKey {
    /// A public key from PEM (`-----BEGIN PUBLIC KEY-----`, SPKI).
    pub fn from_pem(pem: &str) -> Result<PublicKey, SignError> {
        let spki = spki::SubjectPublicKeyInfoOwned::from_pem(pem.trim())
            .map_err(|e| SignError::BadKey(format!("not a PEM SubjectPublicKeyInfo: {e}")))?;
        let raw = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| SignError::BadKey("the key bits are not whole bytes".into()))?
            .to_vec();
        match spki.algorithm.oid.to_string().as_str() {
            OID_ED25519 => {
                if raw.len() != 32 {
                    return Err(SignError::BadKey("an Ed25519 key is 32 bytes".into()));
                }
                Ok(PublicKey {
                    algorithm: Algorithm::Ed25519,
                    raw,
                })
            }
            OID_RSA => {
                let key = <RsaPublicKeyDer<'_> as der::Decode>::from_der(&raw)
                    .map_err(|e| SignError::BadKey(format!("not an RSA public key: {e}")))?;
                // The modulus without its leading zero bits.
                let bytes = key.modulus.as_bytes();
                let lead = bytes.first().map_or(8, |b| b.leading_zeros() as usize);
                let bits = (bytes.len() * 8).saturating_sub(lead);
                if !(RSA_BITS_MIN..=RSA_BITS_MAX).contains(&bits) {
                    return Err(SignError::BadKey(format!(
                        "RSA keys are {RSA_BITS_MIN} to {RSA_BITS_MAX} bits; this is {bits}"
                    )));
                }
                let _ = key.public_exponent;
                Ok(PublicKey {
                    algorithm: Algorithm::Rsa256,
                    raw,
                })
            }
            other => Err(SignError::BadKey(format!(
                "unsupported key algorithm {other}"
            ))),
        }
    }

    /// Check `signature` over `content`.
    pub fn verify(&self, content: &[u8], sig: &[u8]) -> Result<(), SignError> {
        let alg: &dyn signature::VerificationAlgorithm = match self.algorithm {
            Algorithm::Ed25519 => &signature::ED25519,
            Algorithm::Rsa256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        };
        signature::UnparsedPublicKey::new(alg, &self.raw)
            .verify(content, sig)
            .map_err(|_| SignError::Mismatch)
    }
}

/// A private key that signs (the gateway's own, or a simulator's).
#[derive(Debug)]
pub enum PrivateKey {
    Ed25519(signature::Ed25519KeyPair),
    Rsa(Box<signature::RsaKeyPair>),
}

impl PrivateKey {
    /// A private key from PEM (`-----BEGIN PRIVATE KEY-----`, PKCS#8).
    pub fn from_pem(pem: &str) -> Result<PrivateKey, SignError> {
        let (label, der) = pem_rfc7468_decode(pem.trim())?;
        if label != "PRIVATE KEY" {
            return Err(SignError::BadKey(format!(
                "expected PRIVATE KEY, found {label}"
            )));
        }
        if let Ok(k) = signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der) {
            return Ok(PrivateKey::Ed25519(k));
        }
        signature::RsaKeyPair::from_pkcs8(&der)
            .map(|k| PrivateKey::Rsa(Box::new(k)))
            .map_err(|e| SignError::BadKey(format!("not an Ed25519 or RSA PKCS#8 key: {e}")))
    }

    /// A new Ed25519 key (PKCS#8 DER, to keep).
    pub fn generate_ed25519() -> Result<(PrivateKey, Vec<u8>), SignError> {
        let rng = ring::rand::SystemRandom::new();
        let doc = signature::Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|e| SignError::BadKey(e.to_string()))?;
        let key = signature::Ed25519KeyPair::from_pkcs8(doc.as_ref())
            .map_err(|e| SignError::BadKey(e.to_string()))?;
        Ok((PrivateKey::Ed25519(key), doc.as_ref().to_vec()))
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            PrivateKey::Ed25519(_) => Algorithm::Ed25519,
            PrivateKey::Rsa(_) => Algorithm::Rsa256,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            PrivateKey::Ed25519(k) => PublicKey {
                algorithm: Algorithm::Ed25519,
                raw: k.public_key().as_ref().to_vec(),
            },
            PrivateKey::Rsa(k) => PublicKey {
                algorithm: Algorithm::Rsa256,
                raw: k.public_key().as_ref().to_vec(),
            },
        }
    }

    /// Sign `content`.
    pub fn sign(&self, content: &[u8]) -> Result<Vec<u8>, SignError> {
        match self {
            PrivateKey::Ed25519(k) => Ok(k.sign(content).as_ref().to_vec()),
            PrivateKey::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    content,
                    &mut sig,
                )
                .map_err(|e| SignError::BadKey(e.to_string()))?;
                Ok(sig)
            }
        }
    }
}

/// PEM to (label, DER) (RFC 7468), via the `der` crate's PEM support.
fn pem_rfc7468_decode(pem: &str) -> Result<(String, Vec<u8>), SignError> {
    let (label, der) = der::pem::decode_vec(pem.as_bytes())
        .map_err(|e| SignError::BadKey(format!("not PEM: {e}")))?;
    Ok((label.to_string(), der))
}

/// Check that `time` (RFC 3339) is within `window_s` of `now_ms`.
pub fn check_time(time: &str, now_ms: i64, window_s: i64) -> Result<(), SignError> {
    let ts: jiff::Timestamp = time
        .parse()
        .map_err(|_| SignError::BadTime(time.to_string()))?;
    let skew_ms = ts.as_millisecond().saturating_sub(now_ms);
    if skew_ms.saturating_abs() > window_s.saturating_mul(1000) {
        return Err(SignError::Skewed {
            skew_s: skew_ms / 1000,
            window_s,
        });
    }
    Ok(())
}

impl PublicKey {
    /// The key as PEM SubjectPublicKeyInfo, as participants publish it.
    pub fn to_pem(&self) -> Result<String, SignError> {
        use der::EncodePem;
        let (oid, parameters) = match self.algorithm {
            Algorithm::Ed25519 => (OID_ED25519, None),
            Algorithm::Rsa256 => (OID_RSA, Some(der::Any::from(der::asn1::Null))),
        };
        let spki = spki::SubjectPublicKeyInfoOwned {
            algorithm: spki::AlgorithmIdentifierOwned {
                oid: der::asn1::ObjectIdentifier::new_unwrap(oid),
                parameters,
            },
            subject_public_key: der::asn1::BitString::from_bytes(&self.raw)
                .map_err(|e| SignError::BadKey(e.to_string()))?,
        };
        spki.to_pem(der::pem::LineEnding::LF)
            .map_err(|e| SignError::BadKey(e.to_string()))
    }
}

/// PKCS#8 DER as PEM (`-----BEGIN PRIVATE KEY-----`).
pub fn pkcs8_pem(der: &[u8]) -> Result<String, SignError> {
    der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, der)
        .map_err(|e| SignError::BadKey(e.to_string()))
}

impl PrivateKey {
    /// An Ed25519 key from its PKCS#8 DER (as [`PrivateKey::generate_ed25519`]
    /// returns it).
    pub fn ed25519_from_pkcs8(der: &[u8]) -> Result<PrivateKey, SignError> {
        signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map(PrivateKey::Ed25519)
            .map_err(|e| SignError::BadKey(format!("not an Ed25519 PKCS#8 key: {e}")))
    }
}

/// The three headers of a signed message (SPEC §4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `Client-Id`.
    pub client_id: String,
    /// `Request-Time` on requests, `Response-Time` on answers.
    pub time: String,
    /// `Signature`.
    pub signature: String,
}

/// Now as RFC 3339 UTC to the millisecond, as `Request-Time` carries it.
pub fn now_rfc3339() -> String {
    let now = jiff::Timestamp::now();
    now.round(jiff::TimestampRound::new().smallest(jiff::Unit::Millisecond))
        .unwrap_or(now)
        .to_string()
}

/// Unix milliseconds as RFC 3339 UTC.
pub fn rfc3339_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Sign a message: a request (`method` and `target` its own) or an answer
/// (those of its request).
pub fn sign_message(
    key: &PrivateKey,
    key_version: u32,
    client_id: &str,
    method: &str,
    target: &str,
    time: &str,
    body: &[u8],
) -> Result<SignedHeaders, SignError> {
    let content = signed_content(method, target, client_id, time, body);
    let signature = SignatureHeader {
        algorithm: key.algorithm(),
        key_version,
        signature: key.sign(&content)?,
    }
    .format();
    Ok(SignedHeaders {
        client_id: client_id.to_string(),
        time: time.to_string(),
        signature,
    })
}

/// Whoever signs outgoing messages: a participant with its key, or the
/// gateway with its key ring (answers and callbacks).
pub trait Signer: Send + Sync + std::fmt::Debug {
    /// The `Client-Id` the messages carry.
    fn client_id(&self) -> &str;
    /// The `Signature` header value for `content`.
    fn signature_header(&self, content: &[u8]) -> Result<String, SignError>;
}

/// A participant's signing key and the version it was registered under.
#[derive(Debug)]
pub struct KeySigner {
    pub client_id: String,
    pub key: PrivateKey,
    pub key_version: u32,
}

impl Signer for KeySigner {
    fn client_id(&self) -> &str {
        &self.client_id
    }

    fn signature_header(&self, content: &[u8]) -> Result<String, SignError> {
        Ok(SignatureHeader {
            algorithm: self.key.algorithm(),
            key_version: self.key_version,
            signature: self.key.sign(content)?,
        }
        .format())
    }
}

/// Sign a message with any [`Signer`].
pub fn sign_with(
    signer: &dyn Signer,
    method: &str,
    target: &str,
    time: &str,
    body: &[u8],
) -> Result<SignedHeaders, SignError> {
    let content = signed_content(method, target, signer.client_id(), time, body);
    Ok(SignedHeaders {
        client_id: signer.client_id().to_string(),
        time: time.to_string(),
        signature: signer.signature_header(&content)?,
    })
}

/// Verify a signed message against the sender's keys by version (the
/// gateway's current and previous, say). Returns the key version used.
pub fn verify_message(
    keys: &[(u32, PublicKey)],
    method: &str,
    target: &str,
    headers: &SignedHeaders,
    body: &[u8],
) -> Result<u32, SignError> {
    let header = SignatureHeader::parse(&headers.signature)?;
    let key = keys
        .iter()
        .find(|(v, _)| *v == header.key_version)
        .map(|(_, k)| k)
        .ok_or_else(|| SignError::BadKey(format!("no key of version {}", header.key_version)))?;
    if key.algorithm != header.algorithm {
        return Err(SignError::BadAlgorithm(
            header.algorithm.as_str().to_string(),
        ));
    }
    let content = signed_content(method, target, &headers.client_id, &headers.time, body);
    key.verify(&content, &header.signature)?;
    Ok(header.key_version)
}

pub mod kek;

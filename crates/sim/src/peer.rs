//! What every simulated participant shares: checking that a callback is
//! the gateway's (its published keys, or keys pinned by a test), signing
//! answers with the participant's own key, and the faults it can be told
//! to inject.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sign::{PublicKey, SignedHeaders, Signer};

/// Where the gateway's public keys come from.
#[derive(Clone, Debug)]
pub enum GatewayKeys {
    /// `GET <gateway>/v1/keys`, fetched when a signature names a version
    /// not seen yet.
    Fetch(String),
    /// Fixed keys (tests).
    Pinned(Vec<(u32, PublicKey)>),
}

/// Checks callbacks against the gateway's keys.
#[derive(Debug)]
pub struct Verifier {
    source: GatewayKeys,
    http: reqwest::Client,
    cache: tokio::sync::RwLock<Vec<(u32, PublicKey)>>,
    /// The skew window, seconds.
    pub window_s: i64,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

impl Verifier {
    pub fn new(source: GatewayKeys) -> Verifier {
        let cache = match &source {
            GatewayKeys::Pinned(keys) => keys.clone(),
            GatewayKeys::Fetch(_) => Vec::new(),
        };
        Verifier {
            source,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            cache: tokio::sync::RwLock::new(cache),
            window_s: 300,
        }
    }

    /// Whether a request is signed by the gateway: `Client-Id: unigate`,
    /// a `Request-Time` within the window, a signature by one of its keys.
    pub async fn verify(
        &self,
        method: &str,
        target: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), String> {
        let h = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let signed = SignedHeaders {
            client_id: h("client-id"),
            time: h("request-time"),
            signature: h("signature"),
        };
        if signed.client_id != "unigate" {
            return Err("not signed by the gateway".into());
        }
        sign::check_time(&signed.time, now_ms(), self.window_s).map_err(|e| e.to_string())?;
        let try_verify = |keys: &[(u32, PublicKey)]| {
            sign::verify_message(keys, method, target, &signed, body).map(|_| ())
        };
        if try_verify(&self.cache.read().await).is_ok() {
            return Ok(());
        }
        let GatewayKeys::Fetch(gateway) = &self.source else {
            return try_verify(&self.cache.read().await).map_err(|e| e.to_string());
        };
        // A key not seen yet (first call, or the gateway rotated).
        let fresh = client::fetch_gateway_keys(&self.http, gateway)
            .await
            .map_err(|e| e.to_string())?;
        let verdict = try_verify(&fresh).map_err(|e| e.to_string());
        *self.cache.write().await = fresh;
        verdict
    }
}

/// The faults a simulator injects, each a share of requests (0.0–1.0),
/// drawn from a seeded sequence so a run can be repeated exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    /// Every answer waits this long first ("slow answers").
    pub latency_ms: u64,
    /// Business declines (`F`, `DECLINED`).
    pub decline_rate: f64,
    /// HTTP 500 without doing anything.
    pub failure_rate: f64,
    /// Does the work, then answers only after `hang_ms` (the gateway's
    /// timeout fires first: an outcome the gateway must inquire about).
    pub timeout_rate: f64,
    pub hang_ms: u64,
    /// Answers signed with a corrupted signature.
    pub bad_signature_rate: f64,
    pub seed: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            decline_rate: 0.0,
            failure_rate: 0.0,
            timeout_rate: 0.0,
            hang_ms: 60_000,
            bad_signature_rate: 0.0,
            seed: 1,
        }
    }
}

/// What the faults say of request number `n`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Draw {
    pub fail: bool,
    pub hang: bool,
    pub decline: bool,
    pub bad_signature: bool,
}

impl Faults {
    /// Check the rates are shares.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("decline rate", self.decline_rate),
            ("failure rate", self.failure_rate),
            ("timeout rate", self.timeout_rate),
            ("bad signature rate", self.bad_signature_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("the {name} is {rate}: give a share from 0 to 1"));
            }
        }
        Ok(())
    }

    /// The faults of request `n`, each drawn independently.
    pub fn draw(&self, n: u64) -> Draw {
        let d = |salt: u64, rate: f64| rate > 0.0 && unit(self.seed, n, salt) < rate;
        Draw {
            fail: d(1, self.failure_rate),
            hang: d(2, self.timeout_rate),
            decline: d(3, self.decline_rate),
            bad_signature: d(4, self.bad_signature_rate),
        }
    }
}

/// A number in [0, 1) from (seed, n, salt): SplitMix64's finaliser, so
/// the draws are spread evenly and repeatable.
fn unit(seed: u64, n: u64, salt: u64) -> f64 {
    let mut z = seed
        .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(salt.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    // The top 53 bits as a fraction.
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// A signed JSON answer (SPEC §4.1: the answer repeats its request's
/// method and target); `corrupt` spoils the signature (a fault).
pub fn signed_answer(
    signer: &Arc<sign::KeySigner>,
    method: &str,
    target: &str,
    status: StatusCode,
    answer: &serde_json::Value,
    corrupt: bool,
) -> Response {
    let bytes = answer.to_string().into_bytes();
    let signed = match sign::sign_with(
        signer.as_ref() as &dyn Signer,
        method,
        target,
        &sign::now_rfc3339(),
        &bytes,
    ) {
        Ok(s) => s,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let signature = if corrupt {
        corrupt_signature(&signed.signature)
    } else {
        signed.signature
    };
    (
        status,
        [
            ("content-type", "application/json".to_string()),
            ("client-id", signed.client_id),
            ("response-time", signed.time),
            ("signature", signature),
        ],
        bytes,
    )
        .into_response()
}

/// The same header with its signature's first base64 character changed.
fn corrupt_signature(header: &str) -> String {
    match header.split_once("signature=") {
        Some((head, sig)) => {
            let mut chars: Vec<char> = sig.chars().collect();
            if let Some(c) = chars.first_mut() {
                *c = if *c == 'A' { 'B' } else { 'A' };
            }
            format!("{head}signature={}", chars.into_iter().collect::<String>())
        }
        None => header.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_repeatable_and_near_their_rates() {
        let f = Faults {
            decline_rate: 0.25,
            failure_rate: 0.1,
            ..Faults::default()
        };
        let declines = (0..10_000).filter(|n| f.draw(*n).decline).count();
        let fails = (0..10_000).filter(|n| f.draw(*n).fail).count();
        assert!((2_300..2_700).contains(&declines), "{declines}");
        assert!((800..1_200).contains(&fails), "{fails}");
        assert_eq!(f.draw(17), f.draw(17));
        assert!(!Faults::default().draw(3).decline);
        assert!(
            Faults {
                decline_rate: 1.5,
                ..Faults::default()
            }
            .validate()
            .is_err()
        );
    }
}

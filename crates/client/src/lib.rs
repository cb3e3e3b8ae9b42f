//! A signing HTTP client (SPEC §4.1).
//!
//! [`SignedClient::call`] signs every request afresh (a retry gets a new
//! `Request-Time` and so a new signature; it is recognised as a retry by
//! its `request_id`, SPEC §4.3) and verifies the answer's signature
//! against the gateway's published keys (`GET /v1/keys`, fetched once and
//! again when an answer names a key version not yet seen).

use std::time::Duration;

use std::sync::Arc;

use sign::{PublicKey, SignedHeaders};

/// How far an answer's `Response-Time` may be from now (SPEC §4.1's
/// window).
pub const ANSWER_SKEW_S: i64 = 300;

/// Why a call failed before an answer could be trusted.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The HTTP failure with its causes on one line.
    #[error("{0}")]
    Http(String),
    /// No answer within the timeout: the request may have arrived.
    #[error("timed out: {0}")]
    Timeout(String),
    /// No connection could be made: the request was never sent.
    #[error("could not connect: {0}")]
    Connect(String),
    #[error(transparent)]
    Sign(#[from] sign::SignError),
    #[error("the gateway's keys at {url}: {detail}")]
    Keys { url: String, detail: String },
    #[error("the base URL {0:?} is not http(s)://host[:port][/prefix]")]
    BadUrl(String),
    #[error("the answer is over {0} bytes")]
    TooLarge(usize),
}

pub use sign::{KeySigner, Signer};

/// An answer and whether its signature verified.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The answer's `Client-Id`, `Response-Time` and `Signature`, when
    /// present.
    pub signed: Option<SignedHeaders>,
    /// `Ok(key version)` when the signature verified, otherwise why not.
    pub verified: Result<u32, String>,
}

/// Limits of the client.
#[derive(Clone, Copy, Debug)]
pub struct ClientLimits {
    pub timeout: Duration,
    pub answer_bytes_max: usize,
    /// Connect only to public addresses, whatever a name resolves to (the
    /// gateway's callbacks: a participant's host name must not be
    /// re-pointed at the gateway's own network).
    pub public_only: bool,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            timeout: Duration::from_secs(30),
            answer_bytes_max: 16 * 1024 * 1024,
            public_only: false,
        }
    }
}

/// A client of one gateway (or, for the gateway's callbacks, of one
/// participant's callback base URL: the gateway's key ring is a
/// [`Signer`] too, and the participant's keys are pinned).
#[derive(Debug)]
pub struct SignedClient {
    base: String,
    /// The path prefix of the base URL, part of every signed target.
    prefix: String,
    signer: Arc<dyn Signer>,
    http: reqwest::Client,
    limits: ClientLimits,
    /// The peer's public keys by version; fetched from `GET /v1/keys`
    /// unless pinned.
    peer_keys: std::sync::Mutex<Vec<(u32, PublicKey)>>,
    pinned: bool,
    /// The last `Request-Time` used (Unix ms): each request gets a later
    /// one, so two identical requests sent in the same millisecond are not
    /// one request and its replay to the gateway's replay guard.
    last_request_ms: std::sync::atomic::AtomicI64,
    /// Requests sent so far (the load generator counts its hops).
    sent: std::sync::atomic::AtomicU64,
}

#[derive(serde::Deserialize)]
struct KeysDoc {
    keys: Vec<KeyDoc>,
}

#[derive(serde::Deserialize)]
struct KeyDoc {
    key_version: u32,
    public_key_pem: String,
}

impl SignedClient {
    /// A client of the gateway at `base_url` (`http://127.0.0.1:8080`),
    /// signing as `signer`.
    pub fn new(
        base_url: &str,
        signer: Arc<dyn Signer>,
        limits: ClientLimits,
    ) -> Result<SignedClient, ClientError> {
        SignedClient::over(http_client(&limits, 8)?, base_url, signer, limits)
    }

    /// A client over an existing HTTP client, sharing its pool of
    /// keep-alive connections (the gateway's connectors keep one for all
    /// participants). The HTTP client's own timeout and resolver apply;
    /// `limits` bounds the answer.
    pub fn over(
        http: reqwest::Client,
        base_url: &str,
        signer: Arc<dyn Signer>,
        limits: ClientLimits,
    ) -> Result<SignedClient, ClientError> {
        let trimmed = base_url.trim_end_matches('/');
        let after_scheme = trimmed
            .strip_prefix("http://")
            .or_else(|| trimmed.strip_prefix("https://"))
            .ok_or_else(|| ClientError::BadUrl(base_url.to_string()))?;
        let prefix = after_scheme
            .find('/')
            .and_then(|i| after_scheme.get(i..))
            .unwrap_or("")
            .to_string();
        if after_scheme.is_empty() || prefix.contains('?') {
            return Err(ClientError::BadUrl(base_url.to_string()));
        }
        if limits.public_only && host_is_private_literal(after_scheme) {
            return Err(ClientError::BadUrl(base_url.to_string()));
        }
        Ok(SignedClient {
            base: trimmed.to_string(),
            prefix,
            signer,
            http,
            limits,
            peer_keys: std::sync::Mutex::new(Vec::new()),
            pinned: false,
            last_request_ms: std::sync::atomic::AtomicI64::new(0),
            sent: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Trust only these peer keys (no `GET /v1/keys`).
    pub fn pin_peer_keys(mut self, keys: Vec<(u32, PublicKey)>) -> SignedClient {
        self.peer_keys = std::sync::Mutex::new(keys);
        self.pinned = true;
        self
    }

    /// Fetch the gateway's published keys.
    pub async fn refresh_peer_keys(&self) -> Result<(), ClientError> {
        let keys = fetch_gateway_keys(&self.http, &self.base).await?;
        if let Ok(mut guard) = self.peer_keys.lock() {
            *guard = keys;
        }
        Ok(())
    }

    fn knows(&self, version: u32) -> bool {
        self.peer_keys
            .lock()
            .map(|k| k.iter().any(|(v, _)| *v == version))
            .unwrap_or(false)
    }

    /// The signed headers for a request (what `unigate sign` prints).
    pub fn sign(
        &self,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> Result<SignedHeaders, ClientError> {
        Ok(sign::sign_with(
            self.signer.as_ref(),
            method,
            &format!("{}{target}", self.prefix),
            &self.request_time(),
            body,
        )?)
    }

    /// Signed requests sent so far.
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Now, in milliseconds, but always after the last request's time.
    fn request_time(&self) -> String {
        use std::sync::atomic::Ordering;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let mut at = now;
        let _ = self
            .last_request_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                at = now.max(last.saturating_add(1));
                Some(at)
            });
        sign::rfc3339_ms(at)
    }

    /// Send a signed request: `target` is the path with query under the
    /// base URL (`/v1/merchants?limit=10`).
    pub async fn call(
        &self,
        method: &str,
        target: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Answer, ClientError> {
        let m = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| ClientError::BadUrl(format!("method {method}")))?;
        let headers = self.sign(method, target, &body)?;
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut req = self
            .http
            .request(m, format!("{}{target}", self.base))
            .header("Client-Id", &headers.client_id)
            .header("Request-Time", &headers.time)
            .header("Signature", &headers.signature);
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        if !body.is_empty() {
            req = req.body(body);
        }
        let answer = req.send().await?;
        let status = answer.status().as_u16();
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header("content-type");
        let signed = match (
            header("client-id"),
            header("response-time"),
            header("signature"),
        ) {
            (Some(client_id), Some(time), Some(signature)) => Some(SignedHeaders {
                client_id,
                time,
                signature,
            }),
            _ => None,
        };
        // Read no more than the limit, whatever the length header says.
        let mut answer = answer;
        let mut body = Vec::new();
        while let Some(chunk) = answer.chunk().await? {
            if body.len().saturating_add(chunk.len()) > self.limits.answer_bytes_max {
                return Err(ClientError::TooLarge(self.limits.answer_bytes_max));
            }
            body.extend_from_slice(&chunk);
        }
        let verified = self.verify(method, target, signed.as_ref(), &body).await;
        Ok(Answer {
            status,
            content_type,
            body,
            signed,
            verified,
        })
    }

    async fn verify(
        &self,
        method: &str,
        target: &str,
        signed: Option<&SignedHeaders>,
        body: &[u8],
    ) -> Result<u32, String> {
        let signed = signed.ok_or("the answer is not signed")?;
        // An answer from outside the skew window is an old one replayed.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_millis()).ok())
            .unwrap_or(0);
        sign::check_time(&signed.time, now, ANSWER_SKEW_S)
            .map_err(|e| format!("Response-Time: {e}"))?;
        let version = sign::SignatureHeader::parse(&signed.signature)
            .map_err(|e| e.to_string())?
            .key_version;
        if !self.pinned && !self.knows(version) {
            self.refresh_peer_keys().await.map_err(|e| e.to_string())?;
        }
        let keys = self
            .peer_keys
            .lock()
            .map(|k| k.clone())
            .map_err(|_| "the key cache is poisoned".to_string())?;
        sign::verify_message(
            &keys,
            method,
            &format!("{}{target}", self.prefix),
            signed,
            body,
        )
        .map_err(|e| e.to_string())
    }
}

/// The gateway's published public keys by version (`GET /v1/keys`), for
/// verifying what it signs.
pub async fn fetch_gateway_keys(
    http: &reqwest::Client,
    gateway: &str,
) -> Result<Vec<(u32, PublicKey)>, ClientError> {
    let url = format!("{}/v1/keys", gateway.trim_end_matches('/'));
    let keys_error = |detail: String| ClientError::Keys {
        url: url.clone(),
        detail,
    };
    let answer = http.get(&url).send().await?;
    if !answer.status().is_success() {
        return Err(keys_error(format!("answered {}", answer.status())));
    }
    let doc: KeysDoc = serde_json::from_slice(&answer.bytes().await?)
        .map_err(|e| keys_error(format!("not a keys document: {e}")))?;
    let mut keys = Vec::new();
    for k in doc.keys {
        let key = PublicKey::from_pem(&k.public_key_pem)
            .map_err(|e| keys_error(format!("key {}: {e}", k.key_version)))?;
        keys.push((k.key_version, key));
    }
    Ok(keys)
}

/// An HTTP client with the limits' timeout, no redirects and, when
/// `public_only`, the resolver that drops private addresses: one of these
/// can serve many [`SignedClient::over`]s.
pub fn http_client(
    limits: &ClientLimits,
    pool_idle_per_host: usize,
) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .timeout(limits.timeout)
        .connect_timeout(limits.timeout)
        .pool_max_idle_per_host(pool_idle_per_host)
        .tcp_keepalive(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none());
    if limits.public_only {
        builder = builder.dns_resolver(Arc::new(PublicOnly));
    }
    Ok(builder.build()?)
}

/// A resolver that keeps only public addresses (DNS rebinding cannot point
/// a callback at a private one).
#[derive(Debug)]
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !participant::is_private(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// Whether the host of `host[:port][/path]` is a private IP literal (a
/// literal is never resolved, so the resolver cannot refuse it).
fn host_is_private_literal(after_scheme: &str) -> bool {
    let authority = after_scheme.split('/').next().unwrap_or("");
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host.parse::<std::net::IpAddr>()
        .is_ok_and(participant::is_private)
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !out.contains(&next) {
            out.push_str(": ");
            out.push_str(&next);
        }
        source = s.source();
    }
    out
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        // A connect timeout is a connect failure: nothing was sent.
        if e.is_connect() {
            ClientError::Connect(chain(&e))
        } else if e.is_timeout() {
            ClientError::Timeout(chain(&e))
        } else {
            ClientError::Http(chain(&e))
        }
    }
}

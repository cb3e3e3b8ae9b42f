//! The participant surface's signatures, both ways (SPEC §4.1).
//!
//! [`verify_requests`] wraps every participant route: it checks the
//! request's `Client-Id`, `Request-Time` and `Signature` against the
//! participant's registered key, refuses a request outside the skew window
//! or seen before (the replay guard is in the store, shared by every
//! node) and hands the handler a [`SignedCaller`]. [`sign_answers`], the
//! outermost layer, signs whatever is answered on those routes — refusals,
//! timeouts and panics included — with the gateway's current key and a
//! `Response-Time`.
//!
//! The order of the checks is fixed so that nothing is written for a
//! request that is not the participant's own: headers, participant, key,
//! time, signature, and only then the replay guard.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use participant::{Call, CallKind, Role};
use sign::{PublicKey, SignError, SignatureHeader};
use store::Participant;

use crate::problem::ApiError;
use crate::{AppState, now_ms};

pub use keyring::GATEWAY_CLIENT_ID;

/// Longest `Client-Id` looked at.
const CLIENT_ID_BYTES_MAX: usize = 64;

/// Longest answer the gateway signs (larger answers are a gateway fault).
const ANSWER_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Signature settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningConfig {
    /// How far a `Request-Time` may be from the gateway's clock.
    pub skew_window_s: i64,
    /// How long a participant's previous key stays valid after it registers
    /// a new one.
    pub key_overlap_s: i64,
    /// How long after a rotation the gateway's new key starts to sign: at
    /// least twice the nodes' 30-second reload, so that every node
    /// publishes it first.
    pub gateway_key_activation_s: i64,
}

impl Default for SigningConfig {
    fn default() -> Self {
        SigningConfig {
            skew_window_s: 300,
            key_overlap_s: 86_400,
            gateway_key_activation_s: 60,
        }
    }
}

/// A participant whose request's signature verified.
#[derive(Clone, Debug)]
pub struct SignedCaller {
    pub participant: Participant,
    /// The key version that signed the request.
    pub key_version: i64,
}

impl SignedCaller {
    pub fn id(&self) -> &str {
        &self.participant.record.id
    }

    /// Ask the stage policy whether this participant may make `kind` of
    /// call as `role` (403 `STAGE_FORBIDS` or `ROLE_FORBIDS` when not).
    pub fn allow(
        &self,
        state: &AppState,
        kind: CallKind,
        role: Option<Role>,
    ) -> Result<(), ApiError> {
        // Payments count their verification payments; the calls that
        // exist today are reads and set-up, where the count is not asked.
        state
            .policy
            .check(
                self.participant.stage,
                &self.participant.record.roles,
                Call { kind, role },
                0,
            )
            .map_err(|refusal| match refusal {
                participant::Refusal::Role(_) => ApiError::new("ROLE_FORBIDS", refusal.to_string()),
                participant::Refusal::Stage { .. } => {
                    ApiError::new("STAGE_FORBIDS", refusal.to_string())
                }
            })
    }
}

impl FromRequestParts<AppState> for SignedCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Present whenever the route sits behind `verify_requests`.
        parts
            .extensions
            .get::<SignedCaller>()
            .cloned()
            .ok_or_else(|| ApiError::internal(&"a signed route without its middleware"))
    }
}

fn unauthenticated(code: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::new(code, detail).challenge("Signature")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    headers
        .get(name)
        .ok_or_else(|| unauthenticated("SIGNATURE_MISSING", format!("no {name} header")))?
        .to_str()
        .map_err(|_| {
            unauthenticated(
                "SIGNATURE_INVALID",
                format!("the {name} header is not text"),
            )
        })
}

/// Verify the request's signature and run the handler (or refuse).
/// [`sign_answers`], further out, signs whatever is answered.
pub async fn verify_requests(
    State((state, body_bytes_max)): State<(AppState, usize)>,
    req: Request,
    next: Next,
) -> Response {
    match verify(&state, req, body_bytes_max).await {
        Ok(req) => next.run(req).await,
        Err(refusal) => {
            metrics::counter!("unigate_signature_refusals_total", "code" => refusal.code)
                .increment(1);
            tracing::info!(code = refusal.code, detail = %refusal.detail, "signed request refused");
            refusal.into_response()
        }
    }
}

/// The participant surface: every answer under these paths is signed.
const SIGNED_PREFIXES: &[&str] = &[
    "/v1/me",
    "/v1/merchants",
    "/v1/fx/rates",
    "/v1/fx/indicative",
    "/v1/quotes",
    "/v1/mpm",
    "/v1/payments",
    "/v1/refunds",
    "/v1/reconciliation",
];

/// Whether `path` is on the participant surface.
pub fn is_signed_route(path: &str) -> bool {
    SIGNED_PREFIXES.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Sign every answer on the participant surface, whatever produced it:
/// the handler, a refused signature, a timeout, a panic, a limit. It sits
/// outside the other layers for that reason.
pub async fn sign_answers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !is_signed_route(req.uri().path()) {
        return next.run(req).await;
    }
    let method = req.method().to_string();
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
    let response = next.run(req).await;
    sign_answer(&state, &method, &target, response).await
}

async fn verify(
    state: &AppState,
    req: Request,
    body_bytes_max: usize,
) -> Result<Request, ApiError> {
    let (mut parts, body) = req.into_parts();
    let client_id = header(&parts.headers, "client-id")?.to_string();
    let time = header(&parts.headers, "request-time")?.to_string();
    let signature = header(&parts.headers, "signature")?.to_string();
    if client_id.is_empty() || client_id.len() > CLIENT_ID_BYTES_MAX {
        return Err(unauthenticated(
            "PARTICIPANT_UNKNOWN",
            "the Client-Id is not a participant id",
        ));
    }
    let header = SignatureHeader::parse(&signature)
        .map_err(|e| unauthenticated("SIGNATURE_INVALID", e.to_string()))?;
    let participant = state
        .store
        .participant_get(&client_id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| {
            unauthenticated(
                "PARTICIPANT_UNKNOWN",
                format!("{client_id:?} is not a registered participant"),
            )
        })?;
    let key = state
        .store
        .key_get(&client_id, i64::from(header.key_version))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| {
            unauthenticated(
                "KEY_UNKNOWN",
                format!("{client_id} has no key version {}", header.key_version),
            )
        })?;
    let now = now_ms();
    if !key.usable_at(now) {
        let why = if key.revoked_at_ms.is_some() {
            "was revoked"
        } else {
            "was replaced and its overlap window has passed"
        };
        return Err(unauthenticated(
            "KEY_REVOKED",
            format!("key version {} {why}", key.version),
        ));
    }
    sign::check_time(&time, now, state.signing.skew_window_s).map_err(|e| match e {
        SignError::Skewed { .. } => unauthenticated("SIGNATURE_EXPIRED", e.to_string()),
        other => unauthenticated("SIGNATURE_INVALID", other.to_string()),
    })?;
    let public = PublicKey::from_pem(&key.public_pem).map_err(|e| ApiError::internal(&e))?;
    if public.algorithm != header.algorithm {
        return Err(unauthenticated(
            "SIGNATURE_INVALID",
            format!(
                "key version {} is {}, not {}",
                key.version,
                public.algorithm.as_str(),
                header.algorithm.as_str()
            ),
        ));
    }
    let body = axum::body::to_bytes(body, body_bytes_max)
        .await
        .map_err(|_| {
            ApiError::new(
                "PAYLOAD_TOO_LARGE",
                format!("the body is over {body_bytes_max} bytes or could not be read"),
            )
        })?;
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path(), |p| p.as_str());
    let content = sign::signed_content(parts.method.as_str(), target, &client_id, &time, &body);
    public
        .verify(&content, &header.signature)
        .map_err(|_| unauthenticated("SIGNATURE_INVALID", "the signature does not verify"))?;
    let hash = crate::fingerprint::sha256_hex(&header.signature);
    let window_ms = state.signing.skew_window_s.saturating_mul(2_000);
    let first = state
        .store
        .signature_first_use(&hash, now, window_ms)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    if !first {
        return Err(unauthenticated(
            "SIGNATURE_REPLAYED",
            "this signature was used before; sign each request afresh",
        ));
    }
    tracing::debug!(participant = %client_id, key_version = key.version, "signature verified");
    parts.extensions.insert(SignedCaller {
        participant,
        key_version: key.version,
    });
    Ok(Request::from_parts(parts, Body::from(body)))
}

/// Sign an answer: `Client-Id: unigate`, `Response-Time`, `Signature`.
async fn sign_answer(state: &AppState, method: &str, target: &str, response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, ANSWER_BYTES_MAX).await else {
        return ApiError::internal(&"an answer too large to sign").into_response();
    };
    let time = sign::now_rfc3339();
    let content = sign::signed_content(method, target, GATEWAY_CLIENT_ID, &time, &bytes);
    let signature = match state.keys.sign(&content) {
        Ok(s) => s,
        Err(e) => return ApiError::internal(&e).into_response(),
    };
    for (name, value) in [
        ("client-id", GATEWAY_CLIENT_ID.to_string()),
        ("response-time", time),
        ("signature", signature),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            parts.headers.insert(name, v);
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

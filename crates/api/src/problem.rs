//! RFC 9457 problem details: every protocol fault the API answers, with a
//! stable machine `code` from one catalogue ([`CATALOGUE`], documented in
//! `docs/error-codes.md`) and the offending `field` where there is one.
//! Internal causes are logged, never returned.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Every HTTP error code the API can answer: code, status, meaning.
pub const CATALOGUE: &[(&str, u16, &str)] = &[
    (
        "BAD_REQUEST",
        400,
        "The request is malformed: not JSON, a wrong type, an unknown field.",
    ),
    (
        "FIELD_INVALID",
        400,
        "A field fails validation; `field` names it.",
    ),
    (
        "UNAUTHENTICATED",
        401,
        "No valid credentials: a missing, unknown or revoked bearer token (or signature).",
    ),
    (
        "FORBIDDEN",
        403,
        "The credentials are valid but their role may not make this call.",
    ),
    (
        "SIGNATURE_MISSING",
        401,
        "A signed route was called without `Client-Id`, `Request-Time` or `Signature`.",
    ),
    (
        "SIGNATURE_INVALID",
        401,
        "The `Signature` header is malformed, names the wrong algorithm for the key, or does not verify.",
    ),
    (
        "SIGNATURE_EXPIRED",
        401,
        "`Request-Time` is outside the skew window (`signing.skew_window_s`, default 300 s).",
    ),
    (
        "SIGNATURE_REPLAYED",
        401,
        "This signature was used before within its window; re-sign each attempt with a fresh `Request-Time`.",
    ),
    (
        "PARTICIPANT_UNKNOWN",
        401,
        "`Client-Id` is not a registered participant.",
    ),
    (
        "KEY_UNKNOWN",
        401,
        "The participant has no key of the signature's `keyVersion`.",
    ),
    (
        "KEY_REVOKED",
        401,
        "The key was revoked, or replaced and its overlap window has passed.",
    ),
    (
        "STAGE_FORBIDS",
        403,
        "The participant's onboarding stage does not allow this call (including the production-verification amount and count limits).",
    ),
    (
        "ROLE_FORBIDS",
        403,
        "The call belongs to a role (wallet, acquirer, fx_provider) the participant does not have.",
    ),
    ("NOT_FOUND", 404, "No such route or resource."),
    (
        "STATE_CONFLICT",
        409,
        "The object is not in a state that allows this: a payment that is not an exception, a notification that is not dead.",
    ),
    (
        "METHOD_NOT_ALLOWED",
        405,
        "The route exists but not with this method.",
    ),
    (
        "PAYLOAD_TOO_LARGE",
        413,
        "The request body is over `http.body_bytes_max`.",
    ),
    (
        "UNSUPPORTED_MEDIA_TYPE",
        415,
        "The body is not `application/json`.",
    ),
    (
        "PARTICIPANT_EXISTS",
        409,
        "A participant with this id is registered already.",
    ),
    (
        "STAGE_MOVE_ILLEGAL",
        409,
        "The onboarding stage cannot move from where it is to where it was asked.",
    ),
    (
        "REPEAT_REQ_INCONSISTENT",
        409,
        "The request id was used before by this participant for this operation with other content.",
    ),
    (
        "KEY_LAST_USABLE",
        409,
        "The key is the participant's only usable one; register another first (or ask the operator).",
    ),
    (
        "LIMIT_EXCEEDED",
        409,
        "The movement would take an account beyond its debit limit (net debit cap, prefunding or refund allowance).",
    ),
    (
        "TRANSFER_EXISTS",
        409,
        "A transfer with this id (the request id) was made before.",
    ),
    (
        "IDENTIFIER_TAKEN",
        409,
        "A QR identifier of the merchant already points to another merchant.",
    ),
    (
        "ROUTE_EXISTS",
        409,
        "A route for this side, kind and value exists already (delete it first to point it elsewhere).",
    ),
    (
        "ROUTE_TABLE_FULL",
        409,
        "The route table holds `routing.routes_max` routes; delete some first.",
    ),
    (
        "ROUTE_PARTICIPANT_UNKNOWN",
        422,
        "The route names a participant that is not registered.",
    ),
    (
        "ROUTE_PARTICIPANT_ROLE",
        422,
        "The route's participant lacks the side's role: merchant-side routes go to acquirers, wallet-side routes to wallets.",
    ),
    (
        "CODE_INVALID",
        422,
        "The QR payload or payment code does not decode; `detail` carries the codec's error code (`crc_mismatch`, `bad_length`, …) and message.",
    ),
    (
        "HEADERS_TOO_LARGE",
        431,
        "The request's headers are over `http.header_bytes_max`.",
    ),
    (
        "NOT_READY",
        503,
        "The store is unreachable or its migrations are not applied.",
    ),
    (
        "TIMEOUT",
        503,
        "The request took longer than `http.request_timeout_ms`.",
    ),
    (
        "OVERLOADED",
        503,
        "The gateway is working on `http.in_flight_max` participant requests already; nothing was done: send it again after `Retry-After` seconds.",
    ),
    (
        "INTERNAL",
        500,
        "The gateway failed; the cause is in its logs under the request id.",
    ),
];

/// An RFC 9457 problem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The stable machine code (see the error catalogue).
    pub code: String,
    /// The offending field, as a JSON pointer-like path, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A problem to answer with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct ApiError {
    pub code: &'static str,
    pub detail: String,
    pub field: Option<String>,
    /// For 401: which scheme to ask for (`Bearer` or `Signature`).
    pub challenge: Option<&'static str>,
}

impl ApiError {
    /// A problem with catalogue code `code`.
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        debug_assert!(
            CATALOGUE.iter().any(|c| c.0 == code),
            "{code} is not in the catalogue"
        );
        ApiError {
            code,
            detail: detail.into(),
            field: None,
            challenge: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn challenge(mut self, scheme: &'static str) -> Self {
        self.challenge = Some(scheme);
        self
    }

    /// The gateway's own failure: logged with its cause, answered without.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        ApiError::new("INTERNAL", "the gateway failed to answer; see its logs")
    }

    pub fn status(&self) -> StatusCode {
        let status = CATALOGUE
            .iter()
            .find(|c| c.0 == self.code)
            .map(|c| c.1)
            .unwrap_or(500);
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        Problem {
            type_uri: format!(
                "https://unigate.dev/problems/{}",
                self.code.to_ascii_lowercase().replace('_', "-")
            ),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_string(),
            field: self.field.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self.to_problem()).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(scheme) = self.challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(scheme));
        }
        response
    }
}

//! Bearer tokens for the operator and regulator surfaces.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use store::Role;
use utoipa::Modify;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};

use crate::AppState;
use crate::problem::ApiError;

/// An authenticated token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub token_id: String,
    pub role: Role,
}

/// Longest `Authorization` header looked at.
const AUTHORIZATION_BYTES_MAX: usize = 512;

async fn caller(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let unauthenticated =
        |detail: &str| ApiError::new("UNAUTHENTICATED", detail).challenge("Bearer");
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| unauthenticated("this call needs an Authorization: Bearer token"))?;
    if header.len() > AUTHORIZATION_BYTES_MAX {
        return Err(unauthenticated("the Authorization header is too long"));
    }
    let value = header
        .to_str()
        .map_err(|_| unauthenticated("the Authorization header is not text"))?;
    let token = value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthenticated("the Authorization header is not `Bearer <token>`"))?;
    match state.store.token_verify(token).await {
        Ok(Some((token_id, role))) => Ok(Caller { token_id, role }),
        Ok(None) => Err(unauthenticated("unknown or revoked token")),
        Err(e) => Err(ApiError::internal(&e)),
    }
}

/// An operator's token.
#[derive(Debug)]
pub struct OperatorOnly(pub Caller);

impl FromRequestParts<AppState> for OperatorOnly {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let c = caller(parts, state).await?;
        if c.role != Role::Operator {
            return Err(ApiError::new("FORBIDDEN", "this call is the operator's"));
        }
        Ok(OperatorOnly(c))
    }
}

/// Any valid token (the regulator's surface is read-only).
#[derive(Debug)]
pub struct AnyRole(pub Caller);

impl FromRequestParts<AppState> for AnyRole {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        caller(parts, state).await.map(AnyRole)
    }
}

/// Adds the bearer and signature schemes to the OpenAPI document.
#[derive(Debug)]
pub struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        // SPEC §4.1: `Client-Id`, `Request-Time` and `Signature` together.
        let mut signature = ApiKeyValue::new("Signature");
        signature.description = Some(
            "algorithm=<ED25519|RSA256>,keyVersion=<n>,signature=<base64> over \
             `<METHOD> <path with query>\\n<Client-Id>.<Request-Time>.<body>`, sent with \
             the Client-Id and Request-Time headers; answers are signed the same way \
             with Response-Time"
                .to_string(),
        );
        components.add_security_scheme(
            "signature",
            SecurityScheme::ApiKey(ApiKey::Header(signature)),
        );
    }
}

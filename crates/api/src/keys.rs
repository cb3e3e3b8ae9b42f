//! Keys: the gateway's published keys (`GET /v1/keys`), a participant's
//! own keys (`/v1/me/keys…`, signed) and the operator's view of them
//! (`/v1/admin/participants/{id}/keys…`, bearer).
//!
//! The first key of a participant is registered by the operator (there is
//! nothing yet to sign with); later ones the participant registers itself,
//! signed with a key it holds, and the one before stays valid for
//! `signing.key_overlap_s`. A revoked key is refused at once.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use participant::CallKind;
use serde::{Deserialize, Serialize};
use sign::PublicKey;
use store::{KeyRecord, StoreError};

use crate::auth::OperatorOnly;
use crate::idempotent::once;
use crate::json::Json;
use crate::problem::ApiError;
use crate::signed::{GATEWAY_CLIENT_ID, SignedCaller};
use crate::{AppState, now_ms, rfc3339};

/// One of the gateway's public keys.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GatewayKeyOut {
    /// Always `unigate`.
    pub client_id: &'static str,
    /// The `keyVersion` of the gateway's signatures made with it.
    pub key_version: i64,
    /// `ED25519`.
    pub algorithm: &'static str,
    /// PEM SubjectPublicKeyInfo.
    pub public_key_pem: String,
    /// `current` (signs now), `previous` (signed until the last rotation)
    /// or `next` (published ahead of the time it starts to sign).
    pub status: &'static str,
    pub created_at: String,
}

/// The gateway's public keys.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GatewayKeys {
    pub keys: Vec<GatewayKeyOut>,
}

fn gateway_keys_out(state: &AppState) -> GatewayKeys {
    GatewayKeys {
        keys: state
            .keys
            .published()
            .into_iter()
            .map(|k| GatewayKeyOut {
                client_id: GATEWAY_CLIENT_ID,
                key_version: k.version,
                algorithm: k.algorithm,
                public_key_pem: k.public_pem,
                status: k.status,
                created_at: rfc3339(k.created_at_ms),
            })
            .collect(),
    }
}

/// The gateway's next, current and previous public keys, to verify its answers
/// and callbacks with (public).
#[utoipa::path(get, path = "/v1/keys", responses((status = 200, body = GatewayKeys)))]
pub async fn gateway(State(state): State<AppState>) -> axum::Json<GatewayKeys> {
    axum::Json(gateway_keys_out(&state))
}

/// Make a new gateway key: published at once as `next`, signing from
/// `signing.gateway_key_activation_s` later (every node publishes it before
/// any signs with it); the current one then becomes the previous (operator
/// only).
#[utoipa::path(
    post,
    path = "/v1/admin/gateway-keys/rotate",
    security(("bearer" = [])),
    responses((status = 200, body = GatewayKeys))
)]
pub async fn gateway_rotate(
    State(state): State<AppState>,
    OperatorOnly(who): OperatorOnly,
) -> Result<axum::Json<GatewayKeys>, ApiError> {
    let version = state
        .keys
        .rotate(
            now_ms(),
            state.signing.gateway_key_activation_s.saturating_mul(1000),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    tracing::info!(version, operator = %who.token_id, "gateway key rotated");
    Ok(axum::Json(gateway_keys_out(&state)))
}

/// A participant's key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyOut {
    pub result: crate::result::Outcome,
    pub participant_id: String,
    /// The `keyVersion` to sign with.
    pub key_version: i64,
    /// `ED25519` or `RSA256`.
    pub algorithm: String,
    pub public_key_pem: String,
    /// `active`, `expiring` (replaced; valid until `valid_until`),
    /// `expired` or `revoked`.
    pub status: &'static str,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl KeyOut {
    fn from(k: KeyRecord, now: i64) -> KeyOut {
        let status = match (k.revoked_at_ms, k.valid_until_ms) {
            (Some(_), _) => "revoked",
            (None, Some(until)) if until <= now => "expired",
            (None, Some(_)) => "expiring",
            (None, None) => "active",
        };
        KeyOut {
            result: crate::result::Outcome::success(),
            participant_id: k.participant_id,
            key_version: k.version,
            algorithm: k.algorithm,
            public_key_pem: k.public_pem,
            status,
            created_at: rfc3339(k.created_at_ms),
            valid_until: k.valid_until_ms.map(rfc3339),
            revoked_at: k.revoked_at_ms.map(rfc3339),
        }
    }
}

/// A key to register.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyIn {
    /// The caller's request id (participant calls; idempotent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// PEM SubjectPublicKeyInfo: Ed25519, or RSA of 2048 bits or more.
    #[serde(deserialize_with = "crate::json::bounded::<8192, _>")]
    pub public_key_pem: String,
}

/// A key to revoke.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeIn {
    /// The caller's request id (participant calls; idempotent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, deserialize_with = "crate::json::bounded::<500, _>")]
    pub reason: String,
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(m) => ApiError::new("NOT_FOUND", format!("{m} does not exist")),
        other => ApiError::internal(&other),
    }
}

async fn register(state: &AppState, participant_id: &str, pem: &str) -> Result<KeyOut, ApiError> {
    let key = PublicKey::from_pem(pem)
        .map_err(|e| ApiError::new("FIELD_INVALID", e.to_string()).field("public_key_pem"))?;
    let normalised = key.to_pem().map_err(|e| ApiError::internal(&e))?;
    let now = now_ms();
    let record = state
        .store
        .key_register(
            participant_id,
            key.algorithm.as_str(),
            &normalised,
            state.signing.key_overlap_s.saturating_mul(1000),
            now,
        )
        .await
        .map_err(store_error)?;
    tracing::info!(participant = participant_id, version = record.version, algorithm = %record.algorithm, "key registered");
    Ok(KeyOut::from(record, now))
}

async fn list(state: &AppState, participant_id: &str) -> Result<Vec<KeyOut>, ApiError> {
    let now = now_ms();
    Ok(state
        .store
        .key_list(participant_id)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|k| KeyOut::from(k, now))
        .collect())
}

async fn revoke(
    state: &AppState,
    participant_id: &str,
    version: i64,
    actor: &str,
) -> Result<KeyOut, ApiError> {
    let now = now_ms();
    let record = state
        .store
        .key_revoke(participant_id, version, actor, now)
        .await
        .map_err(store_error)?;
    tracing::info!(participant = participant_id, version, actor, "key revoked");
    Ok(KeyOut::from(record, now))
}

fn to_value<T: Serialize>(v: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal(&e))
}

/// A participant's keys.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyList {
    pub result: crate::result::Outcome,
    pub keys: Vec<KeyOut>,
}

/// The caller's own keys (signed).
#[utoipa::path(
    get,
    path = "/v1/me/keys",
    security(("signature" = [])),
    responses((status = 200, body = KeyList), (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn my_list(
    State(state): State<AppState>,
    caller: SignedCaller,
) -> Result<axum::Json<KeyList>, ApiError> {
    caller.allow(&state, CallKind::Read, None)?;
    Ok(axum::Json(KeyList {
        result: crate::result::Outcome::success(),
        keys: list(&state, caller.id()).await?,
    }))
}

/// Register a new key version (signed with a key the caller holds; the
/// one before stays valid for the overlap window). Needs `request_id`.
#[utoipa::path(
    post,
    path = "/v1/me/keys",
    security(("signature" = [])),
    request_body = KeyIn,
    responses((status = 201, body = KeyOut), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn my_register(
    State(state): State<AppState>,
    caller: SignedCaller,
    Json(body): Json<KeyIn>,
) -> Response {
    if let Err(e) = caller.allow(&state, CallKind::Setup, None) {
        return axum::response::IntoResponse::into_response(e);
    }
    let request = serde_json::to_value(&body).unwrap_or_default();
    let request_id = body.request_id.clone().unwrap_or_default();
    once(
        &state,
        caller.id(),
        "key.register",
        &request_id,
        &request,
        || async {
            let out = register(&state, caller.id(), &body.public_key_pem).await?;
            Ok((StatusCode::CREATED, to_value(&out)?))
        },
    )
    .await
}

/// Revoke one of the caller's keys at once (not the last usable one: ask
/// the operator for that). Needs `request_id`.
#[utoipa::path(
    post,
    path = "/v1/me/keys/{version}/revoke",
    security(("signature" = [])),
    params(("version" = i64, Path)),
    request_body = RevokeIn,
    responses((status = 200, body = KeyOut), (status = 409, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn my_revoke(
    State(state): State<AppState>,
    caller: SignedCaller,
    Path(version): Path<i64>,
    Json(body): Json<RevokeIn>,
) -> Response {
    if let Err(e) = caller.allow(&state, CallKind::Setup, None) {
        return axum::response::IntoResponse::into_response(e);
    }
    let request =
        serde_json::json!({"version": version, "body": to_value(&body).unwrap_or_default()});
    let request_id = body.request_id.clone().unwrap_or_default();
    once(
        &state,
        caller.id(),
        "key.revoke",
        &request_id,
        &request,
        || async {
            let now = now_ms();
            let keys = state
                .store
                .key_list(caller.id())
                .await
                .map_err(store_error)?;
            let target = keys.iter().find(|k| k.version == version).ok_or_else(|| {
                ApiError::new("NOT_FOUND", format!("key version {version} does not exist"))
            })?;
            let others_usable = keys
                .iter()
                .any(|k| k.version != version && k.usable_at(now));
            if target.usable_at(now) && !others_usable {
                return Err(ApiError::new(
                    "KEY_LAST_USABLE",
                    format!("key version {version} is the only usable key; register another first"),
                ));
            }
            let out = revoke(&state, caller.id(), version, caller.id()).await?;
            Ok((StatusCode::OK, to_value(&out)?))
        },
    )
    .await
}

/// A participant's keys (operator).
#[utoipa::path(
    get,
    path = "/v1/admin/participants/{id}/keys",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = [KeyOut]))
)]
pub async fn admin_list(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<KeyOut>>, ApiError> {
    if state
        .store
        .participant_get(&id)
        .await
        .map_err(store_error)?
        .is_none()
    {
        return Err(ApiError::new(
            "NOT_FOUND",
            format!("participant {id} does not exist"),
        ));
    }
    Ok(axum::Json(list(&state, &id).await?))
}

/// Register a key for a participant (operator: the first key, or a
/// replacement after a compromise).
#[utoipa::path(
    post,
    path = "/v1/admin/participants/{id}/keys",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body = KeyIn,
    responses((status = 201, body = KeyOut), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn admin_register(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Path(id): Path<String>,
    Json(body): Json<KeyIn>,
) -> Result<(StatusCode, axum::Json<KeyOut>), ApiError> {
    let out = register(&state, &id, &body.public_key_pem).await?;
    Ok((StatusCode::CREATED, axum::Json(out)))
}

/// Revoke a participant's key at once (operator).
#[utoipa::path(
    post,
    path = "/v1/admin/participants/{id}/keys/{version}/revoke",
    security(("bearer" = [])),
    params(("id" = String, Path), ("version" = i64, Path)),
    request_body = RevokeIn,
    responses((status = 200, body = KeyOut), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn admin_revoke(
    State(state): State<AppState>,
    OperatorOnly(who): OperatorOnly,
    Path((id, version)): Path<(String, i64)>,
    Json(_body): Json<RevokeIn>,
) -> Result<axum::Json<KeyOut>, ApiError> {
    Ok(axum::Json(
        revoke(&state, &id, version, &who.token_id).await?,
    ))
}

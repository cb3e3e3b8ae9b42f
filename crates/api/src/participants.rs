//! The operator's participant registry: `/v1/admin/participants…`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use participant::{Record, RecordLimits, Role, Stage};
use serde::{Deserialize, Serialize};
use store::StoreError;

use crate::auth::OperatorOnly;
use crate::json::Json;
use crate::problem::ApiError;
use crate::{AppState, now_ms};

/// A participant as the operator registers it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParticipantIn {
    /// Lowercase id: a-z, 0-9, '-', '_'.
    pub id: String,
    pub legal_name: String,
    /// Any of `wallet`, `acquirer`, `fx_provider`.
    pub roles: Vec<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// ISO 4217 codes it pays or collects in.
    pub currencies: Vec<String>,
    pub settlement_currency: String,
    pub settlement_account: String,
    /// https, public host (unless the configuration allows private ones).
    pub callback_base_url: String,
    #[serde(default)]
    pub contacts: Vec<String>,
}

/// A registered participant.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ParticipantOut {
    pub id: String,
    pub legal_name: String,
    pub roles: Vec<&'static str>,
    pub country: String,
    pub currencies: Vec<String>,
    pub settlement_currency: String,
    pub settlement_account: String,
    pub callback_base_url: String,
    pub contacts: Vec<String>,
    /// `applied`, `admitted`, `joint_testing`, `production_verification`,
    /// `signed`, `live`, `suspended` or `terminated`.
    pub stage: &'static str,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl From<store::Participant> for ParticipantOut {
    fn from(p: store::Participant) -> Self {
        ParticipantOut {
            roles: p.record.roles.iter().map(|r| r.as_str()).collect(),
            id: p.record.id,
            legal_name: p.record.legal_name,
            country: p.record.country,
            currencies: p.record.currencies,
            settlement_currency: p.record.settlement_currency,
            settlement_account: p.record.settlement_account,
            callback_base_url: p.record.callback_base_url,
            contacts: p.record.contacts,
            stage: p.stage.as_str(),
            created_at_ms: p.created_at_ms,
            updated_at_ms: p.updated_at_ms,
        }
    }
}

/// A stage move the operator asks for.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageMoveIn {
    pub to: String,
    #[serde(deserialize_with = "crate::json::bounded::<500, _>")]
    pub reason: String,
}

/// A recorded stage move.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StageMoveOut {
    pub seq: i64,
    pub from: Option<&'static str>,
    pub to: &'static str,
    pub actor: String,
    pub reason: String,
    pub at_ms: i64,
}

impl From<store::StageMove> for StageMoveOut {
    fn from(m: store::StageMove) -> Self {
        StageMoveOut {
            seq: m.seq,
            from: m.from.map(Stage::as_str),
            to: m.to.as_str(),
            actor: m.actor,
            reason: m.reason,
            at_ms: m.at_ms,
        }
    }
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(m) => ApiError::new("PARTICIPANT_EXISTS", m).field("id"),
        StoreError::NotFound(m) => ApiError::new("NOT_FOUND", format!("{m} does not exist")),
        StoreError::IllegalMove(m) => ApiError::new("STAGE_MOVE_ILLEGAL", m).field("to"),
        other => ApiError::internal(&other),
    }
}

/// Register a participant (it starts at `applied`).
#[utoipa::path(
    post,
    path = "/v1/admin/participants",
    security(("bearer" = [])),
    request_body = ParticipantIn,
    responses(
        (status = 201, body = ParticipantOut),
        (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn create(
    State(state): State<AppState>,
    OperatorOnly(who): OperatorOnly,
    Json(body): Json<ParticipantIn>,
) -> Result<(StatusCode, axum::Json<ParticipantOut>), ApiError> {
    let roles = parse_roles(&body.roles)?;
    let record = Record {
        id: body.id,
        legal_name: body.legal_name,
        roles,
        country: body.country,
        currencies: body.currencies,
        settlement_currency: body.settlement_currency,
        settlement_account: body.settlement_account,
        callback_base_url: body.callback_base_url,
        contacts: body.contacts,
    };
    validate(&state, &record)?;
    let p = state
        .store
        .participant_create(record, &who.token_id, now_ms())
        .await
        .map_err(store_error)?;
    Ok((StatusCode::CREATED, axum::Json(p.into())))
}

/// Every participant, by id.
#[utoipa::path(get, path = "/v1/admin/participants", security(("bearer" = [])), responses((status = 200, body = [ParticipantOut])))]
pub async fn list(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
) -> Result<axum::Json<Vec<ParticipantOut>>, ApiError> {
    let all = state.store.participant_list().await.map_err(store_error)?;
    Ok(axum::Json(
        all.into_iter().map(ParticipantOut::from).collect(),
    ))
}

/// One participant.
#[utoipa::path(
    get,
    path = "/v1/admin/participants/{id}",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ParticipantOut), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn get(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Path(id): Path<String>,
) -> Result<axum::Json<ParticipantOut>, ApiError> {
    match state
        .store
        .participant_get(&id)
        .await
        .map_err(store_error)?
    {
        Some(p) => Ok(axum::Json(p.into())),
        None => Err(ApiError::new(
            "NOT_FOUND",
            format!("participant {id} does not exist"),
        )),
    }
}

/// Move a participant's onboarding stage (only legal moves; who and why
/// are recorded).
#[utoipa::path(
    post,
    path = "/v1/admin/participants/{id}/stage",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body = StageMoveIn,
    responses(
        (status = 200, body = StageMoveOut),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn move_stage(
    State(state): State<AppState>,
    OperatorOnly(who): OperatorOnly,
    Path(id): Path<String>,
    Json(body): Json<StageMoveIn>,
) -> Result<axum::Json<StageMoveOut>, ApiError> {
    let to = Stage::parse(&body.to).ok_or_else(|| {
        ApiError::new("FIELD_INVALID", format!("{:?} is not a stage", body.to)).field("to")
    })?;
    let m = state
        .store
        .participant_move(&id, to, &who.token_id, &body.reason, now_ms())
        .await
        .map_err(store_error)?;
    Ok(axum::Json(m.into()))
}

/// Every stage move of a participant, oldest first.
#[utoipa::path(
    get,
    path = "/v1/admin/participants/{id}/history",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = [StageMoveOut]))
)]
pub async fn history(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<StageMoveOut>>, ApiError> {
    let moves = state
        .store
        .participant_history(&id)
        .await
        .map_err(store_error)?;
    if moves.is_empty() {
        return Err(ApiError::new(
            "NOT_FOUND",
            format!("participant {id} does not exist"),
        ));
    }
    Ok(axum::Json(
        moves.into_iter().map(StageMoveOut::from).collect(),
    ))
}

/// Changes to a participant's record: any field but its id (operator).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParticipantPatch {
    pub legal_name: Option<String>,
    pub roles: Option<Vec<String>>,
    pub country: Option<String>,
    pub currencies: Option<Vec<String>>,
    pub settlement_currency: Option<String>,
    pub settlement_account: Option<String>,
    pub callback_base_url: Option<String>,
    pub contacts: Option<Vec<String>>,
}

fn parse_roles(given: &[String]) -> Result<Vec<Role>, ApiError> {
    let mut roles = Vec::new();
    for r in given {
        let role = Role::parse(r).ok_or_else(|| {
            ApiError::new(
                "FIELD_INVALID",
                format!("{r:?} is not wallet, acquirer or fx_provider"),
            )
            .field("roles")
        })?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    Ok(roles)
}

fn validate(state: &AppState, record: &Record) -> Result<(), ApiError> {
    let limits = RecordLimits {
        allow_private_callbacks: state.allow_private_callbacks,
        ..RecordLimits::default()
    };
    record
        .validate(&limits)
        .map_err(|e| ApiError::new("FIELD_INVALID", e.message).field(e.field))
}

/// Change a participant's record; the fields given replace the stored
/// ones, the whole record is validated again (operator).
#[utoipa::path(
    patch,
    path = "/v1/admin/participants/{id}",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body = ParticipantPatch,
    responses(
        (status = 200, body = ParticipantOut),
        (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn update(
    State(state): State<AppState>,
    OperatorOnly(who): OperatorOnly,
    Path(id): Path<String>,
    Json(patch): Json<ParticipantPatch>,
) -> Result<axum::Json<ParticipantOut>, ApiError> {
    let current = state
        .store
        .participant_get(&id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::new("NOT_FOUND", format!("participant {id} does not exist")))?;
    let mut r = current.record;
    if let Some(roles) = patch.roles {
        r.roles = parse_roles(&roles)?;
    }
    let replace = |slot: &mut String, v: Option<String>| {
        if let Some(v) = v {
            *slot = v;
        }
    };
    replace(&mut r.legal_name, patch.legal_name);
    replace(&mut r.country, patch.country);
    replace(&mut r.settlement_currency, patch.settlement_currency);
    replace(&mut r.settlement_account, patch.settlement_account);
    replace(&mut r.callback_base_url, patch.callback_base_url);
    if let Some(c) = patch.currencies {
        r.currencies = c;
    }
    if let Some(c) = patch.contacts {
        r.contacts = c;
    }
    validate(&state, &r)?;
    let p = state
        .store
        .participant_update(r, now_ms())
        .await
        .map_err(store_error)?;
    tracing::info!(participant = %id, operator = %who.token_id, "participant updated");
    Ok(axum::Json(p.into()))
}

/// The caller's own record, with the `result` every participant answer
/// carries.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub result: crate::result::Outcome,
    #[serde(flatten)]
    pub participant: ParticipantOut,
}

/// The caller's own participant record (signed; any stage but suspended
/// and terminated).
#[utoipa::path(
    get,
    path = "/v1/me",
    security(("signature" = [])),
    responses((status = 200, body = Me), (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn me(
    State(state): State<AppState>,
    caller: crate::signed::SignedCaller,
) -> Result<axum::Json<Me>, ApiError> {
    caller.allow(&state, participant::CallKind::Read, None)?;
    Ok(axum::Json(Me {
        result: crate::result::Outcome::success(),
        participant: caller.participant.into(),
    }))
}

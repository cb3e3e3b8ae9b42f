//! The operator's route table (SPEC §2.4, `docs/routing.md`):
//! `/v1/admin/routes…` to add, list, read and delete routes, and
//! `/v1/admin/routes/resolve` to ask which participant a code goes to.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use routing::{RegistryHit, Resolution, ResolveError, Route, RouteSpec, Side, Subject, Table};
use serde::{Deserialize, Serialize};
use store::{RouteRecord, StoreError};

use crate::auth::OperatorOnly;
use crate::json::Json;
use crate::problem::ApiError;
use crate::result::Outcome;
use crate::{AppState, now_ms, rfc3339};

/// Routing settings (`[routing]` in the configuration).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// The home country (ISO 3166 alpha-2) that payment directions are
    /// seen from (SPEC §1).
    pub home_country: String,
    /// Most routes the table holds.
    pub routes_max: i64,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            home_country: routing::HOME_COUNTRY_DEFAULT.into(),
            routes_max: 10_000,
        }
    }
}

impl RoutingConfig {
    /// The settings are usable: a home country of ISO 3166 (alpha-2, upper
    /// case) and a positive table limit.
    pub fn check(&self) -> Result<(), String> {
        let c = &self.home_country;
        if c.len() != 2
            || !c.bytes().all(|b| b.is_ascii_uppercase())
            || rust_iso3166::from_alpha2(c).is_none()
        {
            return Err(format!(
                "home_country {c:?} is not an ISO 3166 alpha-2 code in upper case"
            ));
        }
        if self.routes_max <= 0 {
            return Err("routes_max must be positive".into());
        }
        Ok(())
    }
}

/// A route the operator adds.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteIn {
    /// `merchant` (finds the acquirer) or `wallet` (finds the wallet).
    pub side: String,
    /// `account`, `acquirer_id`, `url_host` (merchant side),
    /// `payment_code_prefix` or `token_range` (wallet side).
    pub kind: String,
    /// The matcher, e.g. `A000000727:970436`, `vietqr:970436`,
    /// `*.alipay.com`, `62`, `6200000000-6299999999` (see docs/routing.md).
    #[serde(deserialize_with = "crate::json::bounded::<100, _>")]
    pub value: String,
    /// The participant: an acquirer for the merchant side, a wallet for the
    /// wallet side.
    #[serde(deserialize_with = "crate::json::bounded::<64, _>")]
    pub participant_id: String,
}

/// A stored route.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RouteOut {
    pub id: String,
    pub side: String,
    pub kind: String,
    /// The matcher in canonical form (reverse-domain ids and hosts in lower
    /// case).
    pub value: String,
    pub participant_id: String,
    pub created_by: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}

impl From<RouteRecord> for RouteOut {
    fn from(r: RouteRecord) -> Self {
        RouteOut {
            id: r.id,
            side: r.side,
            kind: r.kind,
            value: r.value,
            participant_id: r.participant_id,
            created_by: r.created_by,
            created_at: rfc3339(r.created_at_ms),
        }
    }
}

/// Every route.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RouteList {
    pub routes: Vec<RouteOut>,
}

/// A code to resolve.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveIn {
    /// The raw QR payload or payment code.
    #[serde(deserialize_with = "crate::json::bounded::<4096, _>")]
    pub code: String,
    /// The payer's country (ISO 3166 alpha-2), for the direction.
    #[serde(default)]
    pub payer_country: Option<String>,
}

/// One match: the winner, or a candidate of an ambiguous resolution.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Match {
    pub participant_id: String,
    /// `registry` (the merchant registry), or the route's kind.
    pub kind: &'static str,
    /// The route's id (none for a registry hit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_id: Option<String>,
    /// The route's matcher value (none for a registry hit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The registered merchant (registry hits only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
}

impl From<Resolution> for Match {
    fn from(r: Resolution) -> Self {
        Match {
            participant_id: r.participant_id,
            kind: r.kind.as_str(),
            route_id: r.route_id,
            value: r.value,
            merchant_id: r.merchant_id,
        }
    }
}

/// Where a code goes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResolveOut {
    /// `S` with the match, or `F` with `ROUTE_NOT_FOUND` /
    /// `ROUTE_AMBIGUOUS`.
    pub result: Outcome,
    /// The code's format (`emvco-mpm`, `cn-payment-code`, …).
    pub format: &'static str,
    /// The governing scheme.
    pub scheme: &'static str,
    /// `merchant` (a merchant's code finds its acquirer) or `wallet` (a
    /// payer's code finds its wallet).
    pub side: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<Match>,
    /// For `ROUTE_AMBIGUOUS`: the matches of equal best specificity.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Match>,
    /// The merchant's country: the registered merchant's, else the code's
    /// (MPM tag 58).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer_country: Option<String>,
    /// `inbound`, `outbound`, `transit` or `domestic` (not cross-border),
    /// from the home country; when both countries are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<&'static str>,
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(m) => ApiError::new("ROUTE_EXISTS", m).field("value"),
        StoreError::Refused(m) => ApiError::new("ROUTE_TABLE_FULL", m),
        StoreError::NotFound(m) => ApiError::new("NOT_FOUND", format!("{m} does not exist")),
        other => ApiError::internal(&other),
    }
}

/// Add a route: validated, and its participant must exist and have the
/// side's role (acquirer for the merchant side, wallet for the wallet side).
#[utoipa::path(
    post,
    path = "/v1/admin/routes",
    security(("bearer" = [])),
    request_body = RouteIn,
    responses(
        (status = 201, body = RouteOut),
        (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn create(
    State(state): State<AppState>,
    OperatorOnly(who): OperatorOnly,
    Json(body): Json<RouteIn>,
) -> Result<(StatusCode, axum::Json<RouteOut>), ApiError> {
    let spec = RouteSpec {
        side: body.side,
        kind: body.kind,
        value: body.value,
        participant_id: body.participant_id,
    };
    let (row, _) = spec
        .validate()
        .map_err(|e| ApiError::new("FIELD_INVALID", e.message).field(e.field))?;
    let participant = state
        .store
        .participant_get(&row.participant_id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| {
            ApiError::new(
                "ROUTE_PARTICIPANT_UNKNOWN",
                format!("participant {} does not exist", row.participant_id),
            )
            .field("participant_id")
        })?;
    let role = row.side.role();
    if !participant.record.roles.contains(&role) {
        return Err(ApiError::new(
            "ROUTE_PARTICIPANT_ROLE",
            format!(
                "participant {} is not an {}: {} routes go to {}s",
                row.participant_id,
                role.as_str(),
                row.side.as_str(),
                role.as_str()
            ),
        )
        .field("participant_id"));
    }
    let record = RouteRecord {
        id: format!("rt-{}", uuid::Uuid::now_v7().simple()),
        side: row.side.as_str().into(),
        kind: row.kind.as_str().into(),
        value: row.value,
        participant_id: row.participant_id,
        created_by: who.token_id,
        created_at_ms: now_ms(),
    };
    let stored = state
        .store
        .route_insert(record, state.routing.routes_max)
        .await
        .map_err(store_error)?;
    tracing::info!(route = %stored.id, side = %stored.side, kind = %stored.kind, value = %stored.value,
        participant = %stored.participant_id, by = %stored.created_by, "route added");
    Ok((StatusCode::CREATED, axum::Json(stored.into())))
}

/// Every route, by side, kind and value.
#[utoipa::path(
    get,
    path = "/v1/admin/routes",
    security(("bearer" = [])),
    responses((status = 200, body = RouteList))
)]
pub async fn list(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
) -> Result<axum::Json<RouteList>, ApiError> {
    let routes = state.store.route_list().await.map_err(store_error)?;
    Ok(axum::Json(RouteList {
        routes: routes.into_iter().map(RouteOut::from).collect(),
    }))
}

/// One route.
#[utoipa::path(
    get,
    path = "/v1/admin/routes/{id}",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = RouteOut),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn get(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Path(id): Path<String>,
) -> Result<axum::Json<RouteOut>, ApiError> {
    match state.store.route_get(&id).await.map_err(store_error)? {
        Some(r) => Ok(axum::Json(r.into())),
        None => Err(ApiError::new(
            "NOT_FOUND",
            format!("route {id} does not exist"),
        )),
    }
}

/// Delete a route; the answer is the route as it was.
#[utoipa::path(
    delete,
    path = "/v1/admin/routes/{id}",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = RouteOut),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    OperatorOnly(who): OperatorOnly,
    Path(id): Path<String>,
) -> Result<axum::Json<RouteOut>, ApiError> {
    let r = state.store.route_delete(&id).await.map_err(store_error)?;
    tracing::info!(route = %r.id, side = %r.side, kind = %r.kind, value = %r.value,
        participant = %r.participant_id, by = %who.token_id, "route deleted");
    Ok(axum::Json(r.into()))
}

/// Which participant a code goes to: a merchant's code (MPM, merchant URL,
/// UPI link) finds its acquirer, a payer's code (CN payment code, CPM) its
/// wallet. A registered merchant's acquirer beats every route.
#[utoipa::path(
    post,
    path = "/v1/admin/routes/resolve",
    security(("bearer" = [])),
    request_body = ResolveIn,
    responses(
        (status = 200, body = ResolveOut),
        (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn resolve(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Json(body): Json<ResolveIn>,
) -> Result<axum::Json<ResolveOut>, ApiError> {
    let payer_country = match body.payer_country {
        Some(c) => {
            let c = c.to_ascii_uppercase();
            if rust_iso3166::from_alpha2(&c).is_none() {
                return Err(ApiError::new(
                    "FIELD_INVALID",
                    format!("{c:?} is not an ISO 3166 alpha-2 country"),
                )
                .field("payer_country"));
            }
            Some(c)
        }
        None => None,
    };
    let subject = routing::subject_of(&body.code).map_err(|e| {
        ApiError::new(
            "CODE_INVALID",
            format!("the code does not decode: {}: {}", e.code, e.message),
        )
        .field("code")
    })?;
    let side = subject.side();
    let Routed {
        outcome,
        merchant_country,
    } = route_subject(&state, &subject).await?;
    let direction = match (&payer_country, &merchant_country) {
        (Some(p), Some(m)) => Some(routing::direction(&state.routing.home_country, p, m).as_str()),
        _ => None,
    };
    let mut out = ResolveOut {
        result: Outcome::success(),
        format: subject.format,
        scheme: subject.scheme,
        side: side.as_str(),
        matched: None,
        candidates: Vec::new(),
        merchant_country,
        payer_country,
        direction,
    };
    match outcome {
        Ok(r) => out.matched = Some(r.into()),
        Err(e) => {
            let code = match &e {
                ResolveError::NotFound { .. } => "ROUTE_NOT_FOUND",
                ResolveError::Ambiguous { .. } => "ROUTE_AMBIGUOUS",
            };
            out.result = Outcome::new(code, e.to_string());
            if let ResolveError::Ambiguous { candidates, .. } = e {
                out.candidates = candidates.into_iter().map(Match::from).collect();
            }
        }
    }
    Ok(axum::Json(out))
}

/// A code's routing: the match (or why none), and the merchant's country
/// (the registered merchant's when the registry decided, else the code's).
#[derive(Debug)]
pub struct Routed {
    pub outcome: Result<Resolution, ResolveError>,
    pub merchant_country: Option<String>,
}

/// Route a decoded code: its side's routes from the store, its identifiers
/// looked up in the merchant registry, the most specific match. The
/// payment flows call this too.
pub async fn route_subject(state: &AppState, subject: &Subject) -> Result<Routed, ApiError> {
    let (registry, registered_country) = registry_hits(state, subject).await?;
    let stored = state
        .store
        .route_load(subject.side().as_str())
        .await
        .map_err(store_error)?;
    let table = Table::new(stored.into_iter().filter_map(route_of).collect())
        .map_err(|(id, e)| ApiError::internal(&format!("stored route {id} does not parse: {e}")))?;
    let outcome = table.resolve(subject, &registry);
    let merchant_country = match &outcome {
        Ok(r) if r.merchant_id.is_some() => registered_country,
        _ => None,
    }
    .or_else(|| subject.merchant_country.clone());
    Ok(Routed {
        outcome,
        merchant_country,
    })
}

/// The registered merchants the code's identifiers name (merchant side
/// only), and the first one's country.
async fn registry_hits(
    state: &AppState,
    subject: &Subject,
) -> Result<(Vec<RegistryHit>, Option<String>), ApiError> {
    let mut hits: Vec<RegistryHit> = Vec::new();
    let mut country = None;
    if subject.side() != Side::Merchant {
        return Ok((hits, country));
    }
    for id in &subject.identifiers {
        let found = state
            .store
            .merchant_find(id.kind, &id.value)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        if let Some(m) = found
            && !hits.iter().any(|h| h.merchant_id == m.id)
        {
            country.get_or_insert_with(|| m.merchant.country.clone());
            hits.push(RegistryHit {
                merchant_id: m.id,
                acquirer_id: m.acquirer_id,
            });
        }
    }
    Ok((hits, country))
}

/// A stored row as the routing crate's route; a row whose side or kind is
/// unknown (never written by this API) is skipped.
fn route_of(r: RouteRecord) -> Option<Route> {
    let side = Side::parse(&r.side)?;
    let kind = routing::Kind::parse(&r.kind)?;
    if kind.side() != side {
        tracing::warn!(route = %r.id, "stored route's kind does not belong to its side; skipped");
        return None;
    }
    Some(Route {
        id: r.id,
        side,
        kind,
        value: r.value,
        participant_id: r.participant_id,
    })
}

//! The HTTP API: the only crate that knows HTTP.
//!
//! [`router`] builds the axum router over an [`AppState`]: health and
//! readiness, the OpenAPI document, and the operator (`/v1/admin/…`) and
//! regulator (`/v1/reports/…`) surfaces behind bearer tokens, and the
//! participant surface behind signatures both ways ([`signed`]). Every fault is
//! RFC 9457 problem+json ([`problem`]); every limit is configuration
//! ([`HttpLimits`]).

pub mod auth;
pub mod cancels;
pub mod clearing;
/// Named fault points (the store's, shared by every crate).
pub use store::faults;
pub mod fingerprint;
pub mod fx;
pub mod idempotent;
pub mod json;
pub mod keys;
pub mod ledger;
pub mod merchants;
pub mod participants;
pub mod payments;
pub mod problem;
pub mod recovery;
pub mod refunds;
pub mod reports;
pub mod result;
pub mod risk_rules;
pub mod routes;
pub mod signed;

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Serialize;
use store::Store;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use crate::auth::{AnyRole, BearerScheme, OperatorOnly};
use crate::problem::{ApiError, Problem};

/// Limits on every request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimits {
    /// Largest request body accepted, in bytes.
    pub body_bytes_max: usize,
    /// Longest a request may take before it is answered `TIMEOUT`.
    pub request_timeout_ms: u64,
    /// Largest total of header names and values, in bytes.
    pub header_bytes_max: usize,
    /// Largest bulk file (merchants' CSV), in bytes.
    pub bulk_body_bytes_max: usize,
    /// Most rows in one bulk file.
    pub bulk_rows_max: u64,
    /// Most participant requests (the signed API) worked on at once.
    /// Beyond it a request is shed before any work — 503 `OVERLOADED`
    /// with `Retry-After` — so what was accepted is answered in time.
    pub in_flight_max: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            body_bytes_max: 64 * 1024,
            request_timeout_ms: 10_000,
            header_bytes_max: 16 * 1024,
            bulk_body_bytes_max: 4 * 1024 * 1024,
            bulk_rows_max: 10_000,
            in_flight_max: 1_024,
        }
    }
}

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    pub limits: HttpLimits,
    /// This gateway node's id (leases name their holder by it).
    pub node_id: String,
    /// Whether participants' callback URLs may be http and private
    /// (simulators and tests; never in production).
    pub allow_private_callbacks: bool,
    /// The gateway's own signing keys.
    pub keys: std::sync::Arc<keyring::GatewayKeys>,
    pub signing: signed::SigningConfig,
    /// What each onboarding stage allows.
    pub policy: participant::StagePolicy,
    /// How long idempotency records are kept (SPEC §4.3: 35 days).
    pub idempotency_retention_ms: i64,
    pub fx: fx::FxConfig,
    /// The fee schedule, checked when it was loaded.
    pub fees: std::sync::Arc<::ledger::fees::Schedule>,
    /// The home country of directions and the route table's limit.
    pub routing: routes::RoutingConfig,
    pub payments: payments::PaymentsConfig,
    /// The participants' callbacks, in each one's dialect.
    pub connectors: std::sync::Arc<connector::Connectors>,
    /// The risk step of every payment (approve-all until rules exist).
    pub risk: std::sync::Arc<dyn payments::RiskCheck>,
    /// The risk rules and sanctions list in force (docs/risk.md).
    pub risk_rules: std::sync::Arc<risk_rules::Engine>,
}

/// Default idempotency retention: 35 days.
pub const IDEMPOTENCY_RETENTION_MS_DEFAULT: i64 = 35 * 86_400_000;

/// The OpenAPI 3.1 document of the API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Unigate",
        description = "Cross-border QR payment unified gateway: participant, operator and regulator API.",
        license(name = "Apache-2.0")
    ),
    paths(
        healthz,
        readyz,
        admin_whoami,
        admin_leases,
        participants::create,
        participants::list,
        participants::get,
        participants::update,
        participants::move_stage,
        participants::history,
        keys::admin_list,
        keys::admin_register,
        keys::admin_revoke,
        keys::gateway_rotate,
        reports_whoami,
        keys::gateway,
        participants::me,
        keys::my_list,
        keys::my_register,
        keys::my_revoke,
        merchants::register,
        merchants::list,
        merchants::lookup,
        merchants::get,
        merchants::bulk,
        fx::push,
        payments::consult,
        payments::create,
        payments::get,
        payments::by_request,
        cancels::cancel,
        refunds::create,
        refunds::get,
        fx::quote,
        fx::indicative,
        fx::house_put,
        fx::rates_list,
        fx::settings_get,
        fx::settings_put,
        fx::markups_get,
        fx::markups_put,
        fx::quotes_list,
        ledger::accounts,
        ledger::account,
        ledger::trial_balance,
        ledger::transfers,
        ledger::set_limit,
        ledger::top_up,
        ledger::withdraw,
        ledger::fees,
        routes::create,
        routes::list,
        routes::get,
        routes::delete,
        routes::resolve,
        recovery::exceptions,
        recovery::resolve,
        recovery::notifications,
        recovery::replay,
        recovery::sweep_now,
        risk_rules::put_rules,
        risk_rules::get_rules,
        risk_rules::put_sanctions,
        risk_rules::evaluate,
        risk_rules::alerts,
        risk_rules::ack,
        risk_rules::trace,
        clearing::list,
        clearing::get,
        clearing::close_now,
        clearing::settle_now,
        clearing::instructions_export,
        clearing::reconciliation_admin,
        clearing::reconciliation_mine,
        reports::admin_stats,
        reports::regulator_stats,
        reports::daily_list,
        reports::daily_json,
        reports::daily_csv_download,
        reports::daily_make
    ),
    components(schemas(
        Problem,
        recovery::ExceptionOut,
        recovery::ExceptionList,
        recovery::ResolveIn,
        recovery::NotificationOut,
        recovery::NotificationList,
        recovery::SweepReport,
        risk_rules::RiskSetOut,
        risk_rules::RiskInForce,
        risk_rules::EvaluateIn,
        risk_rules::AlertOut,
        risk_rules::AlertList,
        risk_rules::TraceOut,
        clearing::CycleOut,
        clearing::CycleList,
        clearing::CycleDetail,
        clearing::PositionOut,
        clearing::InstructionOut,
        clearing::CloseIn,
        clearing::CloseOut,
        Health,
        WhoAmI,
        Leases,
        LeaseView,
        participants::ParticipantIn,
        participants::ParticipantOut,
        participants::StageMoveIn,
        participants::StageMoveOut,
        participants::ParticipantPatch,
        keys::GatewayKeys,
        keys::GatewayKeyOut,
        keys::KeyIn,
        keys::KeyOut,
        keys::KeyList,
        participants::Me,
        keys::RevokeIn,
        merchants::MerchantIn,
        merchants::MerchantOut,
        merchants::IdentifierIo,
        merchants::MerchantPage,
        merchants::BulkReport,
        merchants::RowError,
        result::Outcome,
        fx::RateIo,
        fx::RatesIn,
        fx::HouseRatesIn,
        fx::RatesOut,
        fx::RatesList,
        fx::FxSettings,
        fx::Markups,
        fx::Payer,
        fx::QuoteIn,
        fx::QuoteOut,
        fx::Indicative,
        fx::QuoteView,
        ledger::AccountOut,
        ledger::Accounts,
        ledger::CurrencyTotals,
        ledger::TrialBalance,
        ledger::TransferOut,
        ledger::Transfers,
        ledger::LimitIn,
        ledger::FundingIn,
        ledger::FeeSchedule,
        routes::RouteIn,
        routes::RouteOut,
        routes::RouteList,
        routes::ResolveIn,
        routes::ResolveOut,
        routes::Match
    )),
    modifiers(&BearerScheme, &ResponseDescriptions)
)]
#[derive(Debug)]
pub struct ApiDoc;

/// OpenAPI 3.1 requires a description on every response (the status's
/// reason phrase where the route gives none) and unique operation ids.
#[derive(Debug)]
struct ResponseDescriptions;

impl utoipa::Modify for ResponseDescriptions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                // Operation ids are unique across the document: handlers of
                // different modules share names (`list`, `get`), so the
                // module's tag goes in front.
                if let (Some(id), Some(tag)) =
                    (&op.operation_id, op.tags.as_ref().and_then(|t| t.first()))
                    && !id.starts_with(tag.as_str())
                {
                    op.operation_id = Some(format!("{tag}_{id}"));
                }
                for (status, response) in op.responses.responses.iter_mut() {
                    if let utoipa::openapi::RefOr::T(r) = response
                        && r.description.is_empty()
                    {
                        r.description = status
                            .parse::<u16>()
                            .ok()
                            .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                            .and_then(|s| s.canonical_reason())
                            .unwrap_or("Answer")
                            .to_string();
                    }
                }
            }
        }
    }
}

/// The document as served at `/openapi.json` (and committed as
/// `docs/openapi.json`).
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_string())
}

/// The router with every route, limit and layer.
pub fn router(state: AppState) -> Router {
    let limits = state.limits;
    // The participant surface: signatures checked on the way in, added on
    // the way out.
    let signed = Router::new()
        .route("/v1/me", get(participants::me))
        .route("/v1/me/keys", get(keys::my_list).post(keys::my_register))
        .route("/v1/me/keys/{version}/revoke", post(keys::my_revoke))
        .route(
            "/v1/merchants",
            get(merchants::list).post(merchants::register),
        )
        .route("/v1/merchants/lookup", get(merchants::lookup))
        .route("/v1/merchants/{id}", get(merchants::get))
        .route("/v1/fx/rates", post(fx::push))
        .route("/v1/fx/indicative", get(fx::indicative))
        .route("/v1/quotes", post(fx::quote))
        .route("/v1/mpm/consult", post(payments::consult))
        .route(
            "/v1/payments",
            get(payments::by_request).post(payments::create),
        )
        .route("/v1/payments/{id}", get(payments::get))
        .route("/v1/payments/{id}/cancel", post(cancels::cancel))
        .route("/v1/refunds", post(refunds::create))
        .route("/v1/refunds/{id}", get(refunds::get))
        .route(
            "/v1/reconciliation/{date}",
            get(clearing::reconciliation_mine),
        )
        .route_layer(middleware::from_fn_with_state(
            (state.clone(), limits.body_bytes_max),
            signed::verify_requests,
        ));
    let signed_bulk = Router::new()
        .route("/v1/merchants/bulk", post(merchants::bulk))
        .route_layer(middleware::from_fn_with_state(
            (state.clone(), limits.bulk_body_bytes_max),
            signed::verify_requests,
        ));
    // One gate for both, outside the signature checks: a shed request
    // costs nothing.
    let gate = InFlight::new(limits.in_flight_max);
    let signed = signed.route_layer(middleware::from_fn_with_state(gate.clone(), shed));
    let signed_bulk = signed_bulk.route_layer(middleware::from_fn_with_state(gate, shed));
    Router::new()
        .merge(signed)
        .merge(signed_bulk)
        .route("/v1/keys", get(keys::gateway))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi))
        .route("/v1/admin/whoami", get(admin_whoami))
        .route("/v1/admin/leases", get(admin_leases))
        .route("/v1/admin/exceptions", get(recovery::exceptions))
        .route("/v1/admin/payments/{id}/resolve", post(recovery::resolve))
        .route("/v1/admin/notifications", get(recovery::notifications))
        .route(
            "/v1/admin/notifications/{id}/replay",
            post(recovery::replay),
        )
        .route("/v1/admin/recovery/sweep", post(recovery::sweep_now))
        // Rule files and sanctions lists are bulk uploads.
        .route(
            "/v1/admin/risk/rules",
            get(risk_rules::get_rules)
                .put(risk_rules::put_rules)
                .layer(DefaultBodyLimit::max(limits.bulk_body_bytes_max)),
        )
        .route(
            "/v1/admin/risk/sanctions",
            put(risk_rules::put_sanctions)
                .layer(DefaultBodyLimit::max(limits.bulk_body_bytes_max)),
        )
        .route("/v1/admin/risk/evaluate", post(risk_rules::evaluate))
        .route("/v1/admin/payments/{id}/risk", get(risk_rules::trace))
        .route("/v1/admin/risk/alerts", get(risk_rules::alerts))
        .route("/v1/admin/risk/alerts/{id}/ack", post(risk_rules::ack))
        .route("/v1/admin/cycles", get(clearing::list))
        .route("/v1/admin/stats", get(reports::admin_stats))
        .route("/v1/admin/reports/daily/{date}", post(reports::daily_make))
        .route("/v1/admin/cycles/{date}", get(clearing::get))
        .route("/v1/admin/cycles/{date}/close", post(clearing::close_now))
        .route("/v1/admin/cycles/{date}/settle", post(clearing::settle_now))
        .route(
            "/v1/admin/cycles/{date}/instructions",
            get(clearing::instructions_export),
        )
        .route(
            "/v1/admin/cycles/{date}/reconciliation/{participant}",
            get(clearing::reconciliation_admin),
        )
        .route(
            "/v1/admin/participants",
            get(participants::list).post(participants::create),
        )
        .route(
            "/v1/admin/participants/{id}",
            get(participants::get).patch(participants::update),
        )
        .route(
            "/v1/admin/participants/{id}/keys",
            get(keys::admin_list).post(keys::admin_register),
        )
        .route(
            "/v1/admin/participants/{id}/keys/{version}/revoke",
            post(keys::admin_revoke),
        )
        .route("/v1/admin/gateway-keys/rotate", post(keys::gateway_rotate))
        .route(
            "/v1/admin/fx/rates",
            get(fx::rates_list).put(fx::house_put),
        )
        .route(
            "/v1/admin/fx/settings",
            get(fx::settings_get).put(fx::settings_put),
        )
        .route(
            "/v1/admin/fx/markups",
            get(fx::markups_get).put(fx::markups_put),
        )
        .route("/v1/admin/fx/quotes", get(fx::quotes_list))
        .route("/v1/admin/ledger/accounts", get(ledger::accounts))
        .route("/v1/admin/ledger/accounts/{id}", get(ledger::account))
        .route("/v1/admin/ledger/trial-balance", get(ledger::trial_balance))
        .route("/v1/admin/ledger/transfers", get(ledger::transfers))
        .route("/v1/admin/ledger/limits", put(ledger::set_limit))
        .route("/v1/admin/ledger/top-ups", post(ledger::top_up))
        .route("/v1/admin/ledger/withdrawals", post(ledger::withdraw))
        .route("/v1/admin/ledger/fees", get(ledger::fees))
        .route("/v1/admin/routes", get(routes::list).post(routes::create))
        .route("/v1/admin/routes/resolve", post(routes::resolve))
        .route(
            "/v1/admin/routes/{id}",
            get(routes::get).delete(routes::delete),
        )
        .route(
            "/v1/admin/participants/{id}/stage",
            post(participants::move_stage),
        )
        .route(
            "/v1/admin/participants/{id}/history",
            get(participants::history),
        )
        .route("/v1/reports/whoami", get(reports_whoami))
        .route("/v1/reports/stats", get(reports::regulator_stats))
        .route("/v1/reports/daily", get(reports::daily_list))
        .route("/v1/reports/daily/{date}", get(reports::daily_json))
        .route("/v1/reports/daily/{date}/csv", get(reports::daily_csv_download))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(limits, timeout_and_metrics))
        .layer(DefaultBodyLimit::max(limits.body_bytes_max))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new("INTERNAL", "the gateway failed to answer; see its logs").into_response()
        }))
        .layer(middleware::from_fn_with_state(state.clone(), signed::sign_answers))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string();
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// The participant requests being worked on, bounded.
#[derive(Clone, Debug)]
pub struct InFlight {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    max: usize,
}

impl InFlight {
    pub fn new(max: usize) -> InFlight {
        let max = max.min(tokio::sync::Semaphore::MAX_PERMITS);
        InFlight {
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(max)),
            max,
        }
    }
}

/// Seconds a shed participant is told to wait.
pub const RETRY_AFTER_S: u64 = 1;

/// Shed a request when `in_flight_max` are being worked on: 503
/// `OVERLOADED` with `Retry-After`, before anything is read or done.
pub async fn shed(State(gate): State<InFlight>, req: Request, next: Next) -> Response {
    let Ok(permit) = gate.permits.clone().try_acquire_owned() else {
        metrics::counter!("unigate_http_shed_total").increment(1);
        let mut response = ApiError::new(
            "OVERLOADED",
            format!(
                "{} participant requests are being worked on; send it again after {RETRY_AFTER_S} s",
                gate.max
            ),
        )
        .into_response();
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(RETRY_AFTER_S),
        );
        return response;
    };
    let response = next.run(req).await;
    drop(permit);
    response
}

/// Bounds each request in time and counts it for `/metrics`.
pub async fn timeout_and_metrics(
    State(limits): State<HttpLimits>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if header_bytes > limits.header_bytes_max {
        return ApiError::new(
            "HEADERS_TOO_LARGE",
            format!(
                "the headers are {header_bytes} bytes; the limit is {}",
                limits.header_bytes_max
            ),
        )
        .into_response();
    }
    let start = Instant::now();
    let response = match tokio::time::timeout(
        Duration::from_millis(limits.request_timeout_ms),
        next.run(req),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => ApiError::new(
            "TIMEOUT",
            format!(
                "the request took longer than {} ms",
                limits.request_timeout_ms
            ),
        )
        .into_response(),
    };
    let status = response.status().as_u16().to_string();
    metrics::counter!("unigate_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("unigate_http_request_seconds", "route" => route)
        .record(start.elapsed().as_secs_f64());
    response
}

async fn not_found() -> ApiError {
    ApiError::new("NOT_FOUND", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new("METHOD_NOT_ALLOWED", "this route does not take this method")
}

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi_json(),
    )
        .into_response()
}

/// Liveness and readiness answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)))]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// Readiness: the store answers and its migrations are applied.
#[utoipa::path(
    get,
    path = "/readyz",
    responses((status = 200, body = Health), (status = 503, body = Problem, content_type = "application/problem+json"))
)]
async fn readyz(State(state): State<AppState>) -> Result<axum::Json<Health>, ApiError> {
    state
        .store
        .ready()
        .await
        .map_err(|e| ApiError::new("NOT_READY", e.to_string()))?;
    Ok(axum::Json(Health { status: "ok" }))
}

/// Who a bearer token is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhoAmI {
    pub token_id: String,
    /// `operator` or `regulator`.
    pub role: &'static str,
}

/// The operator token's identity (operator only).
#[utoipa::path(
    get,
    path = "/v1/admin/whoami",
    security(("bearer" = [])),
    responses(
        (status = 200, body = WhoAmI),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")
    )
)]
async fn admin_whoami(OperatorOnly(who): OperatorOnly) -> axum::Json<WhoAmI> {
    axum::Json(WhoAmI {
        token_id: who.token_id,
        role: who.role.as_str(),
    })
}

/// The leases held now, as this node sees them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Leases {
    /// The node that answered.
    pub node_id: String,
    pub leases: Vec<LeaseView>,
}

/// One held lease.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeaseView {
    pub name: String,
    pub holder: String,
    pub expires_at_ms: i64,
    pub acquired_at_ms: i64,
    pub renewals: i64,
}

/// Which node holds each piece of single-node work (operator only).
#[utoipa::path(
    get,
    path = "/v1/admin/leases",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Leases),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")
    )
)]
async fn admin_leases(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
) -> Result<axum::Json<Leases>, ApiError> {
    let now = now_ms();
    let leases = state
        .store
        .lease_list(now)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(axum::Json(Leases {
        node_id: state.node_id.clone(),
        leases: leases
            .into_iter()
            .map(|l| LeaseView {
                name: l.name,
                holder: l.holder,
                expires_at_ms: l.expires_at_ms,
                acquired_at_ms: l.acquired_at_ms,
                renewals: l.renewals,
            })
            .collect(),
    }))
}

/// Unix milliseconds as RFC 3339 UTC (SPEC §4.2), to the millisecond.
pub fn rfc3339(ms: i64) -> String {
    sign::rfc3339_ms(ms)
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

/// The token's identity (regulator or operator: the reports are read-only).
#[utoipa::path(
    get,
    path = "/v1/reports/whoami",
    security(("bearer" = [])),
    responses(
        (status = 200, body = WhoAmI),
        (status = 401, body = Problem, content_type = "application/problem+json")
    )
)]
async fn reports_whoami(AnyRole(who): AnyRole) -> axum::Json<WhoAmI> {
    axum::Json(WhoAmI {
        token_id: who.token_id,
        role: who.role.as_str(),
    })
}

//! The merchant registry: acquirers register their merchants one by one
//! or by CSV file, and find them by any QR identifier. An acquirer sees
//! only its own merchants: another acquirer's answer `NOT_FOUND`, so that
//! not even their existence shows.

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use participant::{CallKind, Identifier, Merchant, MerchantLimits, Role};
use serde::{Deserialize, Serialize};
use store::{MerchantRecord, StoreError, Upserted};

use crate::idempotent::once;
use crate::json::Json;
use crate::problem::ApiError;
use crate::result::Outcome;
use crate::signed::SignedCaller;
use crate::{AppState, now_ms, rfc3339};

/// A merchant as its acquirer registers it. Registering the same
/// `acquirer_merchant_id` again updates it (its gateway id stays).
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantIn {
    /// The caller's request id (idempotent).
    pub request_id: String,
    /// The acquirer's own id for the merchant.
    pub acquirer_merchant_id: String,
    pub name: String,
    /// ISO 18245 merchant category code, 4 digits.
    pub mcc: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub city: String,
    /// IANA time zone, e.g. `Asia/Bangkok`.
    pub time_zone: String,
    /// `pending`, `verified`, `rejected` or `suspended`.
    pub kyb_status: String,
    /// The QR identifiers that point to it (kinds in `docs/participants.md`).
    #[serde(default)]
    pub identifiers: Vec<IdentifierIo>,
}

/// A QR identifier: its kind and value.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifierIo {
    /// e.g. `promptpay_proxy`, `qris_nmid`, `unionpay_id`, `vietqr_account`.
    pub kind: String,
    pub value: String,
}

/// A registered merchant.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MerchantOut {
    pub result: Outcome,
    /// The gateway merchant id.
    pub id: String,
    pub acquirer_id: String,
    pub acquirer_merchant_id: String,
    pub name: String,
    pub mcc: String,
    pub country: String,
    pub city: String,
    pub time_zone: String,
    pub kyb_status: String,
    pub identifiers: Vec<IdentifierIo>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<MerchantRecord> for MerchantOut {
    fn from(r: MerchantRecord) -> Self {
        let m = r.merchant;
        MerchantOut {
            result: Outcome::success(),
            id: r.id,
            acquirer_id: r.acquirer_id,
            acquirer_merchant_id: m.acquirer_merchant_id,
            name: m.name,
            mcc: m.mcc,
            country: m.country,
            city: m.city,
            time_zone: m.time_zone,
            kyb_status: m.kyb_status,
            identifiers: m
                .identifiers
                .into_iter()
                .map(|i| IdentifierIo {
                    kind: i.kind,
                    value: i.value,
                })
                .collect(),
            created_at: rfc3339(r.created_at_ms),
            updated_at: rfc3339(r.updated_at_ms),
        }
    }
}

fn to_merchant(body: &MerchantIn) -> Merchant {
    Merchant {
        acquirer_merchant_id: body.acquirer_merchant_id.clone(),
        name: body.name.clone(),
        mcc: body.mcc.clone(),
        country: body.country.clone(),
        city: body.city.clone(),
        time_zone: body.time_zone.clone(),
        kyb_status: body.kyb_status.clone(),
        identifiers: body
            .identifiers
            .iter()
            .map(|i| Identifier {
                kind: i.kind.clone(),
                value: i.value.clone(),
            })
            .collect(),
    }
}

/// Validate and register one merchant of `acquirer`.
async fn upsert(
    state: &AppState,
    acquirer: &str,
    merchant: Merchant,
) -> Result<(MerchantRecord, Upserted), ApiError> {
    merchant
        .validate(&MerchantLimits::default())
        .map_err(|e| ApiError::new("FIELD_INVALID", e.message).field(e.field))?;
    let new_id = format!("gm-{}", uuid::Uuid::now_v7().simple());
    state
        .store
        .merchant_upsert(acquirer, merchant, &new_id, now_ms())
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => ApiError::new("IDENTIFIER_TAKEN", m).field("identifiers"),
            other => ApiError::internal(&other),
        })
}

/// Register or update a merchant (acquirers; idempotent by `request_id`).
#[utoipa::path(
    post,
    path = "/v1/merchants",
    security(("signature" = [])),
    request_body = MerchantIn,
    responses(
        (status = 201, body = MerchantOut, description = "registered"),
        (status = 200, body = MerchantOut, description = "updated"),
        (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn register(
    State(state): State<AppState>,
    caller: SignedCaller,
    Json(body): Json<MerchantIn>,
) -> Response {
    if let Err(e) = caller.allow(&state, CallKind::Setup, Some(Role::Acquirer)) {
        return e.into_response();
    }
    let request = serde_json::to_value(&body).unwrap_or_default();
    once(
        &state,
        caller.id(),
        "merchant.register",
        &body.request_id,
        &request,
        || async {
            let (record, how) = upsert(&state, caller.id(), to_merchant(&body)).await?;
            let status = match how {
                Upserted::Created => StatusCode::CREATED,
                Upserted::Updated => StatusCode::OK,
            };
            let out = serde_json::to_value(MerchantOut::from(record))
                .map_err(|e| ApiError::internal(&e))?;
            Ok((status, out))
        },
    )
    .await
}

/// Paging through an acquirer's merchants.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// The last gateway merchant id of the previous page.
    #[serde(default)]
    pub after: String,
    /// 1 to 500; default 100.
    #[serde(default)]
    pub limit: Option<i64>,
}

/// A page of merchants.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MerchantPage {
    pub result: Outcome,
    pub merchants: Vec<MerchantOut>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// Most merchants on one page.
const PAGE_MAX: i64 = 500;

/// The caller's merchants, by gateway id (acquirers).
#[utoipa::path(
    get,
    path = "/v1/merchants",
    security(("signature" = [])),
    params(ListQuery),
    responses((status = 200, body = MerchantPage))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: SignedCaller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<MerchantPage>, ApiError> {
    caller.allow(&state, CallKind::Read, Some(Role::Acquirer))?;
    let Query(q) = query.map_err(|e| ApiError::new("BAD_REQUEST", e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(ApiError::new("FIELD_INVALID", format!("1 to {PAGE_MAX}")).field("limit"));
    }
    let rows = state
        .store
        .merchant_list(caller.id(), &q.after, limit)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let next_after = (i64::try_from(rows.len()).unwrap_or(0) == limit)
        .then(|| rows.last().map(|r| r.id.clone()))
        .flatten();
    Ok(axum::Json(MerchantPage {
        result: Outcome::success(),
        merchants: rows.into_iter().map(MerchantOut::from).collect(),
        next_after,
    }))
}

/// One of the caller's merchants by gateway id (acquirers).
#[utoipa::path(
    get,
    path = "/v1/merchants/{id}",
    security(("signature" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = MerchantOut), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: SignedCaller,
    Path(id): Path<String>,
) -> Result<axum::Json<MerchantOut>, ApiError> {
    caller.allow(&state, CallKind::Read, Some(Role::Acquirer))?;
    let found = state
        .store
        .merchant_get(&id)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    own(found, caller.id(), &format!("merchant {id}"))
}

fn own(
    found: Option<MerchantRecord>,
    acquirer: &str,
    what: &str,
) -> Result<axum::Json<MerchantOut>, ApiError> {
    match found {
        Some(r) if r.acquirer_id == acquirer => Ok(axum::Json(r.into())),
        _ => Err(ApiError::new(
            "NOT_FOUND",
            format!("{what} is not one of your merchants"),
        )),
    }
}

/// Finding a merchant by a QR identifier.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    pub kind: String,
    pub value: String,
}

/// The caller's merchant that a QR identifier points to (acquirers).
#[utoipa::path(
    get,
    path = "/v1/merchants/lookup",
    security(("signature" = [])),
    params(LookupQuery),
    responses((status = 200, body = MerchantOut), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn lookup(
    State(state): State<AppState>,
    caller: SignedCaller,
    query: Result<Query<LookupQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<MerchantOut>, ApiError> {
    caller.allow(&state, CallKind::Read, Some(Role::Acquirer))?;
    let Query(q) = query.map_err(|e| ApiError::new("BAD_REQUEST", e.body_text()))?;
    let id = Identifier {
        kind: q.kind,
        value: q.value,
    };
    participant::merchant::check_identifier(&id, MerchantLimits::default().identifier_chars_max)
        .map_err(|m| ApiError::new("FIELD_INVALID", m).field("kind"))?;
    let found = state
        .store
        .merchant_find(&id.kind, &id.value)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    own(found, caller.id(), &format!("{} {}", id.kind, id.value))
}

/// The bulk upload's request id.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BulkQuery {
    pub request_id: String,
}

/// One refused row of a bulk upload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// The row's line in the file (the header is line 1).
    pub line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquirer_merchant_id: Option<String>,
    /// The error code, as in the error catalogue.
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

/// What a bulk upload did, row by row.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkReport {
    pub result: Outcome,
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub failed: u64,
    pub errors: Vec<RowError>,
}

/// The bulk file's columns, in order.
pub const CSV_COLUMNS: [&str; 8] = [
    "acquirer_merchant_id",
    "name",
    "mcc",
    "country",
    "city",
    "time_zone",
    "kyb_status",
    "identifiers",
];

/// Register or update merchants from a CSV file (`text/csv`, UTF-8, a
/// header row of the columns in `docs/participants.md`; identifiers as
/// `kind=value` separated by `;`). Each row stands alone: the report
/// names every refused row and why (acquirers; idempotent by
/// `request_id`).
#[utoipa::path(
    post,
    path = "/v1/merchants/bulk",
    security(("signature" = [])),
    params(BulkQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = BulkReport), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn bulk(
    State(state): State<AppState>,
    caller: SignedCaller,
    query: Result<Query<BulkQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> Response {
    if let Err(e) = caller.allow(&state, CallKind::Setup, Some(Role::Acquirer)) {
        return e.into_response();
    }
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => return ApiError::new("BAD_REQUEST", e.body_text()).into_response(),
    };
    let is_csv = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv"));
    if !is_csv {
        return ApiError::new("UNSUPPORTED_MEDIA_TYPE", "the body must be text/csv")
            .into_response();
    }
    // The signature middleware has bounded the body already.
    let Ok(body) = axum::body::to_bytes(req.into_body(), usize::MAX).await else {
        return ApiError::new("BAD_REQUEST", "the body could not be read").into_response();
    };
    let digest = crate::fingerprint::sha256_hex(&body);
    let request = serde_json::json!({"csv_sha256": digest});
    once(
        &state,
        caller.id(),
        "merchant.bulk",
        &q.request_id,
        &request,
        || async {
            let report = run_bulk(&state, caller.id(), &body).await?;
            let out = serde_json::to_value(report).map_err(|e| ApiError::internal(&e))?;
            Ok((StatusCode::OK, out))
        },
    )
    .await
}

async fn run_bulk(state: &AppState, acquirer: &str, body: &[u8]) -> Result<BulkReport, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::new("BAD_REQUEST", format!("the file is not UTF-8: {e}")))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| ApiError::new("BAD_REQUEST", format!("the header row: {e}")))?
        .clone();
    if header.iter().collect::<Vec<_>>() != CSV_COLUMNS {
        return Err(ApiError::new(
            "BAD_REQUEST",
            format!("the header row must be {}", CSV_COLUMNS.join(",")),
        ));
    }
    // Read and check every row first: a file over the row limit is
    // refused whole, before anything is kept.
    let records: Vec<Result<csv::StringRecord, csv::Error>> = reader
        .records()
        .take(
            usize::try_from(state.limits.bulk_rows_max)
                .unwrap_or(usize::MAX)
                .saturating_add(1),
        )
        .collect();
    if u64::try_from(records.len()).unwrap_or(u64::MAX) > state.limits.bulk_rows_max {
        return Err(ApiError::new(
            "BAD_REQUEST",
            format!("the file has more than {} rows", state.limits.bulk_rows_max),
        ));
    }
    let mut report = BulkReport {
        result: Outcome::success(),
        rows: u64::try_from(records.len()).unwrap_or(u64::MAX),
        created: 0,
        updated: 0,
        failed: 0,
        errors: Vec::new(),
    };
    let limits = MerchantLimits::default();
    // (line, acquirer merchant id) of each row sent to the store, in order.
    let mut sent: Vec<(u64, Option<String>)> = Vec::new();
    let mut batch = Vec::new();
    for (i, row) in records.into_iter().enumerate() {
        let line = u64::try_from(i).unwrap_or(u64::MAX).saturating_add(2);
        let amid = row
            .as_ref()
            .ok()
            .and_then(|r| r.get(0))
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let checked = row
            .map_err(|e| ApiError::new("BAD_REQUEST", format!("not a CSV row: {e}")))
            .and_then(|rec| merchant_from_row(&rec))
            .and_then(|m| {
                m.validate(&limits)
                    .map_err(|e| ApiError::new("FIELD_INVALID", e.message).field(e.field))?;
                Ok(m)
            });
        match checked {
            Ok(m) => {
                sent.push((line, amid));
                batch.push((m, format!("gm-{}", uuid::Uuid::now_v7().simple())));
            }
            Err(e) => report.refuse(line, amid, &e),
        }
    }
    let outcomes = state
        .store
        .merchant_upsert_many(acquirer, batch, now_ms())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    for ((line, amid), outcome) in sent.into_iter().zip(outcomes) {
        match outcome {
            Ok(Upserted::Created) => report.created += 1,
            Ok(Upserted::Updated) => report.updated += 1,
            Err(StoreError::Conflict(m)) => {
                report.refuse(
                    line,
                    amid,
                    &ApiError::new("IDENTIFIER_TAKEN", m).field("identifiers"),
                );
            }
            Err(other) => return Err(ApiError::internal(&other)),
        }
    }
    report.errors.sort_by_key(|e| e.line);
    Ok(report)
}

impl BulkReport {
    fn refuse(&mut self, line: u64, acquirer_merchant_id: Option<String>, e: &ApiError) {
        self.failed += 1;
        self.errors.push(RowError {
            line,
            acquirer_merchant_id,
            code: e.code.to_string(),
            field: e.field.clone(),
            message: e.detail.clone(),
        });
    }
}

fn merchant_from_row(rec: &csv::StringRecord) -> Result<Merchant, ApiError> {
    if rec.len() != CSV_COLUMNS.len() {
        return Err(ApiError::new(
            "BAD_REQUEST",
            format!(
                "{} columns; the header has {}",
                rec.len(),
                CSV_COLUMNS.len()
            ),
        ));
    }
    let col = |i: usize| rec.get(i).unwrap_or_default().to_string();
    let mut identifiers = Vec::new();
    for item in col(7).split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let (kind, value) = item.split_once('=').ok_or_else(|| {
            ApiError::new("FIELD_INVALID", format!("{item:?} is not kind=value"))
                .field("identifiers")
        })?;
        identifiers.push(Identifier {
            kind: kind.trim().to_string(),
            value: value.trim().to_string(),
        });
    }
    Ok(Merchant {
        acquirer_merchant_id: col(0),
        name: col(1),
        mcc: col(2),
        country: col(3),
        city: col(4),
        time_zone: col(5),
        kyb_status: col(6),
        identifiers,
    })
}

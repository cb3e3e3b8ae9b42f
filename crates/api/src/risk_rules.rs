//! The risk rules and the sanctions list in force (docs/risk.md), loaded
//! through the operator API, kept by version in the store, and swapped
//! whole: a payment is evaluated against one set, never a half-loaded one.
//! A file that does not load is refused with its line and the set in force
//! stays. Every node follows the store: it reloads when a newer version
//! appears there (`refresh`, from the background loop).

use std::sync::{Arc, RwLock};

use axum::extract::{Path, Query, State};
use risk::{Counters, Decision, Facts, History, RuleSet, screen::Screen};
use serde::{Deserialize, Serialize};
use store::{RiskAlert, RiskSet, StoreError};

use crate::auth::OperatorOnly;
use crate::problem::ApiError;
use crate::{AppState, now_ms};

/// Edit distance of a sanctions match (per token).
pub const SANCTIONS_EDITS: usize = 2;

/// What is in force.
#[derive(Debug, Default)]
pub struct Loaded {
    pub rules: Option<RuleSet>,
    pub rules_seq: i64,
    pub screen: Option<Screen>,
    pub list_version: Option<String>,
    pub list_seq: i64,
}

/// The risk engine's state, shared by the handlers and the payment flows.
#[derive(Debug, Default)]
pub struct Engine {
    loaded: RwLock<Arc<Loaded>>,
}

impl Engine {
    /// The set in force (one `Arc`: whatever is loaded meanwhile, this
    /// evaluation keeps the one it took).
    pub fn current(&self) -> Arc<Loaded> {
        self.loaded.read().map(|l| l.clone()).unwrap_or_default()
    }

    fn swap(&self, f: impl FnOnce(&Loaded) -> Loaded) {
        if let Ok(mut guard) = self.loaded.write() {
            let next = f(&guard);
            *guard = Arc::new(next);
        }
    }

    /// Load what the store has, if newer than what is in force.
    pub async fn refresh(&self, store: &store::Store) -> Result<bool, StoreError> {
        let now = self.current();
        let mut changed = false;
        if store.risk_set_seq("rules").await? > now.rules_seq
            && let Some(set) = store.risk_set_latest("rules").await?
        {
            match RuleSet::parse(&set.body) {
                Ok(rules) => {
                    self.swap(|l| Loaded {
                        rules: Some(rules),
                        rules_seq: set.seq,
                        screen: l.screen.clone(),
                        list_version: l.list_version.clone(),
                        list_seq: l.list_seq,
                    });
                    changed = true;
                }
                // Checked when it was stored: a file that no longer loads
                // (a newer build's stricter checks) keeps the old set.
                Err(e) => {
                    tracing::error!(version = %set.version, error = %e, "stored risk rules do not load")
                }
            }
        }
        if store.risk_set_seq("sanctions").await? > now.list_seq
            && let Some(set) = store.risk_set_latest("sanctions").await?
        {
            match Screen::parse(&set.body, SANCTIONS_EDITS) {
                Ok(screen) => {
                    self.swap(|l| Loaded {
                        rules: l.rules.clone(),
                        rules_seq: l.rules_seq,
                        screen: Some(screen),
                        list_version: Some(set.version.clone()),
                        list_seq: set.seq,
                    });
                    changed = true;
                }
                Err(e) => {
                    tracing::error!(version = %set.version, error = %e, "stored sanctions list does not load")
                }
            }
        }
        Ok(changed)
    }
}

/// Most bytes of a rule file or a sanctions list.
pub const RISK_FILE_BYTES_MAX: usize = 4 * 1024 * 1024;

fn alert(kind: &str, detail: String) -> RiskAlert {
    RiskAlert {
        id: format!("alert-{}", uuid::Uuid::now_v7().simple()),
        kind: kind.into(),
        payment_id: None,
        detail,
        created_at_ms: now_ms(),
        acked_at_ms: None,
        acked_by: None,
    }
}

/// A rule set or list as loaded.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RiskSetOut {
    pub kind: String,
    pub version: String,
    /// Rules in the set, or names in the list.
    pub items: i64,
    pub loaded_at: String,
    pub loaded_by: String,
}

impl From<RiskSet> for RiskSetOut {
    fn from(s: RiskSet) -> Self {
        RiskSetOut {
            kind: s.kind,
            version: s.version,
            items: s.items,
            loaded_at: crate::rfc3339(s.loaded_at_ms),
            loaded_by: s.loaded_by,
        }
    }
}

fn too_large(body: &str) -> Result<(), ApiError> {
    if body.len() > RISK_FILE_BYTES_MAX {
        return Err(ApiError::new(
            "PAYLOAD_TOO_LARGE",
            format!("at most {RISK_FILE_BYTES_MAX} bytes"),
        ));
    }
    Ok(())
}

async fn store_set(
    state: &AppState,
    kind: &str,
    version: String,
    body: String,
    items: usize,
    by: &str,
) -> Result<RiskSetOut, ApiError> {
    let set = RiskSet {
        kind: kind.into(),
        version: version.clone(),
        body,
        items: i64::try_from(items).unwrap_or(i64::MAX),
        loaded_at_ms: now_ms(),
        loaded_by: by.into(),
        seq: 0,
    };
    let saved = match state
        .store
        .risk_set_put(
            set,
            alert(
                &format!("{kind}_changed"),
                format!("{kind} version {version} loaded by {by}"),
            ),
        )
        .await
    {
        Ok(s) => s,
        Err(StoreError::Conflict(why)) => return Err(ApiError::new("STATE_CONFLICT", why)),
        Err(e) => return Err(ApiError::internal(&e)),
    };
    state
        .risk_rules
        .refresh(&state.store)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(saved.into())
}

/// `PUT /v1/admin/risk/rules`: load a rule file (TOML, docs/risk.md) in
/// place of the set in force, on every node. Refused with its line and
/// reason (the set in force stays) when it does not load; a version loaded
/// before is refused (`409`).
#[utoipa::path(put, path = "/v1/admin/risk/rules", tag = "risk", security(("bearer" = [])),
    request_body(content = String, content_type = "application/toml"),
    responses((status = 200, body = RiskSetOut), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"), (status = 409, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn put_rules(
    State(state): State<AppState>,
    OperatorOnly(who): OperatorOnly,
    body: String,
) -> Result<axum::Json<RiskSetOut>, ApiError> {
    too_large(&body)?;
    let rules = RuleSet::parse(&body)
        .map_err(|e| ApiError::new("FIELD_INVALID", e.to_string()).field("body"))?;
    if rules.currency.code() != state.fx.reporting_currency {
        return Err(ApiError::new(
            "FIELD_INVALID",
            format!(
                "the rule file's currency is {}: amounts are screened in the reporting currency {}",
                rules.currency.code(),
                state.fx.reporting_currency
            ),
        )
        .field("body"));
    }
    let (version, items) = (rules.version.clone(), rules.rules.len());
    Ok(axum::Json(
        store_set(&state, "rules", version, body, items, &who.token_id).await?,
    ))
}

/// The sets in force.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RiskInForce {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<RiskSetOut>,
    /// The rule file itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sanctions: Option<RiskSetOut>,
}

/// `GET /v1/admin/risk/rules`: the rule set and list in force.
#[utoipa::path(get, path = "/v1/admin/risk/rules", tag = "risk", security(("bearer" = [])),
    responses((status = 200, body = RiskInForce)))]
pub async fn get_rules(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
) -> Result<axum::Json<RiskInForce>, ApiError> {
    let fail = |e: StoreError| ApiError::internal(&e);
    let rules = state.store.risk_set_latest("rules").await.map_err(fail)?;
    let sanctions = state
        .store
        .risk_set_latest("sanctions")
        .await
        .map_err(fail)?;
    Ok(axum::Json(RiskInForce {
        rules_text: rules.as_ref().map(|r| r.body.clone()),
        rules: rules.map(Into::into),
        sanctions: sanctions.map(Into::into),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// The list's version (its name, a date…).
    pub version: String,
}

/// `PUT /v1/admin/risk/sanctions?version=V`: load a sanctions list (CSV
/// `id,name`) in place of the one in force.
#[utoipa::path(put, path = "/v1/admin/risk/sanctions", tag = "risk", security(("bearer" = [])),
    params(ListQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = RiskSetOut), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn put_sanctions(
    State(state): State<AppState>,
    OperatorOnly(who): OperatorOnly,
    Query(q): Query<ListQuery>,
    body: String,
) -> Result<axum::Json<RiskSetOut>, ApiError> {
    too_large(&body)?;
    if q.version.is_empty() || q.version.chars().count() > 64 {
        return Err(ApiError::new("FIELD_INVALID", "1 to 64 characters").field("version"));
    }
    let screen = Screen::parse(&body, SANCTIONS_EDITS)
        .map_err(|e| ApiError::new("FIELD_INVALID", e.to_string()).field("body"))?;
    let items = screen.len();
    Ok(axum::Json(
        store_set(&state, "sanctions", q.version, body, items, &who.token_id).await?,
    ))
}

/// A dry run: the facts of a payment, and the counters before it.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateIn {
    pub wallet: String,
    pub acquirer: String,
    #[serde(default)]
    pub payer_id: Option<String>,
    #[serde(default)]
    pub payer_name: Option<String>,
    pub payer_country: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub merchant_country: String,
    pub mcc: String,
    /// Minor units of the rule set's currency.
    pub amount_minor: i64,
    #[serde(default)]
    pub merchant_local_hour: Option<u8>,
    /// The payer's history: payments, their total, corridors in 24 hours.
    #[serde(default)]
    pub history: Option<(i64, i64, u32)>,
    /// `[rule, key, count, amount]` for the counters the rules read.
    #[serde(default)]
    pub counters: Vec<(String, String, i64, i64)>,
    /// Only the payer's rules (CPM's second moment).
    #[serde(default)]
    pub payer_only: bool,
}

/// `POST /v1/admin/risk/evaluate`: what the rules in force decide of these
/// facts, with every rule's outcome; nothing is recorded.
#[utoipa::path(post, path = "/v1/admin/risk/evaluate", tag = "risk", security(("bearer" = [])),
    request_body = EvaluateIn,
    responses((status = 200, body = Object), (status = 409, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn evaluate(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    crate::json::Json(b): crate::json::Json<EvaluateIn>,
) -> Result<axum::Json<Decision>, ApiError> {
    let loaded = state.risk_rules.current();
    let Some(rules) = &loaded.rules else {
        return Err(ApiError::new("STATE_CONFLICT", "no rule set is loaded"));
    };
    let facts = Facts {
        wallet: &b.wallet,
        acquirer: &b.acquirer,
        payer_id: b.payer_id.as_deref(),
        payer_name: b.payer_name.as_deref(),
        payer_country: &b.payer_country,
        merchant_id: &b.merchant_id,
        merchant_name: &b.merchant_name,
        merchant_country: &b.merchant_country,
        mcc: &b.mcc,
        amount_minor: b.amount_minor,
        merchant_local_hour: b.merchant_local_hour,
        history: b
            .history
            .map(|(count, total_minor, corridors_24h)| History {
                count,
                total_minor,
                corridors_24h,
            }),
    };
    let mut counters = Counters::default();
    for (rule, key, count, amount) in &b.counters {
        counters.set(rule, key, *count, *amount);
    }
    Ok(axum::Json(rules.evaluate(
        &facts,
        &counters,
        loaded.screen.as_ref(),
        b.payer_only,
    )))
}

/// An alert.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertOut {
    pub id: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    pub detail: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acked_by: Option<String>,
}

impl From<RiskAlert> for AlertOut {
    fn from(a: RiskAlert) -> Self {
        AlertOut {
            id: a.id,
            kind: a.kind,
            payment_id: a.payment_id,
            detail: a.detail,
            created_at: crate::rfc3339(a.created_at_ms),
            acked_at: a.acked_at_ms.map(crate::rfc3339),
            acked_by: a.acked_by,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertList {
    pub alerts: Vec<AlertOut>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// Only those not acknowledged.
    #[serde(default)]
    pub open: bool,
}

/// `GET /v1/admin/risk/alerts`.
#[utoipa::path(get, path = "/v1/admin/risk/alerts", tag = "risk", security(("bearer" = [])),
    params(AlertsQuery), responses((status = 200, body = AlertList)))]
pub async fn alerts(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Query(q): Query<AlertsQuery>,
) -> Result<axum::Json<AlertList>, ApiError> {
    let rows = state
        .store
        .risk_alerts(q.open, store::ALERT_LIST_MAX)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(axum::Json(AlertList {
        alerts: rows.into_iter().map(Into::into).collect(),
    }))
}

/// `POST /v1/admin/risk/alerts/{id}/ack`.
#[utoipa::path(post, path = "/v1/admin/risk/alerts/{id}/ack", tag = "risk", security(("bearer" = [])),
    params(("id" = String, Path, description = "The alert id")),
    responses((status = 200, body = AlertOut), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn ack(
    State(state): State<AppState>,
    OperatorOnly(who): OperatorOnly,
    Path(id): Path<String>,
) -> Result<axum::Json<AlertOut>, ApiError> {
    match state
        .store
        .risk_alert_ack(&id, &who.token_id, now_ms())
        .await
    {
        Ok(a) => Ok(axum::Json(a.into())),
        Err(StoreError::NotFound(what)) => Err(ApiError::new("NOT_FOUND", format!("no {what}"))),
        Err(e) => Err(ApiError::internal(&e)),
    }
}

/// A payment's facts, owned (the evaluation runs inside the store's
/// transaction).
#[derive(Clone, Debug, Default)]
pub struct PaymentFacts {
    pub wallet: String,
    pub acquirer: String,
    pub payer_id: Option<String>,
    pub payer_name: Option<String>,
    pub payer_country: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub merchant_country: String,
    pub mcc: String,
    /// Minor units of the rule set's currency (the reporting currency).
    pub amount_minor: i64,
}

impl PaymentFacts {
    fn facts(&self) -> Facts<'_> {
        Facts {
            wallet: &self.wallet,
            acquirer: &self.acquirer,
            payer_id: self.payer_id.as_deref(),
            payer_name: self.payer_name.as_deref(),
            payer_country: &self.payer_country,
            merchant_id: &self.merchant_id,
            merchant_name: &self.merchant_name,
            merchant_country: &self.merchant_country,
            mcc: &self.mcc,
            amount_minor: self.amount_minor,
            merchant_local_hour: None,
            history: None,
        }
    }
}

/// How far back a payer's history goes (its average amount).
pub const HISTORY_DAYS: i64 = 90;
const DAY_MS: i64 = 86_400_000;

/// The hour in the merchant's time zone (its country's), if known.
fn local_hour(country: &str, now: i64) -> Option<u8> {
    let zone = risk::country_time_zone(country)?;
    let zoned = jiff::Timestamp::from_millisecond(now)
        .ok()?
        .in_tz(zone)
        .ok()?;
    u8::try_from(zoned.hour()).ok()
}

/// The anomaly features of what the store knows of the payer: a payer
/// never counted is new (`None`); the corridors of the last day with this
/// payment's.
fn history_of(h: &store::PayerHistory, corridor: &str) -> Option<History> {
    if h.count <= 0 {
        return None;
    }
    let mut corridors: Vec<&str> = h.corridors.iter().map(String::as_str).collect();
    if !corridors.contains(&corridor) {
        corridors.push(corridor);
    }
    Some(History {
        count: h.count,
        total_minor: h.total_minor,
        corridors_24h: u32::try_from(corridors.len()).unwrap_or(u32::MAX),
    })
}

/// The start of a counter's window: the current day, month or year in the
/// clearing time zone, or the last n seconds.
fn since_ms(window: risk::Window, time_zone: &str, now: i64) -> i64 {
    use risk::{Period, Window};
    let Window::Period(period) = window else {
        let Window::Seconds(s) = window else {
            return now;
        };
        return now.saturating_sub(i64::from(s).saturating_mul(1000));
    };
    let start = (|| {
        let zoned = jiff::Timestamp::from_millisecond(now)
            .ok()?
            .in_tz(time_zone)
            .ok()?;
        let date = zoned.date();
        let first = match period {
            Period::Single | Period::Daily => date,
            Period::Monthly => date.first_of_month(),
            Period::Annual => jiff::civil::date(date.year(), 1, 1),
        };
        Some(
            first
                .to_zoned(zoned.time_zone().clone())
                .ok()?
                .timestamp()
                .as_millisecond(),
        )
    })();
    start.unwrap_or(now)
}

/// When a payment is screened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// Before any money moves: every rule whose inputs are known.
    BeforeMoney,
    /// CPM, once the wallet has authorised and named its payer: the
    /// payer's rules.
    Authorisation,
}

impl Moment {
    pub fn as_str(self) -> &'static str {
        match self {
            Moment::BeforeMoney => "before_money",
            Moment::Authorisation => "authorisation",
        }
    }
}

/// Screen a payment with the rules in force, at `moment`: the
/// counters read, judged and (approved) added to in one transaction, the
/// decision kept with `payment_id`, an alert for `review` and `decline`.
/// `None` when no rule set is loaded, or nothing is left to run at this
/// moment.
pub async fn screen_payment(
    state: &AppState,
    payment_id: &str,
    facts: PaymentFacts,
    moment: Moment,
) -> Result<Option<Decision>, ApiError> {
    let payer_only = moment == Moment::Authorisation;
    let loaded = state.risk_rules.current();
    let Some(rules) = loaded.rules.clone() else {
        return Ok(None);
    };
    if payer_only && !rules.rules.iter().any(risk::Rule::needs_payer) {
        return Ok(None);
    }
    let now = now_ms();
    let keys = rules.counters(&facts.facts(), payer_only);
    let windows: Vec<store::CounterWindow> = keys
        .iter()
        .map(|k| store::CounterWindow {
            rule: k.rule.clone(),
            key: k.key.clone(),
            since_ms: since_ms(k.window, &state.payments.time_zone, now),
            release_on: k.release.as_str().into(),
        })
        .collect();
    // The payer's history, where the anomaly score reads it: kept (and
    // added to) once the payer is known.
    let corridor = format!("{}-{}", facts.payer_country, facts.merchant_country);
    let history = risk::payer_key(&facts.facts())
        .filter(|_| rules.needs_history())
        .map(|key| store::HistoryRequest {
            key,
            corridor: corridor.clone(),
            since_ms: now.saturating_sub(HISTORY_DAYS * DAY_MS),
            corridors_since_ms: now.saturating_sub(DAY_MS),
        });
    let hour = local_hour(&facts.merchant_country, now);
    let (amount, id) = (facts.amount_minor, payment_id.to_string());
    let decision = state
        .store
        .risk_check(
            windows,
            history,
            payment_id,
            amount,
            now,
            move |values, seen| {
                let mut counters = Counters::default();
                for (k, (count, sum)) in keys.iter().zip(values) {
                    counters.set(&k.rule, &k.key, *count, *sum);
                }
                let mut f = facts.facts();
                f.merchant_local_hour = hour;
                f.history = seen.and_then(|h| history_of(&h, &corridor));
                let d = rules.evaluate(&f, &counters, loaded.screen.as_ref(), payer_only);
                let row = store::DecisionRow {
                    payment_id: id,
                    moment: moment.as_str().into(),
                    action: d.action.as_str().into(),
                    version: d.version.clone(),
                    score: i64::from(d.score),
                    decision: serde_json::to_string(&d).unwrap_or_default(),
                    at_ms: now,
                };
                let approved = d.action != risk::Action::Decline;
                (d, approved, row)
            },
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    if decision.action != risk::Action::Approve {
        let fired: Vec<&str> = decision.fired().map(|o| o.rule.as_str()).collect();
        let mut a = alert(
            decision.action.as_str(),
            format!(
                "payment {payment_id}: {} by {}",
                decision.action.as_str(),
                fired.join(", ")
            ),
        );
        a.payment_id = Some(payment_id.to_string());
        state
            .store
            .risk_alert_put(a)
            .await
            .map_err(|e| ApiError::internal(&e))?;
    }
    Ok(Some(decision))
}

/// A payment's risk decisions, with every rule's outcome.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TraceOut {
    pub payment_id: String,
    /// One per moment: `{moment, action, version, score, decision}`.
    #[schema(value_type = Vec<Object>)]
    pub decisions: Vec<serde_json::Value>,
}

/// `GET /v1/admin/payments/{id}/risk`: the trace of a payment's
/// screening (also of one that was declined before it was made).
#[utoipa::path(get, path = "/v1/admin/payments/{id}/risk", tag = "risk", security(("bearer" = [])),
    params(("id" = String, Path, description = "The payment id")),
    responses((status = 200, body = TraceOut), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn trace(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Path(id): Path<String>,
) -> Result<axum::Json<TraceOut>, ApiError> {
    let rows = state
        .store
        .risk_decisions(&id)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    if rows.is_empty() {
        return Err(ApiError::new(
            "NOT_FOUND",
            format!("no risk decision of {id}"),
        ));
    }
    Ok(axum::Json(TraceOut {
        payment_id: id,
        decisions: rows
            .into_iter()
            .map(|r| {
                serde_json::json!({
                    "moment": r.moment,
                    "action": r.action,
                    "version": r.version,
                    "score": r.score,
                    "at": crate::rfc3339(r.at_ms),
                    "decision": serde_json::from_str::<serde_json::Value>(&r.decision).unwrap_or_default(),
                })
            })
            .collect(),
    }))
}

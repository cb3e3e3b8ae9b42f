//! Payments (SPEC §2.6, §4.4, §6): MPM consult, MPM and CPM payments,
//! inquiry.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The participants' callbacks: limits of the connector (`[callbacks]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbackLimits {
    /// Each attempt's time limit, connecting included.
    pub timeout_ms: u64,
    /// Retries of an idempotent callback (never of pay or authorize).
    pub retries_max: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// The largest answer read.
    pub answer_bytes_max: usize,
    /// Idle keep-alive connections kept per participant host.
    pub idle_per_host: usize,
    /// Failures in a row that open a participant's circuit.
    pub breaker_failures: u32,
    /// How long an open circuit stays open before a probe.
    pub breaker_open_ms: u64,
}

impl Default for CallbackLimits {
    fn default() -> Self {
        let c = connector::ConnectorConfig::default();
        CallbackLimits {
            timeout_ms: c.timeout_ms,
            retries_max: c.retries_max,
            backoff_base_ms: c.backoff_base_ms,
            backoff_max_ms: c.backoff_max_ms,
            answer_bytes_max: c.answer_bytes_max,
            idle_per_host: c.idle_per_host,
            breaker_failures: c.breaker.failures_to_open,
            breaker_open_ms: c.breaker.open_ms,
        }
    }
}

/// How payments are run (`[payments]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentsConfig {
    /// The daily clearing cut-off, `HH:MM` in `time_zone`: a payment
    /// accepted before it clears that day, after it the next.
    pub cutoff: String,
    /// The IANA time zone of the cut-off.
    pub time_zone: String,
    /// How long a reservation holds: longer than a payment's whole
    /// inquiry-and-cancel budget (SPEC §6); past it, housekeeping moves it
    /// to suspense, never releases it.
    pub reservation_ttl_s: i64,
    /// How long after the cut-off a payment whose outcome is still unknown
    /// may be cancelled (the cycle's grace period).
    pub cancel_grace_s: i64,
    pub callbacks: CallbackLimits,
    /// The resolver and the notifier (`[payments.recovery]`).
    pub recovery: crate::recovery::RecoveryConfig,
    /// Cycles, value dates, the close job (`[payments.clearing]`).
    pub clearing: crate::clearing::ClearingConfig,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        PaymentsConfig {
            cutoff: "23:00".into(),
            time_zone: "Asia/Shanghai".into(),
            reservation_ttl_s: 86_400,
            cancel_grace_s: 7_200,
            callbacks: CallbackLimits::default(),
            recovery: crate::recovery::RecoveryConfig::default(),
            clearing: crate::clearing::ClearingConfig::default(),
        }
    }
}

impl PaymentsConfig {
    /// Check the cut-off and time zone.
    pub fn check(&self) -> Result<(), String> {
        cutoff_minutes(&self.cutoff)?;
        jiff::tz::TimeZone::get(&self.time_zone)
            .map_err(|e| format!("time_zone {:?}: {e}", self.time_zone))?;
        if !(0..=86_400).contains(&self.cancel_grace_s) {
            return Err("cancel_grace_s is 0 to 86400".into());
        }
        if self.reservation_ttl_s < 60 {
            return Err("reservation_ttl_s is at least 60".into());
        }
        self.recovery.check()?;
        self.clearing.check()
    }
}

/// `HH:MM` → minutes after midnight.
fn cutoff_minutes(text: &str) -> Result<i64, String> {
    let bad = || format!("cutoff {text:?} is not HH:MM (00:00 to 23:59)");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if (0..24).contains(&h) && (0..60).contains(&m) {
        Ok(h * 60 + m)
    } else {
        Err(bad())
    }
}

/// The connectors of every dialect over one transport signing as the
/// gateway, with the outbound log in the store.
pub fn connectors(
    keys: Arc<keyring::GatewayKeys>,
    store: store::Store,
    limits: &CallbackLimits,
    allow_private_callbacks: bool,
) -> Result<Arc<connector::Connectors>, String> {
    let config = connector::ConnectorConfig {
        timeout_ms: limits.timeout_ms,
        retries_max: limits.retries_max,
        backoff_base_ms: limits.backoff_base_ms,
        backoff_max_ms: limits.backoff_max_ms,
        answer_bytes_max: limits.answer_bytes_max,
        idle_per_host: limits.idle_per_host,
        public_only: !allow_private_callbacks,
        breaker: connector::BreakerConfig {
            failures_to_open: limits.breaker_failures,
            open_ms: limits.breaker_open_ms,
        },
    };
    let transport = connector::Transport::new(keys, config, Arc::new(connector::StoreLog(store)))
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(connector::Connectors::new(Arc::new(transport))))
}

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use connector::model::{self, Call, Message};
use ledger::fees::{Fee, Mode as FeeMode};
use ledger::{AccountId, Code, Kind, Phase, Transfer};
use money::{Currency, FxSplit, Money, Price};
use participant::Role;
use participant::policy::CallKind;
use payment::{Direction, Event, Mode, State as PayState};
use store::{NewPayment, PaymentRecord, PaymentTerms, QuoteUse, StoreError};

use crate::fx::Payer;
use crate::idempotent::once;
use crate::json::Json;
use crate::problem::ApiError;
use crate::result::Outcome;
use crate::signed::SignedCaller;
use crate::{AppState, now_ms};

/// The longest raw code or payment code taken.
pub const CODE_CHARS_MAX: usize = 1024;

// ---------------------------------------------------------------- shapes

/// `POST /v1/mpm/consult`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsultIn {
    /// The merchant's QR payload as scanned.
    pub code: String,
    pub payer: Payer,
    /// The payer's currency, for an indicative rate.
    #[serde(default)]
    pub pay_currency: Option<String>,
}

/// The merchant behind a code.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MerchantOut {
    /// The acquirer's id for it.
    pub merchant_id: String,
    /// The gateway's id for it (the registry's, or `ACQUIRER/MERCHANT`):
    /// what a quote for a static code is bound to.
    pub gateway_merchant_id: String,
    pub name: String,
    pub mcc: String,
    pub city: String,
    pub country: String,
}

/// An indicative price.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IndicativeOut {
    pub rate: String,
    #[schema(value_type = Object)]
    pub pay: Option<Money>,
}

/// What a consult found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsultOut {
    pub result: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant: Option<MerchantOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquirer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// A dynamic code's amount (or the acquirer's order amount).
    #[schema(value_type = Object)]
    pub amount: Option<Money>,
    pub order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<&'static str>,
    pub indicative: Option<IndicativeOut>,
}

/// `POST /v1/payments`, `mode: "mpm"` (a wallet).
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MpmIn {
    pub request_id: String,
    /// `mpm`.
    pub mode: String,
    pub code: String,
    /// In the merchant's currency.
    #[schema(value_type = Object)]
    pub amount: Money,
    /// Required when the wallet settles in another currency than the
    /// merchant's.
    #[serde(default)]
    pub quote_id: Option<String>,
    pub payer: Payer,
    /// Balance of payments: the purpose (ISO 20022 ExternalPurpose1Code,
    /// four capital letters); `GDDS` (purchase of goods) when absent.
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub test: bool,
}

/// `POST /v1/payments`, `mode: "cpm"` (an acquirer).
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CpmIn {
    pub request_id: String,
    /// `cpm`.
    pub mode: String,
    /// The payer's payment code: a secret, never stored or logged.
    pub payment_code: String,
    /// In the merchant's currency.
    #[schema(value_type = Object)]
    pub amount: Money,
    /// The acquirer's own id of the merchant (registered in the registry).
    pub merchant_id: String,
    /// Single use per acquirer.
    pub order_id: String,
    /// Balance of payments: the purpose (ISO 20022 ExternalPurpose1Code,
    /// four capital letters); `GDDS` (purchase of goods) when absent.
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub test: bool,
}

/// A payment's amounts in every currency involved.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AmountsOut {
    #[schema(value_type = Object)]
    pub merchant: Money,
    #[schema(value_type = Object)]
    pub payer: Option<Money>,
    #[schema(value_type = Object)]
    pub reporting: Option<Money>,
    #[schema(value_type = Object)]
    pub wallet_settlement: Option<Money>,
    #[schema(value_type = Object)]
    pub acquirer_settlement: Option<Money>,
}

/// The FX a payment bought.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FxOut {
    pub quote_id: Option<String>,
    pub provider: String,
    pub rate: String,
    pub markup_bps: i64,
}

/// A payment's fee and its split, in the merchant's currency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeesOut {
    #[schema(value_type = Object)]
    pub total: Money,
    #[schema(value_type = Object)]
    pub acquirer: Money,
    #[schema(value_type = Object)]
    pub wallet: Money,
    #[schema(value_type = Object)]
    pub gateway: Money,
    #[schema(value_type = Object)]
    pub scheme: Money,
}

/// A payment as its parties see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentOut {
    pub id: String,
    pub request_id: String,
    pub initiator: String,
    pub mode: &'static str,
    pub state: &'static str,
    pub direction: &'static str,
    pub wallet: String,
    pub acquirer: String,
    /// The acquirer's id of the merchant.
    pub merchant_id: Option<String>,
    /// The registry's id of the merchant, when it is registered.
    pub gateway_merchant_id: Option<String>,
    pub order_id: Option<String>,
    pub amounts: AmountsOut,
    pub fx: Option<FxOut>,
    pub fees: Option<FeesOut>,
    pub clearing_date: Option<String>,
    pub created_at: String,
}

/// An answer about a payment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentAnswer {
    pub result: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentOut>,
}

/// `GET /v1/payments?request_id=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ByRequest {
    /// The caller's own request id of the payment.
    pub request_id: String,
}

// ------------------------------------------------------------- helpers

/// A business refusal: 200 with `F` and its code; nothing kept.
struct Refusal(Outcome);

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal(Outcome::new(code, message))
}

impl From<ApiError> for Flow {
    fn from(e: ApiError) -> Flow {
        Flow::Fault(e)
    }
}

/// How a step of a flow stopped early.
enum Flow {
    /// A protocol fault (4xx) or the gateway's own (5xx).
    Fault(ApiError),
    /// A business outcome without a payment.
    Refused(Refusal),
}

impl From<Refusal> for Flow {
    fn from(r: Refusal) -> Flow {
        Flow::Refused(r)
    }
}

fn internal(e: &dyn std::fmt::Display) -> Flow {
    Flow::Fault(ApiError::internal(e))
}

fn currency_of(code: &str, field: &'static str) -> Result<Currency, ApiError> {
    Currency::parse(code).map_err(|e| ApiError::new("FIELD_INVALID", e.to_string()).field(field))
}

fn check_code(code: &str, field: &'static str) -> Result<(), ApiError> {
    if code.is_empty() || code.chars().count() > CODE_CHARS_MAX {
        return Err(
            ApiError::new("FIELD_INVALID", format!("1 to {CODE_CHARS_MAX} characters"))
                .field(field),
        );
    }
    Ok(())
}

fn positive(amount: Money, field: &'static str) -> Result<Money, ApiError> {
    if amount.minor <= 0 || amount.minor > store::TRANSFER_AMOUNT_MAX {
        return Err(ApiError::new(
            "FIELD_INVALID",
            format!(
                "more than zero and at most {} minor units",
                store::TRANSFER_AMOUNT_MAX
            ),
        )
        .field(field));
    }
    Ok(amount)
}

/// The clearing date of a payment accepted at `now_ms`: the cut-off's
/// day in its time zone, or the next day at or after the cut-off.
pub fn clearing_date(config: &PaymentsConfig, now_ms: i64) -> Result<String, String> {
    let cutoff = cutoff_minutes(&config.cutoff)?;
    let tz = jiff::tz::TimeZone::get(&config.time_zone).map_err(|e| e.to_string())?;
    let zoned = jiff::Timestamp::from_millisecond(now_ms)
        .map_err(|e| e.to_string())?
        .to_zoned(tz);
    let minutes = i64::from(zoned.hour()) * 60 + i64::from(zoned.minute());
    let date = zoned.date();
    let date = if minutes >= cutoff {
        date.tomorrow().map_err(|e| e.to_string())?
    } else {
        date
    };
    Ok(date.to_string())
}

/// A participant as the connectors call it (`None`: no such participant).
pub(crate) async fn peer(state: &AppState, id: &str) -> Result<Option<connector::Peer>, ApiError> {
    match peer_of(state, id).await {
        Ok(found) => Ok(found.map(|(_, p)| p)),
        Err(f) => Err(flow_fault(f)),
    }
}

/// A participant as the connectors call it, with its usable keys.
async fn peer_of(
    state: &AppState,
    id: &str,
) -> Result<Option<(store::Participant, connector::Peer)>, Flow> {
    let Some(p) = state
        .store
        .participant_get(id)
        .await
        .map_err(|e| internal(&e))?
    else {
        return Ok(None);
    };
    let now = now_ms();
    let keys = state
        .store
        .key_list(id)
        .await
        .map_err(|e| internal(&e))?
        .into_iter()
        .filter(|k| k.usable_at(now))
        .filter_map(|k| {
            Some((
                u32::try_from(k.version).ok()?,
                sign::PublicKey::from_pem(&k.public_pem).ok()?,
            ))
        })
        .collect();
    let peer = connector::Peer {
        id: id.to_string(),
        base_url: p.record.callback_base_url.clone(),
        keys,
        dialect: "native".into(),
    };
    Ok(Some((p, peer)))
}

/// Whether a counterparty can take traffic now.
fn carries_traffic(p: &store::Participant) -> bool {
    use participant::Stage;
    matches!(
        p.stage,
        Stage::Live | Stage::ProductionVerification | Stage::JointTesting | Stage::Signed
    )
}

/// The order a code names: 62.01 (bill number) or 62.05 (reference label).
fn order_of(code: &qr::mpm::Decoded<'_>) -> Option<String> {
    let additional = code.code.get(62)?;
    code.code
        .tree
        .child_value(additional, 1)
        .or_else(|| code.code.tree.child_value(additional, 5))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// What the gateway knows of the merchant behind an MPM code.
struct MpmTarget {
    acquirer: store::Participant,
    acquirer_peer: connector::Peer,
    merchant: MerchantOut,
    currency: Currency,
    amount: Option<Money>,
    order_id: Option<String>,
    dynamic: bool,
    registry_id: Option<String>,
}

/// Decode, route and ask the acquirer: the common part of consult and pay.
async fn mpm_target(state: &AppState, raw: &str, request_id: &str) -> Result<MpmTarget, Flow> {
    let options = qr::Options {
        refuse_expired: true,
        context: qr::profile::Context {
            now_unix_ms: Some(now_ms()),
        },
        ..qr::Options::default()
    };
    let decoded = match qr::decode(raw, &options) {
        Ok(d) => d,
        Err(e) if e.code == qr::ErrorCode::Expired => {
            return Err(refuse("CODE_EXPIRED", "the code's own expiry has passed").into());
        }
        Err(e) => {
            return Err(ApiError::new(
                "CODE_INVALID",
                format!("the code does not decode: {}: {}", e.code, e.message),
            )
            .field("code")
            .into());
        }
    };
    let qr::Decoded::Mpm(mpm) = &decoded else {
        return Err(
            ApiError::new("CODE_INVALID", "not a merchant-presented (EMVCo MPM) code")
                .field("code")
                .into(),
        );
    };
    let subject = routing::Subject::from_decoded(raw, &decoded);
    let routed = crate::routes::route_subject(state, &subject).await?;
    let resolution = match routed.outcome {
        Ok(r) => r,
        Err(routing::ResolveError::NotFound { .. }) => {
            return Err(refuse("ROUTE_NOT_FOUND", "no acquirer serves this code").into());
        }
        Err(e @ routing::ResolveError::Ambiguous { .. }) => {
            return Err(refuse("ROUTE_AMBIGUOUS", e.to_string()).into());
        }
    };
    let Some((acquirer, acquirer_peer)) = peer_of(state, &resolution.participant_id).await? else {
        return Err(refuse("ROUTE_NOT_FOUND", "the route names no participant").into());
    };
    if !carries_traffic(&acquirer) {
        return Err(refuse(
            "PARTICIPANT_UNAVAILABLE",
            "the acquirer does not take traffic now",
        )
        .into());
    }
    let registered = match &resolution.merchant_id {
        Some(id) => state
            .store
            .merchant_get(id)
            .await
            .map_err(|e| internal(&e))?,
        None => None,
    };
    let code_currency = mpm.currency.and_then(|c| Currency::parse(c.code()).ok());
    let code_amount = match (mpm.amount, code_currency) {
        (Some(a), Some(c)) => i64::try_from(a.minor()).ok().map(|m| Money::new(m, c)),
        _ => None,
    };
    let dynamic = mpm.initiation == Some(qr::mpm::Initiation::Dynamic);
    let mut order_id = order_of(mpm);
    // Ask the acquirer who the merchant is (and its order).
    let ask = Message::MerchantInquiry(model::MerchantInquiry {
        request_id: format!(
            "mi-{}-{}",
            request_id.chars().take(40).collect::<String>(),
            uuid::Uuid::now_v7().simple()
        ),
        code: Some(raw.to_string()),
        merchant_id: registered
            .as_ref()
            .map(|m| m.merchant.acquirer_merchant_id.clone()),
    });
    let reply = state
        .connectors
        .call(&acquirer_peer, &ask)
        .await
        .map_err(|e| internal(&e))?;
    match reply.outcome.status {
        model::Status::S => {}
        model::Status::F if !reply.sent => {
            return Err(refuse("PARTICIPANT_UNAVAILABLE", reply.outcome.message).into());
        }
        model::Status::F => {
            return Err(refuse(
                "MERCHANT_NOT_FOUND",
                format!("the acquirer answered {}", reply.outcome.code),
            )
            .into());
        }
        model::Status::U => {
            // A merchant-inquiry moves nothing: no answer means no payment.
            return Err(refuse(
                "PARTICIPANT_UNAVAILABLE",
                format!(
                    "the acquirer did not answer the merchant inquiry: {}",
                    reply.outcome.code
                ),
            )
            .into());
        }
    }
    let info: model::MerchantInfo = reply
        .fields_as()
        .map_err(|e| refuse("MERCHANT_NOT_FOUND", format!("the acquirer's answer: {e}")))?;
    let currency = code_currency.unwrap_or(info.currency);
    if info.currency != currency {
        return Err(refuse(
            "CURRENCY_MISMATCH",
            format!("the code says {currency}, the acquirer {}", info.currency),
        )
        .into());
    }
    if order_id.is_none() {
        order_id = info.order_id.clone();
    }
    if dynamic && order_id.is_none() {
        // A dynamic code without an order reference: the code itself is
        // the order (and consult says so, so a quote can be bound to it).
        use sha2::Digest;
        let digest = sha2::Sha256::digest(raw.as_bytes());
        order_id = Some(format!(
            "qr-{}",
            digest
                .iter()
                .take(12)
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ));
    }
    let amount = code_amount.or(info.amount);
    // The merchant's country decides the direction and the fee: the
    // registry's word first, then the acquirer's; a code that says
    // otherwise is not paid.
    let country = registered
        .as_ref()
        .map_or_else(|| info.country.clone(), |m| m.merchant.country.clone())
        .to_ascii_uppercase();
    if let Some(written) = mpm.merchant.country
        && !written.eq_ignore_ascii_case(&country)
    {
        return Err(refuse(
            "MERCHANT_MISMATCH",
            format!("the code says the merchant is in {written}, its acquirer says {country}"),
        )
        .into());
    }
    let text =
        |code: Option<&str>, answer: &str| code.map_or_else(|| answer.to_string(), str::to_string);
    let merchant = MerchantOut {
        gateway_merchant_id: registered.as_ref().map_or_else(
            || format!("{}/{}", acquirer.record.id, info.merchant_id),
            |m| m.id.clone(),
        ),
        merchant_id: info.merchant_id.clone(),
        name: text(mpm.merchant.name, &info.name),
        mcc: text(mpm.merchant.mcc, &info.mcc),
        city: text(mpm.merchant.city, &info.city),
        country: country.clone(),
    };
    Ok(MpmTarget {
        acquirer,
        acquirer_peer,
        merchant,
        currency,
        amount,
        order_id,
        dynamic,
        registry_id: registered.map(|m| m.id),
    })
}

fn direction_of(
    state: &AppState,
    payer_country: &str,
    merchant_country: &str,
) -> Result<Direction, Refusal> {
    let d = routing::direction(&state.routing.home_country, payer_country, merchant_country);
    Direction::parse(d.as_str()).ok_or_else(|| {
        refuse(
            "NOT_CROSS_BORDER",
            format!(
                "payer and merchant are both in {}: not a cross-border payment",
                state.routing.home_country
            ),
        )
    })
}

// ------------------------------------------------------------- consult

/// Consult a merchant-presented code: who the merchant is, the order and
/// amount of a dynamic code, the acquirer, and an indicative rate.
#[utoipa::path(
    post,
    path = "/v1/mpm/consult",
    tag = "payments",
    security(("signature" = [])),
    request_body = ConsultIn,
    responses((status = 200, body = ConsultOut), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn consult(
    State(state): State<AppState>,
    caller: SignedCaller,
    Json(body): Json<ConsultIn>,
) -> Result<axum::Json<ConsultOut>, ApiError> {
    caller.allow(&state, CallKind::Read, Some(Role::Wallet))?;
    check_code(&body.code, "code")?;
    body.payer.validate()?;
    let pay_currency = match &body.pay_currency {
        Some(c) => Some(currency_of(c, "pay_currency")?),
        None => None,
    };
    let empty = |result: Outcome| ConsultOut {
        result,
        merchant: None,
        acquirer: None,
        currency: None,
        amount: None,
        order_id: None,
        direction: None,
        indicative: None,
    };
    let target = match mpm_target(&state, &body.code, "consult").await {
        Ok(t) => t,
        Err(Flow::Fault(e)) => return Err(e),
        Err(Flow::Refused(Refusal(outcome))) => return Ok(axum::Json(empty(outcome))),
    };
    let direction = match direction_of(&state, &body.payer.country, &target.merchant.country) {
        Ok(d) => d,
        Err(Refusal(outcome)) => return Ok(axum::Json(empty(outcome))),
    };
    let indicative = match pay_currency.filter(|c| *c != target.currency) {
        None => None,
        Some(from) => {
            let receive = target.amount.unwrap_or(Money::new(1, target.currency));
            crate::fx::indicative_for(&state, caller.id(), from, receive)
                .await?
                .map(|(rate, pay)| IndicativeOut {
                    rate,
                    pay: target.amount.map(|_| pay),
                })
        }
    };
    Ok(axum::Json(ConsultOut {
        result: Outcome::success(),
        acquirer: Some(target.acquirer.record.id.clone()),
        currency: Some(target.currency.code().to_string()),
        amount: target.amount,
        order_id: target.order_id.filter(|_| target.dynamic),
        direction: Some(direction.as_str()),
        indicative,
        merchant: Some(target.merchant),
    }))
}

// ------------------------------------------------------------- payments

/// Start a payment: a wallet's MPM payment of a merchant's code, or an
/// acquirer's CPM charge of a payer's payment code (SPEC §4.4). Answers
/// `S` (done), `F` (refused, nothing moved) or `U` (the downstream's
/// outcome is not known yet: inquire).
#[utoipa::path(
    post,
    path = "/v1/payments",
    tag = "payments",
    security(("signature" = [])),
    request_body(content = Object, description = "`MpmIn` (mode `mpm`) or `CpmIn` (mode `cpm`)"),
    responses((status = 200, body = PaymentAnswer), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: SignedCaller,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let bytes = body.to_string().into_bytes();
    match body.get("mode").and_then(|m| m.as_str()) {
        Some("mpm") => match crate::json::parse::<MpmIn>(&bytes) {
            Ok(mpm) => pay(state, caller, PaymentIn::Mpm(mpm), body).await,
            Err(e) => e.into_response(),
        },
        Some("cpm") => match crate::json::parse::<CpmIn>(&bytes) {
            Ok(cpm) => pay(state, caller, PaymentIn::Cpm(cpm), body).await,
            Err(e) => e.into_response(),
        },
        _ => ApiError::new("FIELD_INVALID", "mode is \"mpm\" or \"cpm\"")
            .field("mode")
            .into_response(),
    }
}

/// What a payment is about to be, once every check passed.
struct Plan {
    mode: Mode,
    direction: Direction,
    wallet: String,
    wallet_peer: connector::Peer,
    acquirer: String,
    acquirer_peer: connector::Peer,
    merchant: MerchantOut,
    registry_id: Option<String>,
    order_id: Option<String>,
    merchant_amount: Money,
    payer_amount: Money,
    payer_country: String,
    fx: Option<(store::QuoteRow, FxSplit)>,
    fee: Fee,
    /// The payer as the wallet names it (MPM), or as its issuing wallet
    /// knows it (CPM).
    payer: model::Payer,
    /// CPM: the payer's payment code, sent only to its wallet.
    payment_code: String,
    /// Balance of payments: the purpose code.
    purpose: String,
}

/// The purpose code a payment is reported under (balance of payments).
pub const DEFAULT_PURPOSE: &str = "GDDS";

/// A request's purpose code: four capital letters (the form of ISO 20022's
/// ExternalPurpose1Code), or the default.
fn purpose_of(purpose: Option<&str>) -> Result<String, Flow> {
    match purpose {
        None => Ok(DEFAULT_PURPOSE.into()),
        Some(p) if p.len() == 4 && p.bytes().all(|b| b.is_ascii_uppercase()) => Ok(p.into()),
        Some(_) => Err(ApiError::new(
            "FIELD_INVALID",
            "a purpose code is four capital letters (ISO 20022 ExternalPurpose1Code), e.g. GDDS",
        )
        .field("purpose")
        .into()),
    }
}

/// A payment request of either mode.
enum PaymentIn {
    Mpm(MpmIn),
    Cpm(CpmIn),
}

impl PaymentIn {
    fn request_id(&self) -> &str {
        match self {
            PaymentIn::Mpm(b) => &b.request_id,
            PaymentIn::Cpm(b) => &b.request_id,
        }
    }

    /// Check the fields; the role the caller must play.
    fn check(&self) -> Result<(Role, Money, bool), ApiError> {
        match self {
            PaymentIn::Mpm(b) => {
                check_code(&b.code, "code")?;
                b.payer.validate()?;
                Ok((Role::Wallet, positive(b.amount, "amount.value")?, b.test))
            }
            PaymentIn::Cpm(b) => {
                check_code(&b.payment_code, "payment_code")?;
                for (field, value) in [("merchant_id", &b.merchant_id), ("order_id", &b.order_id)] {
                    if value.is_empty()
                        || value.chars().count() > 64
                        || value.chars().any(char::is_control)
                    {
                        return Err(
                            ApiError::new("FIELD_INVALID", "1 to 64 characters").field(field)
                        );
                    }
                }
                Ok((Role::Acquirer, positive(b.amount, "amount.value")?, b.test))
            }
        }
    }
}

/// Check, ask the stage policy, then plan and run the payment once per
/// request id.
async fn pay(
    state: AppState,
    caller: SignedCaller,
    body: PaymentIn,
    request: serde_json::Value,
) -> Response {
    let checked = async {
        let (role, amount, test) = body.check()?;
        let reporting = crate::fx::reporting_amount(&state, amount).await?;
        caller.allow(
            &state,
            CallKind::Payment {
                test,
                to_simulator: false,
                reporting_minor: reporting.map_or(i64::MAX, |m| m.minor),
            },
            Some(role),
        )
    }
    .await;
    if let Err(e) = checked {
        return e.into_response();
    }
    let (id, request_id) = (caller.id().to_string(), body.request_id().to_string());
    // The payment code is a secret: the idempotency fingerprint keeps only
    // its length and last four (a repeat is still told apart by every
    // other field).
    let mut request = request;
    if let Some(code) = request.get_mut("payment_code")
        && let Some(text) = code.as_str()
    {
        let tail: String = text
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        *code = serde_json::Value::String(format!("len{}:{tail}", text.chars().count()));
    }
    once(&state, &id, "payment", &request_id, &request, || async {
        // A payment this request id made already (its first attempt was
        // cut off before it answered): answer it, never make another.
        if let Some(existing) = state
            .store
            .payment_by_request(&id, &request_id)
            .await
            .map_err(|e| ApiError::internal(&e))?
        {
            let answer = PaymentAnswer {
                result: inquiry_result(existing.state),
                payment: Some(render(&state, &existing).await?),
            };
            return Ok((
                StatusCode::OK,
                serde_json::to_value(answer).map_err(|e| ApiError::internal(&e))?,
            ));
        }
        // Run in a task of its own: a caller that goes away (or the HTTP
        // timeout) cannot stop a payment half-way.
        let (state2, caller2, request_id2) = (state.clone(), caller.clone(), request_id.clone());
        let work = tokio::spawn(async move {
            let planned = match &body {
                PaymentIn::Mpm(b) => plan_mpm(&state2, &caller2, b).await,
                PaymentIn::Cpm(b) => plan_cpm(&state2, &caller2, b).await,
            };
            match planned {
                Ok(plan) => execute(&state2, &caller2, &request_id2, plan).await,
                Err(Flow::Fault(e)) => Err(e),
                Err(Flow::Refused(Refusal(result))) => Ok(PaymentAnswer {
                    result,
                    payment: None,
                }),
            }
        });
        let answer = work.await.map_err(|e| ApiError::internal(&e))??;
        Ok((
            StatusCode::OK,
            serde_json::to_value(answer).map_err(|e| ApiError::internal(&e))?,
        ))
    })
    .await
}

async fn plan_mpm(state: &AppState, caller: &SignedCaller, body: &MpmIn) -> Result<Plan, Flow> {
    let target = mpm_target(state, &body.code, &body.request_id).await?;
    if body.amount.currency != target.currency {
        return Err(refuse(
            "CURRENCY_MISMATCH",
            format!(
                "the merchant takes {}, not {}",
                target.currency, body.amount.currency
            ),
        )
        .into());
    }
    if target.dynamic
        && let Some(fixed) = target.amount
        && fixed != body.amount
    {
        return Err(refuse(
            "AMOUNT_MISMATCH",
            format!(
                "the code is for {} minor units, not {}",
                fixed.minor, body.amount.minor
            ),
        )
        .into());
    }
    let direction = direction_of(state, &body.payer.country, &target.merchant.country)?;
    let wallet = &caller.participant;
    let payer_currency = currency_of(&wallet.record.settlement_currency, "settlement_currency")?;
    let order_id = if target.dynamic {
        target.order_id.clone()
    } else {
        None
    };
    let (payer_amount, fx) = if payer_currency == target.currency {
        (body.amount, None)
    } else {
        let quote_id = body.quote_id.as_deref().ok_or_else(|| {
            refuse(
                "QUOTE_REQUIRED",
                format!("the wallet pays in {payer_currency}: give a quote_id"),
            )
        })?;
        let merchant_ref = match &order_id {
            Some(o) => format!("order:{o}"),
            None => format!("merchant:{}", target.merchant.gateway_merchant_id),
        };
        let used = state
            .store
            .fx_quote_use(
                quote_id,
                caller.id(),
                &body.payer.id,
                &merchant_ref,
                payer_currency.code(),
                target.currency.code(),
                body.amount.minor,
                &body.request_id,
                now_ms(),
            )
            .await
            .map_err(|e| internal(&e))?;
        let row = match used {
            QuoteUse::Used(row) => *row,
            QuoteUse::NotFound => {
                return Err(refuse("QUOTE_NOT_FOUND", "no such quote of yours").into());
            }
            QuoteUse::AlreadyUsed => {
                return Err(refuse("QUOTE_USED", "the quote was used already").into());
            }
            QuoteUse::Expired => {
                return Err(refuse("QUOTE_EXPIRED", "the quote has expired").into());
            }
            QuoteUse::Mismatch(field) => {
                return Err(refuse(
                    "QUOTE_MISMATCH",
                    format!("the quote is for another {field}"),
                )
                .into());
            }
        };
        let split = split_of(&row, body.amount)?;
        (
            Money::new(row.pay_minor, payer_currency),
            Some((row, split)),
        )
    };
    let wallet_peer = peer_of(state, caller.id())
        .await?
        .map(|(_, p)| p)
        .ok_or_else(|| internal(&"the caller vanished"))?;
    let fee = fee_of(
        state,
        &body.payer.country,
        &target.merchant,
        FeeMode::Mpm,
        body.amount,
    );
    Ok(Plan {
        mode: Mode::Mpm,
        direction,
        wallet: caller.id().to_string(),
        wallet_peer,
        acquirer: target.acquirer.record.id.clone(),
        acquirer_peer: target.acquirer_peer,
        merchant: target.merchant,
        registry_id: target.registry_id,
        order_id,
        merchant_amount: body.amount,
        payer_amount,
        payer_country: body.payer.country.to_ascii_uppercase(),
        fx,
        fee,
        payer: model::Payer {
            id: body.payer.id.clone(),
            name: body.payer.name.clone(),
            country: body.payer.country.to_ascii_uppercase(),
        },
        payment_code: String::new(),
        purpose: purpose_of(body.purpose.as_deref())?,
    })
}

/// The FX legs of a used quote.
fn split_of(row: &store::QuoteRow, receive: Money) -> Result<FxSplit, Flow> {
    let from = Currency::parse(&row.from_currency).map_err(|e| internal(&e))?;
    let price = Price::from_fraction(from, receive.currency, &row.price_num, &row.price_den)
        .map_err(|e| internal(&e))?;
    let bps = u32::try_from(row.markup_bps).map_err(|e| internal(&e))?;
    money::fx_split(receive, &price, bps, row.pay_minor).map_err(|e| internal(&e))
}

fn fee_of(
    state: &AppState,
    payer_country: &str,
    merchant: &MerchantOut,
    mode: FeeMode,
    amount: Money,
) -> Fee {
    state
        .fees
        .fee(&ledger::fees::Payment {
            payer_country,
            merchant_country: &merchant.country,
            mcc: &merchant.mcc,
            mode,
            amount_minor: amount.minor,
        })
        .unwrap_or(Fee {
            discount: 0,
            acquirer: 0,
            wallet: 0,
            gateway: 0,
            scheme: 0,
            rule: 0,
        })
}

/// The ledger's legs of a payment: the reservation (pending), and the
/// fees posted with it on success.
fn legs(id: &str, plan: &Plan, expires_at_ms: i64) -> (Vec<Transfer>, Vec<Transfer>) {
    let (p, m) = (plan.payer_amount.currency, plan.merchant_amount.currency);
    let wallet_p = AccountId::new(&plan.wallet, Kind::Settlement, p);
    let acquirer_m = AccountId::new(&plan.acquirer, Kind::Settlement, m);
    let pending = Phase::Pending { expires_at_ms };
    let t = |leg: &str,
             debit: &AccountId,
             credit: &AccountId,
             amount: i64,
             code: Code,
             phase: &Phase| Transfer {
        id: format!("{id}:{leg}"),
        debit: debit.clone(),
        credit: credit.clone(),
        amount,
        code,
        reference: id.to_string(),
        phase: phase.clone(),
    };
    let mut reserve = Vec::new();
    match &plan.fx {
        None => reserve.push(t(
            "pay",
            &wallet_p,
            &acquirer_m,
            plan.merchant_amount.minor,
            Code::Payment,
            &pending,
        )),
        Some((row, split)) => {
            let provider_p = AccountId::new(&row.provider_id, Kind::Settlement, p);
            let provider_m = AccountId::new(&row.provider_id, Kind::Settlement, m);
            reserve.push(t(
                "fx-in",
                &wallet_p,
                &provider_p,
                split.provider,
                Code::FxLeg,
                &pending,
            ));
            reserve.push(t(
                "markup",
                &wallet_p,
                &AccountId::gateway(Kind::FxMarkup, p),
                split.markup,
                Code::Markup,
                &pending,
            ));
            reserve.push(t(
                "rounding",
                &wallet_p,
                &AccountId::gateway(Kind::Rounding, p),
                split.rounding,
                Code::Rounding,
                &pending,
            ));
            reserve.push(t(
                "fx-out",
                &provider_m,
                &acquirer_m,
                plan.merchant_amount.minor,
                Code::FxLeg,
                &pending,
            ));
        }
    }
    let fees = fee_legs(
        id,
        &plan.wallet,
        &plan.acquirer,
        m,
        plan.fee.gateway.saturating_add(plan.fee.scheme),
        plan.fee.wallet,
    );
    (reserve.into_iter().filter(|t| t.amount > 0).collect(), fees)
}

/// The fees a payment posts on success, from the acquirer's settlement
/// account in the merchant's currency `m`: the gateway's share with the
/// scheme fee, and the wallet's share. Empty legs are left out.
pub(crate) fn fee_legs(
    id: &str,
    wallet: &str,
    acquirer: &str,
    m: Currency,
    gateway_and_scheme: i64,
    wallet_share: i64,
) -> Vec<Transfer> {
    let acquirer_m = AccountId::new(acquirer, Kind::Settlement, m);
    [
        (
            "fee-gateway",
            AccountId::gateway(Kind::FeeIncome, m),
            gateway_and_scheme,
        ),
        (
            "fee-wallet",
            AccountId::new(wallet, Kind::Settlement, m),
            wallet_share,
        ),
    ]
    .into_iter()
    .filter(|(_, _, amount)| *amount > 0)
    .map(|(leg, credit, amount)| Transfer {
        id: format!("{id}:{leg}"),
        debit: acquirer_m.clone(),
        credit,
        amount,
        code: Code::Fee,
        reference: id.to_string(),
        phase: Phase::Single,
    })
    .collect()
}

/// Every account a payment's legs touch, opened if new: participants'
/// settlement accounts with no headroom until the operator gives them a
/// cap or prefunding (an unknown wallet cannot overdraw), FX providers' and
/// the gateway's with none.
async fn open_accounts(state: &AppState, plan: &Plan, transfers: &[Transfer]) -> Result<(), Flow> {
    let accounts: Vec<(AccountId, Option<i64>)> = transfers
        .iter()
        .flat_map(|t| [&t.debit, &t.credit])
        .map(|a| {
            let capped =
                a.kind == Kind::Settlement && (a.owner == plan.wallet || a.owner == plan.acquirer);
            (a.clone(), capped.then_some(0))
        })
        .collect();
    state
        .store
        .ledger_open_many(&accounts, now_ms())
        .await
        .map_err(|e| internal(&e))
}

/// The posts (or voids) that close `transfers`, a reservation.
pub(crate) fn closing(transfers: &[Transfer], post: bool) -> Vec<Transfer> {
    transfers
        .iter()
        .map(|t| Transfer {
            id: format!("{}:{}", t.id, if post { "post" } else { "void" }),
            phase: if post {
                Phase::Post {
                    pending_id: t.id.clone(),
                }
            } else {
                Phase::Void {
                    pending_id: t.id.clone(),
                }
            },
            ..t.clone()
        })
        .collect()
}

/// Run a planned payment: persist it, reserve, call the downstream, post
/// or void, answer.
async fn execute(
    state: &AppState,
    caller: &SignedCaller,
    request_id: &str,
    plan: Plan,
) -> Result<PaymentAnswer, ApiError> {
    let now = now_ms();
    let id = format!("pay-{}", uuid::Uuid::now_v7().simple());
    let node = state.node_id.as_str();
    let fail = |e: StoreError| ApiError::internal(&e);
    let fee = plan.fee;
    let acquirer_gets = plan.merchant_amount.minor.saturating_sub(
        fee.gateway
            .saturating_add(fee.scheme)
            .saturating_add(fee.wallet),
    );
    let facts = RiskFacts {
        mode: plan.mode.as_str(),
        direction: plan.direction.as_str(),
        wallet: &plan.wallet,
        acquirer: &plan.acquirer,
        payer_country: &plan.payer_country,
        merchant_country: &plan.merchant.country,
        mcc: &plan.merchant.mcc,
        merchant_amount: plan.merchant_amount,
        payer_amount: plan.payer_amount,
    };
    // The rules in force (docs/risk.md); the payer is known now in MPM,
    // at the wallet's authorisation in CPM.
    let reporting_minor = crate::fx::reporting_amount(state, plan.merchant_amount)
        .await?
        .map_or(0, |m| m.minor);
    let screened = crate::risk_rules::screen_payment(
        state,
        &id,
        // The payer is known now in MPM only.
        risk_facts(
            &plan,
            reporting_minor,
            (plan.mode == Mode::Mpm).then(|| plan.payer.clone()),
        ),
        crate::risk_rules::Moment::BeforeMoney,
    )
    .await?;
    if let Some(d) = screened
        && d.action == risk::Action::Decline
    {
        let rules: Vec<&str> = d.fired().map(|o| o.rule.as_str()).collect();
        tracing::info!(payment = %id, rules = ?rules, "risk rules declined a payment");
        return Ok(PaymentAnswer {
            result: Outcome::new(
                "RISK_DECLINED",
                format!(
                    "declined by risk rules: {} (payment {id})",
                    rules.join(", ")
                ),
            ),
            payment: None,
        });
    }
    if let RiskDecision::Decline { rules } = state.risk.decide(&facts) {
        tracing::info!(rules = ?rules, "risk declined a payment");
        return Ok(PaymentAnswer {
            result: Outcome::new(
                "RISK_DECLINED",
                format!("declined by risk rules: {}", rules.join(", ")),
            ),
            payment: None,
        });
    }
    if acquirer_gets < 1 {
        return Ok(PaymentAnswer {
            result: Outcome::new(
                "AMOUNT_TOO_SMALL",
                format!(
                    "the fee ({} minor units) takes the whole amount",
                    plan.merchant_amount.minor.saturating_sub(acquirer_gets)
                ),
            ),
            payment: None,
        });
    }
    if let Some(order) = &plan.order_id
        && !state
            .store
            .order_claim(&plan.acquirer, order, &id, now)
            .await
            .map_err(fail)?
    {
        return Ok(PaymentAnswer {
            result: Outcome::new("ORDER_USED", format!("order {order} was paid already")),
            payment: None,
        });
    }
    // Until the downstream call is made, an error gives the order back.
    let mut sent = false;
    let outcome = async {
        let (reserve, fees) = legs(
            &id,
            &plan,
            now.saturating_add(state.payments.reservation_ttl_s.saturating_mul(1000)),
        );
        let (p, m) = (plan.payer_amount.currency, plan.merchant_amount.currency);
        let terms = PaymentTerms {
            payment_id: id.clone(),
            merchant_name: plan.merchant.name.clone(),
            acquirer_merchant_id: plan.merchant.merchant_id.clone(),
            merchant_country: plan.merchant.country.clone(),
            mcc: plan.merchant.mcc.clone(),
            payer_country: plan.payer_country.clone(),
            fx_provider: plan.fx.as_ref().map(|(r, _)| r.provider_id.clone()),
            fx_rate: plan.fx.as_ref().map(|(r, _)| r.rate.clone()),
            markup_bps: plan.fx.as_ref().map(|(r, _)| r.markup_bps),
            fx_provider_minor: plan.fx.as_ref().map_or(0, |(_, s)| s.provider),
            fx_markup_minor: plan.fx.as_ref().map_or(0, |(_, s)| s.markup),
            fx_rounding_minor: plan.fx.as_ref().map_or(0, |(_, s)| s.rounding),
            fee_discount: fee.discount,
            fee_acquirer: fee.acquirer,
            fee_wallet: fee.wallet,
            fee_gateway: fee.gateway,
            fee_scheme: fee.scheme,
            created_at_ms: now,
            payer_residency: plan.payer_country.clone(),
            merchant_residency: plan.merchant.country.clone(),
            purpose: plan.purpose.clone(),
        };
        state.store.payment_terms_put(&terms).await.map_err(fail)?;
        // Too small to show in the reporting currency: not reported.
        let reporting = crate::fx::reporting_amount(state, plan.merchant_amount)
            .await?
            .filter(|m| m.minor > 0);
        let clearing = clearing_date(&state.payments, now).map_err(|e| ApiError::internal(&e))?;
        let new = NewPayment {
            id: id.clone(),
            mode: plan.mode,
            direction: plan.direction,
            wallet: plan.wallet.clone(),
            acquirer: plan.acquirer.clone(),
            merchant_id: plan.registry_id.clone(),
            initiator: caller.id().to_string(),
            request_id: request_id.to_string(),
            order_id: plan.order_id.clone(),
            merchant_amount: plan.merchant_amount,
            payer_amount: Some(plan.payer_amount),
            wallet_settlement_amount: Some(plan.payer_amount),
            acquirer_settlement_amount: Some(Money::new(acquirer_gets, m)),
            reporting_amount: reporting,
            quote_id: plan.fx.as_ref().map(|(r, _)| r.id.clone()),
            clearing_date: Some(clearing),
        };
        state
            .store
            .payment_create(new, node, now)
            .await
            .map_err(fail)?;
        let mut version = 1i64;
        let step = |event: Event, detail: String, version: i64| {
            let id = id.clone();
            async move {
                state
                    .store
                    .payment_transition(&id, version, &event, &detail, node, now_ms())
                    .await
                    .map_err(|e| ApiError::internal(&e))
            }
        };
        let release_order = || async {
            if let Some(order) = &plan.order_id {
                let _ = state.store.order_release(&plan.acquirer, order, &id).await;
            }
        };

        // Reserve the payer's side within its cap.
        open_accounts(
            state,
            &plan,
            &[reserve.as_slice(), fees.as_slice()].concat(),
        )
        .await
        .map_err(flow_fault)?;
        match state.store.ledger_apply(reserve.clone(), now_ms()).await {
            Ok(()) => {}
            Err(StoreError::LimitExceeded(account)) => {
                step(Event::ReserveRefused, format!("cap: {account}"), version).await?;
                release_order().await;
                return finish(
                    state,
                    &id,
                    Outcome::new(
                        "CAP_EXCEEDED",
                        format!(
                            "the wallet's net debit cap or prefunding in {p} does not cover it"
                        ),
                    ),
                )
                .await;
            }
            Err(e) => return Err(ApiError::internal(&e)),
        }
        step(Event::ReserveOk, String::new(), version).await?;
        version += 1;
        crate::faults::point("after_reserve").await;

        // The downstream call: pay (MPM, the acquirer) or authorize (CPM, the wallet).
        let (peer, purpose, message) = match plan.mode {
            Mode::Mpm => {
                step(Event::CreditSent, String::new(), version).await?;
                let rid = outbound_id(state, &format!("pay:{id}"), &plan.acquirer, Call::Pay, &id)
                    .await?;
                let payer = plan.payer.clone();
                (
                    &plan.acquirer_peer,
                    "pay",
                    Message::Pay(model::Pay {
                        request_id: rid,
                        payment_id: id.clone(),
                        mode: "mpm".into(),
                        merchant_id: plan.merchant.merchant_id.clone(),
                        order_id: plan.order_id.clone(),
                        amount: plan.merchant_amount,
                        payer,
                    }),
                )
            }
            Mode::Cpm => {
                step(Event::AuthorizeSent, String::new(), version).await?;
                let rid = outbound_id(
                    state,
                    &format!("authorize:{id}"),
                    &plan.wallet,
                    Call::Authorize,
                    &id,
                )
                .await?;
                (
                    &plan.wallet_peer,
                    "authorize",
                    Message::Authorize(model::Authorize {
                        request_id: rid,
                        payment_id: id.clone(),
                        payment_code: plan.payment_code.clone(),
                        amount: plan.payer_amount,
                        merchant_id: plan.merchant.merchant_id.clone(),
                        merchant_name: plan.merchant.name.clone(),
                        merchant_country: plan.merchant.country.clone(),
                    }),
                )
            }
        };
        version += 1;
        sent = true;
        let reply = match state.connectors.call(peer, &message).await {
            Ok(reply) => reply,
            // Our side failed before sending (the outbound log, the peer's
            // URL): certainly nothing happened downstream.
            Err(e) => connector::Reply {
                outcome: connector::Outcome::new(
                    connector::Status::F,
                    "PARTICIPANT_UNAVAILABLE",
                    e.to_string(),
                ),
                fields: serde_json::Map::new(),
                sent: false,
                attempts: 0,
            },
        };
        crate::faults::point("after_send").await;
        let detail = format!(
            "{purpose}: {} {}",
            reply.outcome.status.as_str(),
            reply.outcome.code
        );
        // The resolver may have finished the payment meanwhile (this
        // request outlived `min_age_ms`): the books are then brought to the
        // same end from what the ledger holds, and the answer is the
        // payment as stored.
        let settled = |event: Event| {
            let (id, detail) = (id.clone(), detail.clone());
            async move {
                match state
                    .store
                    .payment_transition(&id, version, &event, &detail, node, now_ms())
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(StoreError::Conflict(_)) => Ok(false),
                    Err(e) => Err(ApiError::internal(&e)),
                }
            }
        };
        // CPM: the wallet has named its payer; the payer's rules run now,
        // and a decline reverses the authorisation.
        if plan.mode == Mode::Cpm
            && reply.outcome.status == model::Status::S
            && let Some(answer) =
                payer_declined(state, &id, &plan, reporting_minor, &reply.fields, version).await?
        {
            return Ok(answer);
        }
        match reply.outcome.status {
            model::Status::S => {
                let mut closing_legs = closing(&reserve, true);
                closing_legs.extend(fees);
                match state.store.ledger_apply(closing_legs, now_ms()).await {
                    Ok(()) => {}
                    Err(StoreError::Conflict(_)) => {
                        crate::recovery::books(state, &id, crate::recovery::Books::Post).await?
                    }
                    Err(e) => return Err(fail(e)),
                }
                if !settled(Event::DownstreamOk).await? {
                    return current(state, &id).await;
                }
                crate::faults::point("after_success").await;
                finish(state, &id, Outcome::success()).await
            }
            model::Status::F => {
                match state
                    .store
                    .ledger_apply(closing(&reserve, false), now_ms())
                    .await
                {
                    Ok(()) => {}
                    Err(StoreError::Conflict(_)) => {
                        crate::recovery::books(state, &id, crate::recovery::Books::Void).await?
                    }
                    Err(e) => return Err(fail(e)),
                }
                if !settled(Event::DownstreamDeclined).await? {
                    return current(state, &id).await;
                }
                release_order().await;
                let outcome = if !reply.sent {
                    Outcome::new(
                        "PARTICIPANT_UNAVAILABLE",
                        format!("{}: {}", peer.id, reply.outcome.message),
                    )
                } else if plan.mode == Mode::Mpm {
                    Outcome::new(
                        "PAYEE_DECLINED",
                        format!("the acquirer declined: {}", reply.outcome.code),
                    )
                } else {
                    Outcome::new(
                        "PAYER_DECLINED",
                        format!("the wallet declined: {}", reply.outcome.code),
                    )
                };
                finish(state, &id, outcome).await
            }
            model::Status::U => {
                // The reservation stays: the outcome is resolved by inquiry,
                // and never released by expiry (it moves to suspense).
                if !settled(Event::DownstreamUnknown).await? {
                    return current(state, &id).await;
                }
                finish(
                    state,
                    &id,
                    Outcome::new(
                        "OUTCOME_UNKNOWN",
                        format!("{} did not say: {}", peer.id, reply.outcome.code),
                    ),
                )
                .await
            }
        }
    }
    .await;
    if outcome.is_err()
        && !sent
        && let Some(order) = &plan.order_id
    {
        let _ = state.store.order_release(&plan.acquirer, order, &id).await;
    }
    outcome
}

/// What the risk rules see of a planned payment; `payer` when it is known.
fn risk_facts(
    plan: &Plan,
    reporting_minor: i64,
    payer: Option<model::Payer>,
) -> crate::risk_rules::PaymentFacts {
    crate::risk_rules::PaymentFacts {
        wallet: plan.wallet.clone(),
        acquirer: plan.acquirer.clone(),
        payer_country: payer
            .as_ref()
            .filter(|p| !p.country.is_empty())
            .map_or_else(
                || plan.payer_country.clone(),
                |p| p.country.to_ascii_uppercase(),
            ),
        payer_id: payer.as_ref().map(|p| p.id.clone()),
        payer_name: payer.map(|p| p.name).filter(|n| !n.is_empty()),
        merchant_id: plan
            .registry_id
            .clone()
            .unwrap_or_else(|| plan.merchant.merchant_id.clone()),
        merchant_name: plan.merchant.name.clone(),
        merchant_country: plan.merchant.country.clone(),
        mcc: plan.merchant.mcc.clone(),
        amount_minor: reporting_minor,
    }
}

/// CPM's second moment: the payer the wallet named, screened by the
/// payer's rules. On a decline the payment is cancelled — the
/// authorisation reversed with the wallet, the reservation voided — and
/// answered `F RISK_DECLINED`; if the wallet does not confirm the cancel,
/// the payment stays `cancelling` for the resolver.
async fn payer_declined(
    state: &AppState,
    id: &str,
    plan: &Plan,
    reporting: i64,
    fields: &serde_json::Map<String, serde_json::Value>,
    version: i64,
) -> Result<Option<PaymentAnswer>, ApiError> {
    let payer = fields.get("payer");
    let text = |k: &str| {
        payer
            .and_then(|p| p.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let Some(payer_id) = text("id") else {
        return Ok(None);
    };
    let decision = crate::risk_rules::screen_payment(
        state,
        id,
        risk_facts(
            plan,
            reporting,
            Some(model::Payer {
                id: payer_id,
                name: text("name").unwrap_or_default(),
                country: text("country").unwrap_or_else(|| plan.payer_country.clone()),
            }),
        ),
        crate::risk_rules::Moment::Authorisation,
    )
    .await?;
    let Some(d) = decision.filter(|d| d.action == risk::Action::Decline) else {
        return Ok(None);
    };
    let rules: Vec<&str> = d.fired().map(|o| o.rule.as_str()).collect();
    tracing::info!(payment = %id, rules = ?rules, "payer rules declined an authorised payment");
    let node = state.node_id.as_str();
    let fail = |e: StoreError| ApiError::internal(&e);
    state
        .store
        .payment_transition(
            id,
            version,
            &Event::CancelRequested,
            &format!("risk: payer rules {}", rules.join(", ")),
            node,
            now_ms(),
        )
        .await
        .map_err(fail)?;
    let record = state
        .store
        .payment_get(id)
        .await
        .map_err(fail)?
        .ok_or_else(|| ApiError::internal(&"the payment vanished"))?;
    match crate::recovery::send_cancel(state, &record).await? {
        Ok(()) => {
            crate::recovery::books(state, id, crate::recovery::Books::Reverse).await?;
            state
                .store
                .payment_transition(
                    id,
                    record.version,
                    &Event::CancelConfirmed,
                    "cancel confirmed",
                    node,
                    now_ms(),
                )
                .await
                .map_err(fail)?;
            if let Some(order) = &plan.order_id {
                let _ = state.store.order_release(&plan.acquirer, order, id).await;
            }
        }
        Err(detail) => {
            state
                .store
                .payment_transition(
                    id,
                    record.version,
                    &Event::CancelFailed,
                    &detail,
                    node,
                    now_ms(),
                )
                .await
                .map_err(fail)?;
        }
    }
    let answer = finish(
        state,
        id,
        Outcome::new(
            "RISK_DECLINED",
            format!("declined by risk rules on the payer: {}", rules.join(", ")),
        ),
    )
    .await?;
    Ok(Some(answer))
}

fn flow_fault(f: Flow) -> ApiError {
    match f {
        Flow::Fault(e) => e,
        Flow::Refused(Refusal(o)) => ApiError::internal(&o.message),
    }
}

pub(crate) async fn outbound_id(
    state: &AppState,
    purpose: &str,
    participant: &str,
    call: Call,
    payment: &str,
) -> Result<String, ApiError> {
    state
        .store
        .outbound_request_id(
            purpose,
            &format!("out-{}", uuid::Uuid::now_v7().simple()),
            participant,
            call.as_str(),
            Some(payment),
            now_ms(),
        )
        .await
        .map_err(|e| ApiError::internal(&e))
}

/// The answer about a stored payment.
pub(crate) async fn answer_of(
    state: &AppState,
    record: &PaymentRecord,
    result: Outcome,
) -> Result<PaymentAnswer, ApiError> {
    Ok(PaymentAnswer {
        result,
        payment: Some(render(state, record).await?),
    })
}

/// The answer about a payment as it stands now (someone else moved it).
async fn current(state: &AppState, id: &str) -> Result<PaymentAnswer, ApiError> {
    let record = state
        .store
        .payment_get(id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::internal(&"the payment vanished"))?;
    Ok(PaymentAnswer {
        result: inquiry_result(record.state),
        payment: Some(render(state, &record).await?),
    })
}

/// The answer about a payment as stored now.
async fn finish(state: &AppState, id: &str, result: Outcome) -> Result<PaymentAnswer, ApiError> {
    let record = state
        .store
        .payment_get(id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::internal(&"the payment vanished"))?;
    Ok(PaymentAnswer {
        result,
        payment: Some(render(state, &record).await?),
    })
}

pub(crate) async fn render(state: &AppState, r: &PaymentRecord) -> Result<PaymentOut, ApiError> {
    let terms = state
        .store
        .payment_terms_get(&r.payment.id)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let p = &r.payment;
    let m = p.merchant_amount.currency;
    let fx = terms.as_ref().and_then(|t| {
        Some(FxOut {
            quote_id: p.quote_id.clone(),
            provider: t.fx_provider.clone()?,
            rate: t.fx_rate.clone()?,
            markup_bps: t.markup_bps.unwrap_or(0),
        })
    });
    let fees = terms.as_ref().map(|t| FeesOut {
        total: Money::new(t.fee_discount.saturating_add(t.fee_scheme), m),
        acquirer: Money::new(t.fee_acquirer, m),
        wallet: Money::new(t.fee_wallet, m),
        gateway: Money::new(t.fee_gateway, m),
        scheme: Money::new(t.fee_scheme, m),
    });
    Ok(PaymentOut {
        id: p.id.clone(),
        request_id: p.request_id.clone(),
        initiator: p.initiator.clone(),
        mode: p.mode.as_str(),
        state: r.state.as_str(),
        direction: p.direction.as_str(),
        wallet: p.wallet.clone(),
        acquirer: p.acquirer.clone(),
        merchant_id: terms
            .as_ref()
            .map(|t| t.acquirer_merchant_id.clone())
            .or_else(|| p.merchant_id.clone()),
        gateway_merchant_id: p.merchant_id.clone(),
        order_id: p.order_id.clone(),
        amounts: AmountsOut {
            merchant: p.merchant_amount,
            payer: p.payer_amount,
            reporting: p.reporting_amount,
            wallet_settlement: p.wallet_settlement_amount,
            acquirer_settlement: p.acquirer_settlement_amount,
        },
        fx,
        fees,
        clearing_date: p.clearing_date.clone(),
        created_at: sign::rfc3339_ms(r.created_at_ms),
    })
}

async fn plan_cpm(state: &AppState, caller: &SignedCaller, body: &CpmIn) -> Result<Plan, Flow> {
    let subject = routing::subject_of(&body.payment_code).map_err(|e| {
        ApiError::new(
            "CODE_INVALID",
            format!("the payment code does not decode: {}", e.code),
        )
        .field("payment_code")
    })?;
    if subject.side() != routing::Side::Wallet {
        return Err(ApiError::new("CODE_INVALID", "not a payer's payment code")
            .field("payment_code")
            .into());
    }
    let routed = crate::routes::route_subject(state, &subject).await?;
    let wallet_id = match routed.outcome {
        Ok(r) => r.participant_id,
        Err(routing::ResolveError::NotFound { .. }) => {
            return Err(refuse("ROUTE_NOT_FOUND", "no wallet issues this payment code").into());
        }
        Err(e @ routing::ResolveError::Ambiguous { .. }) => {
            return Err(refuse("ROUTE_AMBIGUOUS", e.to_string()).into());
        }
    };
    let Some((wallet, wallet_peer)) = peer_of(state, &wallet_id).await? else {
        return Err(refuse("ROUTE_NOT_FOUND", "the route names no participant").into());
    };
    if !carries_traffic(&wallet) {
        return Err(refuse(
            "PARTICIPANT_UNAVAILABLE",
            "the wallet does not take traffic now",
        )
        .into());
    }
    let registered = state
        .store
        .merchant_of_acquirer(caller.id(), &body.merchant_id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| {
            refuse(
                "MERCHANT_NOT_FOUND",
                format!("no merchant {} of yours is registered", body.merchant_id),
            )
        })?;
    let merchant = MerchantOut {
        merchant_id: registered.merchant.acquirer_merchant_id.clone(),
        gateway_merchant_id: registered.id.clone(),
        name: registered.merchant.name.clone(),
        mcc: registered.merchant.mcc.clone(),
        city: registered.merchant.city.clone(),
        country: registered.merchant.country.to_ascii_uppercase(),
    };
    // The payer is known only once its wallet authorises: until then its
    // country is its wallet's (SPEC §1: the wallet's issuing country).
    let payer_country = wallet.record.country.to_ascii_uppercase();
    let direction = direction_of(state, &payer_country, &merchant.country)?;
    let payer_currency = currency_of(&wallet.record.settlement_currency, "settlement_currency")?;
    let (payer_amount, fx) = if payer_currency == body.amount.currency {
        (body.amount, None)
    } else {
        let book = crate::fx::book(state).await?;
        let merchant_ref = format!("order:{}", body.order_id);
        let Some(row) = crate::fx::make_quote(
            state,
            &book,
            &wallet_id,
            "cpm-payer",
            merchant_ref.clone(),
            payer_currency,
            body.amount,
        )
        .await?
        else {
            return Err(refuse(
                "FX_RATE_UNAVAILABLE",
                format!(
                    "no fresh rate converts {payer_currency} to {}",
                    body.amount.currency
                ),
            )
            .into());
        };
        // The gateway's own quote, used at once by this payment.
        let used = state
            .store
            .fx_quote_use(
                &row.id,
                &wallet_id,
                "cpm-payer",
                &merchant_ref,
                payer_currency.code(),
                body.amount.currency.code(),
                body.amount.minor,
                &body.request_id,
                now_ms(),
            )
            .await
            .map_err(|e| internal(&e))?;
        let QuoteUse::Used(row) = used else {
            return Err(internal(&"the gateway's own quote could not be used"));
        };
        let split = split_of(&row, body.amount)?;
        (
            Money::new(row.pay_minor, payer_currency),
            Some((*row, split)),
        )
    };
    let acquirer_peer = peer_of(state, caller.id())
        .await?
        .map(|(_, p)| p)
        .ok_or_else(|| internal(&"the caller vanished"))?;
    let fee = fee_of(state, &payer_country, &merchant, FeeMode::Cpm, body.amount);
    Ok(Plan {
        mode: Mode::Cpm,
        direction,
        wallet: wallet_id,
        wallet_peer,
        acquirer: caller.id().to_string(),
        acquirer_peer,
        registry_id: Some(registered.id),
        merchant,
        order_id: Some(body.order_id.clone()),
        merchant_amount: body.amount,
        payer_amount,
        payer_country: payer_country.clone(),
        fx,
        fee,
        payer: model::Payer {
            id: String::new(),
            name: String::new(),
            country: payer_country,
        },
        payment_code: body.payment_code.clone(),
        purpose: purpose_of(body.purpose.as_deref())?,
    })
}

// ------------------------------------------------------------- inquiry

fn party_of(caller: &SignedCaller, r: &PaymentRecord) -> bool {
    let id = caller.id();
    r.payment.wallet == id || r.payment.acquirer == id
}

/// A payment, for either of its parties.
#[utoipa::path(
    get,
    path = "/v1/payments/{id}",
    tag = "payments",
    security(("signature" = [])),
    params(("id" = String, Path, description = "The gateway's payment id")),
    responses((status = 200, body = PaymentAnswer), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: SignedCaller,
    Path(id): Path<String>,
) -> Result<axum::Json<PaymentAnswer>, ApiError> {
    caller.allow(&state, CallKind::Read, None)?;
    let record = state
        .store
        .payment_get(&id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .filter(|r| party_of(&caller, r))
        .ok_or_else(|| ApiError::new("NOT_FOUND", format!("no payment {id} of yours")))?;
    Ok(axum::Json(PaymentAnswer {
        result: inquiry_result(record.state),
        payment: Some(render(&state, &record).await?),
    }))
}

/// A payment by the caller's own request id.
#[utoipa::path(
    get,
    path = "/v1/payments",
    tag = "payments",
    security(("signature" = [])),
    params(ByRequest),
    responses((status = 200, body = PaymentAnswer), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn by_request(
    State(state): State<AppState>,
    caller: SignedCaller,
    query: Result<Query<ByRequest>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<PaymentAnswer>, ApiError> {
    caller.allow(&state, CallKind::Read, None)?;
    let Query(q) = query.map_err(|e| ApiError::new("BAD_REQUEST", e.body_text()))?;
    let record = state
        .store
        .payment_by_request(caller.id(), &q.request_id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| {
            ApiError::new(
                "NOT_FOUND",
                format!("no payment with request id {}", q.request_id),
            )
        })?;
    Ok(axum::Json(PaymentAnswer {
        result: inquiry_result(record.state),
        payment: Some(render(&state, &record).await?),
    }))
}

/// The result an inquiry answers for a state: `S` succeeded, `F` failed
/// or cancelled, `U` otherwise (still in progress: ask again).
fn inquiry_result(state: PayState) -> Outcome {
    match state {
        PayState::Succeeded => Outcome::success(),
        PayState::Failed => Outcome::new("PAYMENT_FAILED", "the payment failed; nothing moved"),
        PayState::Cancelled => Outcome::new("PAYMENT_CANCELLED", "the payment was reversed"),
        other => Outcome::new(
            "OUTCOME_UNKNOWN",
            format!("the payment is {}", other.as_str()),
        ),
    }
}

/// What the risk step sees of a payment before any money moves.
#[derive(Clone, Debug)]
pub struct RiskFacts<'a> {
    pub mode: &'a str,
    pub direction: &'a str,
    pub wallet: &'a str,
    pub acquirer: &'a str,
    pub payer_country: &'a str,
    pub merchant_country: &'a str,
    pub mcc: &'a str,
    pub merchant_amount: Money,
    pub payer_amount: Money,
}

/// A risk decision (SPEC §2.9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RiskDecision {
    Approve,
    /// Refused, with the rules that fired.
    Decline {
        rules: Vec<String>,
    },
}

/// The risk step of every payment: a port, so the rules engine of the
/// risk issue plugs in here.
pub trait RiskCheck: Send + Sync + std::fmt::Debug {
    fn decide(&self, facts: &RiskFacts<'_>) -> RiskDecision;
}

/// Approves everything: the default until rules are configured.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApproveAll;

impl RiskCheck for ApproveAll {
    fn decide(&self, _: &RiskFacts<'_>) -> RiskDecision {
        RiskDecision::Approve
    }
}

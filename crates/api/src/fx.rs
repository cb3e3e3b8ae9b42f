//! FX over HTTP: providers push rates (`POST /v1/fx/rates`), wallets and
//! acquirers ask for firm quotes (`POST /v1/quotes`) and indicative rates
//! (`GET /v1/fx/indicative`), and the operator keeps the house book,
//! the pivot and the markups (`/v1/admin/fx/…`).
//!
//! The arithmetic is the `money` crate's, the competition the `fx` crate's;
//! this module loads the book from the store and answers.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fx::{MarkupRule, Offer, Quoted};
use money::{Currency, Money, Price, Rate, Rounding};
use participant::{CallKind, Role, Stage};
use serde::{Deserialize, Serialize};
use store::{FxRateRow, MarkupRow, QuoteRow};

use crate::auth::OperatorOnly;
use crate::idempotent::once;
use crate::json::Json;
use crate::problem::ApiError;
use crate::result::Outcome;
use crate::signed::SignedCaller;
use crate::{AppState, now_ms, rfc3339};

/// FX settings from the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FxConfig {
    /// A rate older than this is not used.
    pub staleness_s: i64,
    /// How long a firm quote holds.
    pub quote_ttl_s: i64,
    /// The gateway's own book (rates the operator sets) competes as the
    /// provider `unigate`.
    pub house_book: bool,
    /// Payments also record their amount in this currency (SPEC §6).
    pub reporting_currency: String,
    /// The pivot until the operator sets one.
    pub default_pivot: String,
    /// Most rates in one push.
    pub rates_per_push_max: usize,
    /// How firm quotes are made: `callback` asks each provider that can
    /// price the pair on its `fx-quote` callback (SPEC §4.4); `rates`
    /// treats the pushed rates as firm for their staleness window.
    pub firm_quotes: String,
    /// How long a provider gets to answer `fx-quote`.
    pub quote_timeout_ms: u64,
}

impl Default for FxConfig {
    fn default() -> Self {
        FxConfig {
            staleness_s: 60,
            quote_ttl_s: 60,
            house_book: true,
            reporting_currency: "CNY".into(),
            default_pivot: "USD".into(),
            rates_per_push_max: 200,
            firm_quotes: "callback".into(),
            quote_timeout_ms: 2_000,
        }
    }
}

/// The provider id of the gateway's own book.
pub const HOUSE: &str = "unigate";

/// Decimals of a rate as displayed (conversions use the exact value).
const RATE_PLACES: u32 = 10;

/// A rate as sent and answered.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateIo {
    /// ISO 4217.
    pub base: String,
    /// ISO 4217.
    pub quote: String,
    /// Units of `quote` paid for one `base` (decimal text).
    pub bid: String,
    /// Units of `quote` charged for one `base` (decimal text, not below `bid`).
    pub ask: String,
    #[serde(default)]
    pub source: String,
    /// When the rate was set (RFC 3339; default now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Answers only: who quotes it.
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Answers only: whether it is recent enough to be used.
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub fresh: Option<bool>,
}

/// Rates pushed by a provider.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatesIn {
    pub request_id: String,
    pub rates: Vec<RateIo>,
}

/// Rates set by the operator for the house book.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HouseRatesIn {
    pub rates: Vec<RateIo>,
}

/// What a push did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RatesOut {
    pub result: Outcome,
    pub accepted: usize,
}

/// Rates as listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RatesList {
    pub rates: Vec<RateIo>,
}

fn parse_rate(
    r: &RateIo,
    i: usize,
    provider: &str,
    state: &AppState,
    now: i64,
) -> Result<Quoted, ApiError> {
    let field = |f: &str| format!("rates[{i}].{f}");
    let currency = |f: &str, v: &str| {
        Currency::parse(v)
            .map_err(|e| ApiError::new("FIELD_INVALID", e.to_string()).field(field(f)))
    };
    let rate = |f: &str, v: &str| {
        Rate::parse(v).map_err(|e| ApiError::new("FIELD_INVALID", e.to_string()).field(field(f)))
    };
    let at_ms = match &r.at {
        None => now,
        Some(t) => t
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .map_err(|_| ApiError::new("FIELD_INVALID", "not RFC 3339").field(field("at")))?,
    };
    if at_ms > now + 60_000 {
        return Err(
            ApiError::new("FIELD_INVALID", "a rate cannot be set in the future").field(field("at")),
        );
    }
    // A clock a little ahead is taken as now: a rate dated later would
    // shadow the provider's next pushes.
    let at_ms = at_ms.min(now);
    if now - at_ms > state.fx.staleness_s.saturating_mul(1000) {
        return Err(ApiError::new(
            "FIELD_INVALID",
            format!(
                "older than the staleness limit of {} s",
                state.fx.staleness_s
            ),
        )
        .field(field("at")));
    }
    if r.source.chars().count() > 64 {
        return Err(ApiError::new("FIELD_INVALID", "at most 64 characters").field(field("source")));
    }
    let q = Quoted {
        provider: provider.to_string(),
        base: currency("base", &r.base)?,
        quote: currency("quote", &r.quote)?,
        bid: rate("bid", &r.bid)?,
        ask: rate("ask", &r.ask)?,
        at_ms,
        source: r.source.clone(),
    };
    q.validate()
        .map_err(|e| ApiError::new("FIELD_INVALID", e.to_string()).field(field("bid")))?;
    Ok(q)
}

fn to_row(q: &Quoted) -> FxRateRow {
    FxRateRow {
        provider_id: q.provider.clone(),
        base: q.base.code().into(),
        quote: q.quote.code().into(),
        bid: q.bid.to_string(),
        ask: q.ask.to_string(),
        source: q.source.clone(),
        at_ms: q.at_ms,
    }
}

async fn put_rates(state: &AppState, provider: &str, rates: &[RateIo]) -> Result<usize, ApiError> {
    if rates.is_empty() || rates.len() > state.fx.rates_per_push_max {
        return Err(ApiError::new(
            "FIELD_INVALID",
            format!("1 to {} rates", state.fx.rates_per_push_max),
        )
        .field("rates"));
    }
    let now = now_ms();
    let parsed = rates
        .iter()
        .enumerate()
        .map(|(i, r)| parse_rate(r, i, provider, state, now))
        .collect::<Result<Vec<_>, _>>()?;
    let n = parsed.len();
    state
        .store
        .fx_rates_put(parsed.iter().map(to_row).collect(), now)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(n)
}

/// Push rates (FX providers; idempotent by `request_id`). Each rate is
/// validated whole before any is kept.
#[utoipa::path(
    post,
    path = "/v1/fx/rates",
    security(("signature" = [])),
    request_body = RatesIn,
    responses((status = 200, body = RatesOut), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn push(
    State(state): State<AppState>,
    caller: SignedCaller,
    Json(body): Json<RatesIn>,
) -> Response {
    if let Err(e) = caller.allow(&state, CallKind::Setup, Some(Role::FxProvider)) {
        return e.into_response();
    }
    let request = serde_json::to_value(&body).unwrap_or_default();
    once(
        &state,
        caller.id(),
        "fx.rates",
        &body.request_id,
        &request,
        || async {
            let accepted = put_rates(&state, caller.id(), &body.rates).await?;
            let out = RatesOut {
                result: Outcome::success(),
                accepted,
            };
            Ok((
                StatusCode::OK,
                serde_json::to_value(out).map_err(|e| ApiError::internal(&e))?,
            ))
        },
    )
    .await
}

/// Set rates of the house book (operator).
#[utoipa::path(
    put,
    path = "/v1/admin/fx/rates",
    security(("bearer" = [])),
    request_body = HouseRatesIn,
    responses((status = 200, body = RatesOut), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn house_put(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Json(body): Json<HouseRatesIn>,
) -> Result<axum::Json<RatesOut>, ApiError> {
    let accepted = put_rates(&state, HOUSE, &body.rates).await?;
    Ok(axum::Json(RatesOut {
        result: Outcome::success(),
        accepted,
    }))
}

fn row_out(r: FxRateRow, now: i64, staleness_ms: i64) -> RateIo {
    RateIo {
        fresh: Some(now - r.at_ms <= staleness_ms),
        provider: Some(r.provider_id),
        base: r.base,
        quote: r.quote,
        bid: r.bid,
        ask: r.ask,
        source: r.source,
        at: Some(rfc3339(r.at_ms)),
    }
}

/// A provider's history of one pair.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    pub provider: Option<String>,
    pub base: Option<String>,
    pub quote: Option<String>,
    pub limit: Option<i64>,
}

/// Every provider's current rates, or with `provider`, `base` and `quote`
/// one pair's history, newest first (operator).
#[utoipa::path(
    get,
    path = "/v1/admin/fx/rates",
    security(("bearer" = [])),
    params(HistoryQuery),
    responses((status = 200, body = RatesList))
)]
pub async fn rates_list(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<RatesList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new("BAD_REQUEST", e.body_text()))?;
    let (now, stale) = (now_ms(), state.fx.staleness_s.saturating_mul(1000));
    let rows = match (&q.provider, &q.base, &q.quote) {
        (Some(p), Some(b), Some(qu)) => {
            state
                .store
                .fx_rate_history(p, b, qu, q.limit.unwrap_or(100).clamp(1, 1000))
                .await
        }
        (None, None, None) => state.store.fx_rates_current().await,
        _ => {
            return Err(ApiError::new(
                "FIELD_INVALID",
                "give provider, base and quote together, or none",
            )
            .field("provider"));
        }
    }
    .map_err(|e| ApiError::internal(&e))?;
    Ok(axum::Json(RatesList {
        rates: rows.into_iter().map(|r| row_out(r, now, stale)).collect(),
    }))
}

/// The pivot and the default markup.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FxSettings {
    /// Pairs no provider quotes directly are crossed through it.
    pub pivot: String,
    /// The markup where no rule matches, in basis points.
    pub default_markup_bps: u32,
}

async fn settings(state: &AppState) -> Result<(Currency, u32), ApiError> {
    let pivot = state
        .store
        .fx_setting("pivot")
        .await
        .map_err(|e| ApiError::internal(&e))?
        .unwrap_or_else(|| state.fx.default_pivot.clone());
    let pivot = Currency::parse(&pivot).map_err(|e| ApiError::internal(&e))?;
    let bps = state
        .store
        .fx_setting("default_markup_bps")
        .await
        .map_err(|e| ApiError::internal(&e))?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok((pivot, bps))
}

/// The FX settings (operator).
#[utoipa::path(get, path = "/v1/admin/fx/settings", security(("bearer" = [])), responses((status = 200, body = FxSettings)))]
pub async fn settings_get(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
) -> Result<axum::Json<FxSettings>, ApiError> {
    let (pivot, default_markup_bps) = settings(&state).await?;
    Ok(axum::Json(FxSettings {
        pivot: pivot.code().into(),
        default_markup_bps,
    }))
}

/// Set the pivot and the default markup (operator).
#[utoipa::path(put, path = "/v1/admin/fx/settings", security(("bearer" = [])), request_body = FxSettings, responses((status = 200, body = FxSettings)))]
pub async fn settings_put(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Json(body): Json<FxSettings>,
) -> Result<axum::Json<FxSettings>, ApiError> {
    let pivot = Currency::parse(&body.pivot)
        .map_err(|e| ApiError::new("FIELD_INVALID", e.to_string()).field("pivot"))?;
    if body.default_markup_bps > fx::MARKUP_BPS_MAX {
        return Err(
            ApiError::new("FIELD_INVALID", format!("at most {}", fx::MARKUP_BPS_MAX))
                .field("default_markup_bps"),
        );
    }
    for (name, value) in [
        ("pivot", pivot.code().to_string()),
        ("default_markup_bps", body.default_markup_bps.to_string()),
    ] {
        state
            .store
            .fx_setting_set(name, &value)
            .await
            .map_err(|e| ApiError::internal(&e))?;
    }
    Ok(axum::Json(FxSettings {
        pivot: pivot.code().into(),
        default_markup_bps: body.default_markup_bps,
    }))
}

/// Markup rules, most specific first when they are used.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Markups {
    /// Each rule: optional `participant`, `from` and `to`, and `bps`.
    #[schema(value_type = Vec<Object>)]
    pub rules: Vec<MarkupRule>,
}

fn rules_from(rows: Vec<MarkupRow>) -> Vec<MarkupRule> {
    rows.into_iter()
        .map(|r| MarkupRule {
            participant: (!r.participant_id.is_empty()).then_some(r.participant_id),
            from: Currency::parse(&r.from_currency).ok(),
            to: Currency::parse(&r.to_currency).ok(),
            bps: u32::try_from(r.bps).unwrap_or(0),
        })
        .collect()
}

/// The markup rules (operator).
#[utoipa::path(get, path = "/v1/admin/fx/markups", security(("bearer" = [])), responses((status = 200, body = Markups)))]
pub async fn markups_get(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
) -> Result<axum::Json<Markups>, ApiError> {
    let rows = state
        .store
        .fx_markups()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(axum::Json(Markups {
        rules: rules_from(rows),
    }))
}

/// Replace the markup rules (operator).
#[utoipa::path(put, path = "/v1/admin/fx/markups", security(("bearer" = [])), request_body = Markups, responses((status = 200, body = Markups), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn markups_put(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Json(body): Json<Markups>,
) -> Result<axum::Json<Markups>, ApiError> {
    if body.rules.len() > 1000 {
        return Err(ApiError::new("FIELD_INVALID", "at most 1000 rules").field("rules"));
    }
    let mut rows = Vec::new();
    for (i, r) in body.rules.iter().enumerate() {
        r.validate().map_err(|e| {
            ApiError::new("FIELD_INVALID", e.to_string()).field(format!("rules[{i}].bps"))
        })?;
        rows.push(MarkupRow {
            participant_id: r.participant.clone().unwrap_or_default(),
            from_currency: r.from.map(|c| c.code().to_string()).unwrap_or_default(),
            to_currency: r.to.map(|c| c.code().to_string()).unwrap_or_default(),
            bps: i64::from(r.bps),
        });
    }
    fx::check_rules(&body.rules).map_err(|e| {
        let field = match &e {
            fx::FxError::AmbiguousMarkups(_, j) => format!("rules[{j}]"),
            _ => "rules".to_string(),
        };
        ApiError::new("FIELD_INVALID", e.to_string()).field(field)
    })?;
    state
        .store
        .fx_markups_replace(rows)
        .await
        .map_err(|e| match e {
            store::StoreError::Conflict(m) => ApiError::new("FIELD_INVALID", m).field("rules"),
            other => ApiError::internal(&other),
        })?;
    Ok(axum::Json(body))
}

/// The book as it stands: fresh rates of eligible providers, the pivot and
/// the markups.
pub(crate) struct Book {
    rates: Vec<Quoted>,
    providers: Vec<String>,
    pivot: Currency,
    default_bps: u32,
    rules: Vec<MarkupRule>,
    now: i64,
    staleness_ms: i64,
}

async fn load_book(state: &AppState) -> Result<Book, ApiError> {
    let now = now_ms();
    let rows = state
        .store
        .fx_rates_current()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let rates = rows
        .into_iter()
        .filter_map(|r| {
            Some(Quoted {
                base: Currency::parse(&r.base).ok()?,
                quote: Currency::parse(&r.quote).ok()?,
                bid: Rate::parse(&r.bid).ok()?,
                ask: Rate::parse(&r.ask).ok()?,
                provider: r.provider_id,
                at_ms: r.at_ms,
                source: r.source,
            })
        })
        .collect();
    // Only live FX providers compete (a suspended one, or one still being
    // tested, does not), and the house book when it is enabled.
    let mut providers: Vec<String> = state
        .store
        .participant_list()
        .await
        .map_err(|e| ApiError::internal(&e))?
        .into_iter()
        .filter(|p| p.stage == Stage::Live && p.record.roles.contains(&Role::FxProvider))
        .map(|p| p.record.id)
        .collect();
    if state.fx.house_book {
        providers.push(HOUSE.to_string());
    }
    let (pivot, default_bps) = settings(state).await?;
    let rules = rules_from(
        state
            .store
            .fx_markups()
            .await
            .map_err(|e| ApiError::internal(&e))?,
    );
    Ok(Book {
        rates,
        providers,
        pivot,
        default_bps,
        rules,
        now,
        staleness_ms: state.fx.staleness_s.saturating_mul(1000),
    })
}

/// A priced conversion for a participant: the winning offer and the
/// customer's price after the markup.
struct Priced {
    offer: Offer,
    markup_bps: u32,
    price: Price,
}

impl Book {
    /// The offers the pushed rates make.
    fn offers(&self, from: Currency, to: Currency) -> Vec<Offer> {
        let providers: Vec<&str> = self.providers.iter().map(String::as_str).collect();
        fx::offers(
            &self.rates,
            &providers,
            from,
            to,
            self.pivot,
            self.now,
            self.staleness_ms,
        )
    }

    fn price(&self, participant: &str, from: Currency, to: Currency) -> Option<Priced> {
        self.pick(participant, &self.offers(from, to))
    }

    /// The best of `offers` for the payer, less the markup.
    fn pick(&self, participant: &str, offers: &[Offer]) -> Option<Priced> {
        let offer = fx::best(offers)?.clone();
        let (from, to) = (offer.price.from, offer.price.to);
        let markup_bps = fx::markup_bps(&self.rules, self.default_bps, participant, from, to);
        let price = offer.price.less_markup(markup_bps);
        Some(Priced {
            offer,
            markup_bps,
            price,
        })
    }

    /// `amount` in the reporting currency at the mid rate, if the book can
    /// tell.
    fn reporting(&self, amount: Money, reporting: Currency) -> Option<i64> {
        if amount.currency == reporting {
            return Some(amount.minor);
        }
        // Only eligible providers' fresh rates: the house book's first, then
        // by provider id, so no participant in testing can move it.
        let mut fresh: Vec<&Quoted> = self
            .rates
            .iter()
            .filter(|q| {
                q.fresh_at(self.now, self.staleness_ms) && self.providers.contains(&q.provider)
            })
            .collect();
        fresh.sort_by(|a, b| {
            (a.provider != HOUSE, &a.provider).cmp(&(b.provider != HOUSE, &b.provider))
        });
        let mid = |a: Currency, b: Currency| {
            fresh.iter().find_map(|q| {
                if q.base == a && q.quote == b {
                    Some(q.mid())
                } else if q.base == b && q.quote == a {
                    Some(q.mid().inverse())
                } else {
                    None
                }
            })
        };
        let price = mid(amount.currency, reporting)
            .or_else(|| mid(amount.currency, self.pivot)?.then(&mid(self.pivot, reporting)?))?;
        money::convert(amount, &price, Rounding::HalfEven)
            .ok()
            .map(|c| c.to.minor)
    }
}

/// Who pays: the FATF R16 data of SPEC §4.4.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Payer {
    pub id: String,
    pub name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

impl Payer {
    pub(crate) fn validate(&self) -> Result<(), ApiError> {
        if self.id.is_empty() || self.id.chars().count() > 64 {
            return Err(ApiError::new("FIELD_INVALID", "1 to 64 characters").field("payer.id"));
        }
        if self.name.trim().is_empty()
            || self.name.chars().count() > 140
            || self.name.chars().any(char::is_control)
        {
            return Err(ApiError::new("FIELD_INVALID", "1 to 140 characters").field("payer.name"));
        }
        if rust_iso3166::from_alpha2(&self.country).is_none() {
            return Err(
                ApiError::new("FIELD_INVALID", "an ISO 3166-1 alpha-2 code").field("payer.country")
            );
        }
        Ok(())
    }
}

/// A firm quote asked for.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteIn {
    pub request_id: String,
    pub payer: Payer,
    /// The gateway merchant id (static codes), or …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    /// … the order id (dynamic codes). Exactly one of the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// The payer's currency (ISO 4217).
    pub pay_currency: String,
    /// What the merchant is to receive, in the merchant's currency.
    #[schema(value_type = Object)]
    pub receive: Money,
    /// Test traffic (joint testing).
    #[serde(default)]
    pub test: bool,
}

/// A firm quote.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuoteOut {
    pub result: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote_id: Option<String>,
    /// Units of the receive currency one unit of the pay currency buys,
    /// after the markup (10 decimals; the quote holds the exact value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub markup_bps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// What the payer pays (rounded up to the pay currency's minor unit).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub pay: Option<Money>,
    #[schema(value_type = Object)]
    pub receive: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

fn unavailable(receive: Money, from: Currency) -> QuoteOut {
    QuoteOut {
        result: Outcome::new(
            "FX_RATE_UNAVAILABLE",
            format!("no fresh rate converts {from} to {}", receive.currency),
        ),
        quote_id: None,
        rate: None,
        markup_bps: None,
        provider: None,
        pay: None,
        receive,
        expires_at: None,
    }
}

/// A firm quote for a payment (wallets and acquirers; idempotent by
/// `request_id`): the best fresh offer of the eligible providers, less the
/// gateway's markup, bound to the payer, merchant or order, pair and
/// receive amount, single use until `expires_at`.
#[utoipa::path(
    post,
    path = "/v1/quotes",
    security(("signature" = [])),
    request_body = QuoteIn,
    responses((status = 200, body = QuoteOut), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn quote(
    State(state): State<AppState>,
    caller: SignedCaller,
    Json(body): Json<QuoteIn>,
) -> Response {
    // Bad input and a forbidding stage are refused before anything is kept.
    let prepared = async {
        let (from, receive, merchant_ref) = check_quote(&body)?;
        let book = load_book(&state).await?;
        let reporting =
            Currency::parse(&state.fx.reporting_currency).map_err(|e| ApiError::internal(&e))?;
        let reporting_minor = book.reporting(receive, reporting).unwrap_or(i64::MAX);
        let roles = &caller.participant.record.roles;
        let role = if roles.contains(&Role::Wallet) {
            Role::Wallet
        } else {
            Role::Acquirer
        };
        caller.allow(
            &state,
            CallKind::Payment {
                test: body.test,
                to_simulator: false,
                reporting_minor,
            },
            Some(role),
        )?;
        Ok::<_, ApiError>((from, receive, merchant_ref, book))
    }
    .await;
    let (from, receive, merchant_ref, book) = match prepared {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let request = serde_json::to_value(&body).unwrap_or_default();
    once(
        &state,
        caller.id(),
        "quote",
        &body.request_id,
        &request,
        || async {
            let Some(row) = make_quote(
                &state,
                &book,
                caller.id(),
                &body.payer.id,
                merchant_ref,
                from,
                receive,
            )
            .await?
            else {
                let out = unavailable(receive, from);
                return Ok((
                    StatusCode::OK,
                    serde_json::to_value(out).map_err(|e| ApiError::internal(&e))?,
                ));
            };
            let out = QuoteOut {
                result: Outcome::success(),
                quote_id: Some(row.id),
                rate: Some(row.rate),
                markup_bps: u32::try_from(row.markup_bps).ok(),
                provider: Some(row.provider_id),
                pay: Some(Money::new(row.pay_minor, from)),
                receive,
                expires_at: Some(rfc3339(row.expires_at_ms)),
            };
            Ok((
                StatusCode::OK,
                serde_json::to_value(out).map_err(|e| ApiError::internal(&e))?,
            ))
        },
    )
    .await
}

/// A firm quote for `participant` to pay in `from` so that the merchant
/// receives `receive`, from the best firm offer, stored (unused) and
/// returned; `None` when no provider can price the pair.
pub(crate) async fn make_quote(
    state: &AppState,
    book: &Book,
    participant: &str,
    payer_id: &str,
    merchant_ref: String,
    from: Currency,
    receive: Money,
) -> Result<Option<QuoteRow>, ApiError> {
    let offers = firm_offers(state, book, from, receive).await;
    let Some(priced) = book.pick(participant, &offers) else {
        return Ok(None);
    };
    let pay = money::convert(receive, &priced.price.inverse(), Rounding::Up)
        .map_err(|e| ApiError::new("FIELD_INVALID", e.to_string()).field("receive.value"))?
        .to;
    let now = now_ms();
    let id = format!("q-{}", uuid::Uuid::now_v7().simple());
    let expires = now.saturating_add(state.fx.quote_ttl_s.saturating_mul(1000));
    let row = QuoteRow {
        id: id.clone(),
        participant_id: participant.to_string(),
        provider_id: priced.offer.provider.clone(),
        provider_ref: priced.offer.reference.clone(),
        from_currency: from.code().into(),
        to_currency: receive.currency.code().into(),
        price_num: priced.price.value().numer().to_string(),
        price_den: priced.price.value().denom().to_string(),
        rate: priced.price.to_decimal_string(RATE_PLACES),
        markup_bps: i64::from(priced.markup_bps),
        pay_minor: pay.minor,
        receive_minor: receive.minor,
        payer_id: payer_id.to_string(),
        merchant_ref,
        created_at_ms: now,
        expires_at_ms: expires,
        used_at_ms: None,
        used_by: None,
    };
    state
        .store
        .fx_quote_insert(&row)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    tracing::info!(quote = %id, provider = %priced.offer.provider, from = %from, to = %receive.currency, "quoted");
    Ok(Some(row))
}

/// `amount` in the reporting currency at the rate book's mid rate (SPEC
/// §6), if the book can tell.
pub(crate) async fn reporting_amount(
    state: &AppState,
    amount: Money,
) -> Result<Option<Money>, ApiError> {
    let reporting =
        Currency::parse(&state.fx.reporting_currency).map_err(|e| ApiError::internal(&e))?;
    let book = load_book(state).await?;
    Ok(book
        .reporting(amount, reporting)
        .map(|m| Money::new(m, reporting)))
}

/// An indicative price for `participant` (rate text and what `receive`
/// would cost), if the book can price the pair.
pub(crate) async fn indicative_for(
    state: &AppState,
    participant: &str,
    from: Currency,
    receive: Money,
) -> Result<Option<(String, Money)>, ApiError> {
    let book = load_book(state).await?;
    let Some(priced) = book.price(participant, from, receive.currency) else {
        return Ok(None);
    };
    let pay = money::convert(receive, &priced.price.inverse(), Rounding::Up)
        .map_err(|e| ApiError::new("FIELD_INVALID", e.to_string()))?
        .to;
    Ok(Some((priced.price.to_decimal_string(RATE_PLACES), pay)))
}

/// The rate book as it stands (for the payment flows' own quotes).
pub(crate) async fn book(state: &AppState) -> Result<Book, ApiError> {
    load_book(state).await
}

/// The firm offers for a quote: with `firm_quotes = "callback"`, each
/// provider whose rates can price the pair is asked on its `fx-quote`
/// callback, all at once, each bounded by `quote_timeout_ms`; a provider
/// that does not answer in time, answers unsigned or badly, or declines is
/// left out. The house book's own offer is firm as it stands.
async fn firm_offers(state: &AppState, book: &Book, from: Currency, receive: Money) -> Vec<Offer> {
    let indicative = book.offers(from, receive.currency);
    if state.fx.firm_quotes != "callback" {
        return indicative;
    }
    let mut firm = Vec::new();
    let mut asks = tokio::task::JoinSet::new();
    for offer in indicative {
        if offer.provider == HOUSE {
            firm.push(offer);
            continue;
        }
        let state = state.clone();
        asks.spawn(async move {
            let provider = offer.provider.clone();
            (
                provider,
                ask_provider(&state, &offer.provider, from, receive).await,
            )
        });
    }
    while let Some(done) = asks.join_next().await {
        match done {
            Ok((_, Ok(offer))) => {
                metrics::counter!("unigate_fx_quote_callbacks_total", "outcome" => "firm")
                    .increment(1);
                firm.push(offer);
            }
            Ok((provider, Err(why))) => {
                metrics::counter!("unigate_fx_quote_callbacks_total", "outcome" => "left_out")
                    .increment(1);
                tracing::warn!(%provider, %why, "FX provider left out of a quote");
            }
            Err(e) => tracing::error!(error = %e, "an fx-quote call failed to run"),
        }
    }
    firm
}

/// A provider's firm quote, as its `fx-quote` callback answers (beside its
/// `result`).
#[derive(Debug, Deserialize)]
struct ProviderQuote {
    /// Units of `to` per unit of `from` for the customer.
    rate: Option<String>,
    expires_at: Option<String>,
    #[serde(default)]
    quote_ref: String,
}

/// Ask one provider for a firm quote on its `fx-quote` callback, through
/// the connector (signed by the gateway, its answer verified against the
/// provider's usable keys, its circuit breaker and outbound log), bounded
/// by `quote_timeout_ms` (no retry outlives it).
async fn ask_provider(
    state: &AppState,
    provider: &str,
    from: Currency,
    receive: Money,
) -> Result<Offer, String> {
    let now = now_ms();
    let peer = crate::payments::peer(state, provider)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no such participant")?;
    let message = connector::Message::FxQuote(connector::model::FxQuote {
        request_id: format!("fxq-{}", uuid::Uuid::now_v7().simple()),
        from,
        to: receive.currency,
        receive,
        valid_for_s: state.fx.quote_ttl_s,
    });
    let reply = tokio::time::timeout(
        std::time::Duration::from_millis(state.fx.quote_timeout_ms),
        state.connectors.call(&peer, &message),
    )
    .await
    .map_err(|_| format!("no answer within {} ms", state.fx.quote_timeout_ms))?
    .map_err(|e| e.to_string())?;
    if reply.outcome.status != connector::Status::S {
        return Err(format!(
            "it did not quote: {} {}",
            reply.outcome.status.as_str(),
            reply.outcome.code
        ));
    }
    let q: ProviderQuote = reply.fields_as()?;
    let rate = Rate::parse(q.rate.as_deref().unwrap_or("")).map_err(|e| e.to_string())?;
    let expires = q
        .expires_at
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond())
        .ok_or("no expires_at")?;
    if expires < now.saturating_add(state.fx.quote_ttl_s.saturating_mul(1000)) {
        return Err("its quote expires before the gateway's would".into());
    }
    Ok(Offer {
        provider: provider.to_string(),
        price: Price::new(from, receive.currency, rate),
        at_ms: now,
        reference: q.quote_ref.chars().take(64).collect(),
    })
}

fn check_quote(body: &QuoteIn) -> Result<(Currency, Money, String), ApiError> {
    body.payer.validate()?;
    let from = Currency::parse(&body.pay_currency)
        .map_err(|e| ApiError::new("FIELD_INVALID", e.to_string()).field("pay_currency"))?;
    let receive = body
        .receive
        .positive()
        .map_err(|e| ApiError::new("FIELD_INVALID", e.to_string()).field("receive.value"))?;
    let merchant_ref = match (&body.merchant_id, &body.order_id) {
        (Some(m), None) if !m.is_empty() && m.len() <= 64 => format!("merchant:{m}"),
        (None, Some(o)) if !o.is_empty() && o.len() <= 64 => format!("order:{o}"),
        _ => {
            return Err(ApiError::new(
                "FIELD_INVALID",
                "give exactly one of merchant_id and order_id, 1 to 64 characters",
            )
            .field("merchant_id"));
        }
    };
    Ok((from, receive, merchant_ref))
}

/// An indicative rate asked for.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IndicativeQuery {
    /// The payer's currency.
    pub from: String,
    /// The merchant's currency.
    pub to: String,
    /// Optional: what the merchant is to receive, in minor units of `to`.
    pub receive: Option<String>,
}

/// An indicative rate: no lock, nothing kept.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Indicative {
    pub result: Outcome,
    pub from: String,
    pub to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub pay: Option<Money>,
}

/// The rate a quote would get now, without locking it (for consulting a
/// static code before the payer enters the amount).
#[utoipa::path(
    get,
    path = "/v1/fx/indicative",
    security(("signature" = [])),
    params(IndicativeQuery),
    responses((status = 200, body = Indicative), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn indicative(
    State(state): State<AppState>,
    caller: SignedCaller,
    query: Result<Query<IndicativeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<Indicative>, ApiError> {
    caller.allow(&state, CallKind::Read, None)?;
    let Query(q) = query.map_err(|e| ApiError::new("BAD_REQUEST", e.body_text()))?;
    let from = Currency::parse(&q.from)
        .map_err(|e| ApiError::new("FIELD_INVALID", e.to_string()).field("from"))?;
    let to = Currency::parse(&q.to)
        .map_err(|e| ApiError::new("FIELD_INVALID", e.to_string()).field("to"))?;
    let receive = match &q.receive {
        None => None,
        Some(v) => {
            let minor = (!v.is_empty() && v.len() <= 18 && v.bytes().all(|b| b.is_ascii_digit()))
                .then(|| v.parse::<i64>().ok())
                .flatten()
                .filter(|m| *m > 0)
                .ok_or_else(|| {
                    ApiError::new(
                        "FIELD_INVALID",
                        "1 to 18 digits of minor units, more than zero",
                    )
                    .field("receive")
                })?;
            Some(Money::new(minor, to))
        }
    };
    let book = load_book(&state).await?;
    let Some(priced) = book.price(caller.id(), from, to) else {
        return Ok(axum::Json(Indicative {
            result: Outcome::new(
                "FX_RATE_UNAVAILABLE",
                format!("no fresh rate converts {from} to {to}"),
            ),
            from: from.code().into(),
            to: to.code().into(),
            rate: None,
            provider: None,
            pay: None,
        }));
    };
    let pay = match receive {
        Some(r) => Some(
            money::convert(r, &priced.price.inverse(), Rounding::Up)
                .map_err(|e| ApiError::new("FIELD_INVALID", e.to_string()).field("receive"))?
                .to,
        ),
        None => None,
    };
    Ok(axum::Json(Indicative {
        result: Outcome::success(),
        from: from.code().into(),
        to: to.code().into(),
        rate: Some(priced.price.to_decimal_string(RATE_PLACES)),
        provider: Some(priced.offer.provider),
        pay,
    }))
}

/// Quote history paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QuotesQuery {
    pub participant: Option<String>,
    pub limit: Option<i64>,
}

/// A quote as the operator sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuoteView {
    pub id: String,
    pub participant_id: String,
    pub provider_id: String,
    pub from: String,
    pub to: String,
    pub rate: String,
    pub markup_bps: i64,
    pub pay_minor: i64,
    pub receive_minor: i64,
    pub payer_id: String,
    pub merchant_ref: String,
    pub created_at: String,
    pub expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_by: Option<String>,
}

/// Quotes, newest first (operator).
#[utoipa::path(get, path = "/v1/admin/fx/quotes", security(("bearer" = [])), params(QuotesQuery), responses((status = 200, body = [QuoteView])))]
pub async fn quotes_list(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    query: Result<Query<QuotesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<Vec<QuoteView>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new("BAD_REQUEST", e.body_text()))?;
    let rows = state
        .store
        .fx_quotes_list(
            q.participant.as_deref(),
            q.limit.unwrap_or(100).clamp(1, 1000),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(axum::Json(
        rows.into_iter()
            .map(|r| QuoteView {
                id: r.id,
                participant_id: r.participant_id,
                provider_id: r.provider_id,
                from: r.from_currency,
                to: r.to_currency,
                rate: r.rate,
                markup_bps: r.markup_bps,
                pay_minor: r.pay_minor,
                receive_minor: r.receive_minor,
                payer_id: r.payer_id,
                merchant_ref: r.merchant_ref,
                created_at: rfc3339(r.created_at_ms),
                expires_at: rfc3339(r.expires_at_ms),
                used_at: r.used_at_ms.map(rfc3339),
                used_by: r.used_by,
            })
            .collect(),
    ))
}

//! The operator's view of the books and their money movements:
//! balances (now or at a time), the trial balance, a reference's
//! transfers, debit limits, top-ups and withdrawals
//! (`/v1/admin/ledger/…`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use ledger::{AccountId, Code, Kind, Phase, Transfer};
use money::{Currency, Money};
use serde::{Deserialize, Serialize};
use store::{LedgerAccount, StoreError, TransferRecord};

use crate::auth::OperatorOnly;
use crate::json::Json;
use crate::problem::ApiError;
use crate::{AppState, now_ms, rfc3339};

/// An account and its balance.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountOut {
    /// `owner:kind:CCY`.
    pub id: String,
    pub owner: String,
    pub kind: &'static str,
    pub currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debit_limit: Option<i64>,
    pub debits_pending: i64,
    pub debits_posted: i64,
    pub credits_pending: i64,
    pub credits_posted: i64,
    /// Posted credits less posted debits.
    pub net_posted: String,
    /// What is left under the debit limit, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headroom: Option<String>,
}

impl From<LedgerAccount> for AccountOut {
    fn from(a: LedgerAccount) -> Self {
        let b = a.balance;
        AccountOut {
            id: a.id.key(),
            owner: a.id.owner.clone(),
            kind: a.id.kind.as_str(),
            currency: a.id.currency.code().into(),
            debit_limit: a.debit_limit,
            debits_pending: b.debits_pending,
            debits_posted: b.debits_posted,
            credits_pending: b.credits_pending,
            credits_posted: b.credits_posted,
            net_posted: b.net_posted().to_string(),
            headroom: a
                .debit_limit
                .map(|l| (i128::from(l) - b.exposure()).to_string()),
        }
    }
}

/// Accounts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accounts {
    pub accounts: Vec<AccountOut>,
}

/// Whose accounts.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccountsQuery {
    pub owner: Option<String>,
}

fn internal(e: StoreError) -> ApiError {
    ApiError::internal(&e)
}

/// Every account with its balance, or one owner's (operator).
#[utoipa::path(get, path = "/v1/admin/ledger/accounts", security(("bearer" = [])), params(AccountsQuery), responses((status = 200, body = Accounts)))]
pub async fn accounts(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    query: Result<Query<AccountsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<Accounts>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new("BAD_REQUEST", e.body_text()))?;
    let rows = state
        .store
        .ledger_accounts(q.owner.as_deref())
        .await
        .map_err(internal)?;
    Ok(axum::Json(Accounts {
        accounts: rows.into_iter().map(AccountOut::from).collect(),
    }))
}

/// As of when.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AtQuery {
    /// RFC 3339: the balance rebuilt from the transfers up to then.
    pub at: Option<String>,
}

fn account_id(id: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(id).ok_or_else(|| {
        ApiError::new("FIELD_INVALID", "an account id is owner:kind:CCY").field("id")
    })
}

/// One account's balance, now or as of `at` (operator).
#[utoipa::path(
    get,
    path = "/v1/admin/ledger/accounts/{id}",
    security(("bearer" = [])),
    params(("id" = String, Path), AtQuery),
    responses((status = 200, body = AccountOut), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn account(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Path(id): Path<String>,
    query: Result<Query<AtQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<AccountOut>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new("BAD_REQUEST", e.body_text()))?;
    let id = account_id(&id)?;
    let mut found = state
        .store
        .ledger_account(&id)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            ApiError::new("NOT_FOUND", format!("account {} does not exist", id.key()))
        })?;
    if let Some(at) = q.at {
        let at_ms = at
            .parse::<jiff::Timestamp>()
            .map_err(|_| ApiError::new("FIELD_INVALID", "not RFC 3339").field("at"))?
            .as_millisecond();
        found.balance = state
            .store
            .ledger_balance_at(&id, at_ms)
            .await
            .map_err(internal)?;
    }
    Ok(axum::Json(found.into()))
}

/// One currency's sums over every account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CurrencyTotals {
    pub currency: String,
    /// Posted credits less posted debits, over all accounts: zero.
    pub posted_net: i64,
    /// Pending credits less pending debits: zero.
    pub pending_net: i64,
    pub balanced: bool,
}

/// The trial balance.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrialBalance {
    pub currencies: Vec<CurrencyTotals>,
    pub balanced: bool,
}

/// Per currency, the sums over every account, the gateway's included
/// (operator).
#[utoipa::path(get, path = "/v1/admin/ledger/trial-balance", security(("bearer" = [])), responses((status = 200, body = TrialBalance)))]
pub async fn trial_balance(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
) -> Result<axum::Json<TrialBalance>, ApiError> {
    let rows = state.store.ledger_trial_balance().await.map_err(internal)?;
    let currencies: Vec<CurrencyTotals> = rows
        .into_iter()
        .map(|(currency, posted_net, pending_net)| CurrencyTotals {
            currency,
            posted_net,
            pending_net,
            balanced: posted_net == 0 && pending_net == 0,
        })
        .collect();
    let balanced = currencies.iter().all(|c| c.balanced);
    Ok(axum::Json(TrialBalance {
        currencies,
        balanced,
    }))
}

/// A transfer as the operator sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TransferOut {
    pub id: String,
    pub debit: String,
    pub credit: String,
    pub amount: i64,
    pub currency: String,
    pub code: String,
    pub reference: String,
    /// `single`, `pending`, `post` or `void`.
    pub phase: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// A pending transfer not yet posted or voided.
    pub open: bool,
    pub created_at: String,
}

impl From<TransferRecord> for TransferOut {
    fn from(t: TransferRecord) -> Self {
        TransferOut {
            id: t.id,
            debit: t.debit,
            credit: t.credit,
            amount: t.amount,
            currency: t.currency,
            code: t.code,
            reference: t.reference,
            phase: t.phase,
            pending_id: t.pending_id,
            expires_at: t.expires_at_ms.map(rfc3339),
            open: t.open,
            created_at: rfc3339(t.created_at_ms),
        }
    }
}

/// Transfers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Transfers {
    pub transfers: Vec<TransferOut>,
}

/// Of which reference.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TransfersQuery {
    /// A payment id, top-up id…
    pub reference: String,
}

/// A reference's transfers, in order (operator).
#[utoipa::path(get, path = "/v1/admin/ledger/transfers", security(("bearer" = [])), params(TransfersQuery), responses((status = 200, body = Transfers)))]
pub async fn transfers(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    query: Result<Query<TransfersQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<Transfers>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new("BAD_REQUEST", e.body_text()))?;
    let rows = state
        .store
        .ledger_transfers(&q.reference)
        .await
        .map_err(internal)?;
    Ok(axum::Json(Transfers {
        transfers: rows.into_iter().map(TransferOut::from).collect(),
    }))
}

/// A participant's debit limit in one currency.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitIn {
    pub participant: String,
    pub currency: String,
    /// `net_debit_cap` (a wallet may owe up to `amount`), `prefunded` (a
    /// wallet pays only from its top-ups; `amount` is ignored) or
    /// `refund_allowance` (an acquirer may owe up to `amount` for refunds).
    pub kind: String,
    /// Minor units, as digits.
    #[serde(default)]
    pub amount: Option<String>,
}

async fn settlement_account(
    state: &AppState,
    participant: &str,
    currency: &str,
) -> Result<AccountId, ApiError> {
    let currency = Currency::parse(currency)
        .map_err(|e| ApiError::new("FIELD_INVALID", e.to_string()).field("currency"))?;
    let p = state
        .store
        .participant_get(participant)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            ApiError::new(
                "FIELD_INVALID",
                format!("{participant:?} is not a participant"),
            )
            .field("participant")
        })?;
    let code = currency.code().to_string();
    if p.record.settlement_currency != code && !p.record.currencies.contains(&code) {
        return Err(ApiError::new(
            "FIELD_INVALID",
            format!("{participant} does not settle or trade in {code}"),
        )
        .field("currency"));
    }
    Ok(AccountId::new(participant, Kind::Settlement, currency))
}

/// Set a participant's net debit cap, prefunding or refund allowance in a
/// currency (operator). The account opens if it is new.
#[utoipa::path(put, path = "/v1/admin/ledger/limits", security(("bearer" = [])), request_body = LimitIn, responses((status = 200, body = AccountOut), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn set_limit(
    State(state): State<AppState>,
    OperatorOnly(who): OperatorOnly,
    Json(body): Json<LimitIn>,
) -> Result<axum::Json<AccountOut>, ApiError> {
    let id = settlement_account(&state, &body.participant, &body.currency).await?;
    let amount = || {
        body.amount
            .as_deref()
            .filter(|a| !a.is_empty() && a.len() <= 15 && a.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|a| a.parse::<i64>().ok())
            .ok_or_else(|| {
                ApiError::new("FIELD_INVALID", "1 to 15 digits of minor units").field("amount")
            })
    };
    let limit = match body.kind.as_str() {
        "net_debit_cap" | "refund_allowance" => amount()?,
        "prefunded" => 0,
        _ => {
            return Err(ApiError::new(
                "FIELD_INVALID",
                "net_debit_cap, prefunded or refund_allowance",
            )
            .field("kind"));
        }
    };
    state
        .store
        .ledger_open(&id, Some(limit), now_ms())
        .await
        .map_err(internal)?;
    state
        .store
        .ledger_set_limit(&id, Some(limit))
        .await
        .map_err(internal)?;
    tracing::info!(account = %id.key(), limit, kind = %body.kind, operator = %who.token_id, "debit limit set");
    let found = state
        .store
        .ledger_account(&id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::internal(&"an account just opened is missing"))?;
    Ok(axum::Json(found.into()))
}

/// Money in or out of a participant's settlement account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FundingIn {
    /// The operator's own id for this movement (a transfer id: used once).
    pub request_id: String,
    pub participant: String,
    #[schema(value_type = Object)]
    pub amount: Money,
}

async fn fund(
    state: &AppState,
    body: FundingIn,
    top_up: bool,
) -> Result<(StatusCode, axum::Json<Transfers>), ApiError> {
    crate::idempotent::check_request_id(&body.request_id)?;
    let amount = body
        .amount
        .positive()
        .map_err(|e| ApiError::new("FIELD_INVALID", e.to_string()).field("amount.value"))?;
    let account = settlement_account(state, &body.participant, amount.currency.code()).await?;
    let bank = AccountId::gateway(Kind::Funding, amount.currency);
    let now = now_ms();
    for a in [&account, &bank] {
        state
            .store
            .ledger_open(a, None, now)
            .await
            .map_err(internal)?;
    }
    let (debit, credit, code, prefix) = if top_up {
        (bank, account, Code::TopUp, "top-up")
    } else {
        (account, bank, Code::Withdrawal, "withdrawal")
    };
    let id = format!("{prefix}:{}", body.request_id);
    let transfer = Transfer {
        id: id.clone(),
        debit,
        credit,
        amount: amount.minor,
        code,
        reference: id.clone(),
        phase: Phase::Single,
    };
    state
        .store
        .ledger_apply(vec![transfer], now)
        .await
        .map_err(|e| match e {
            StoreError::LimitExceeded(a) => ApiError::new(
                "LIMIT_EXCEEDED",
                format!("{a} would go beyond its debit limit"),
            )
            .field("amount.value"),
            StoreError::Conflict(m) => ApiError::new("TRANSFER_EXISTS", m).field("request_id"),
            StoreError::Refused(m) => ApiError::new("FIELD_INVALID", m).field("amount.value"),
            other => ApiError::internal(&other),
        })?;
    let rows = state.store.ledger_transfers(&id).await.map_err(internal)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Transfers {
            transfers: rows.into_iter().map(TransferOut::from).collect(),
        }),
    ))
}

/// Credit a participant's settlement account from the settlement bank
/// (prefunding; operator).
#[utoipa::path(post, path = "/v1/admin/ledger/top-ups", security(("bearer" = [])), request_body = FundingIn, responses((status = 201, body = Transfers), (status = 409, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn top_up(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Json(body): Json<FundingIn>,
) -> Result<(StatusCode, axum::Json<Transfers>), ApiError> {
    fund(&state, body, true).await
}

/// Pay a participant out of its settlement account, within its limit
/// (operator).
#[utoipa::path(post, path = "/v1/admin/ledger/withdrawals", security(("bearer" = [])), request_body = FundingIn, responses((status = 201, body = Transfers), (status = 409, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn withdraw(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Json(body): Json<FundingIn>,
) -> Result<(StatusCode, axum::Json<Transfers>), ApiError> {
    fund(&state, body, false).await
}

/// The fee schedule in force.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeeSchedule {
    /// Each rule: optional `payer_country`, `merchant_country`, `mcc` and
    /// `mode`; `rate_bps`, `min_minor`, `cap_minor`, `split`
    /// (`acquirer_bps`, `wallet_bps`, `gateway_bps`), `scheme_fee_minor`.
    #[schema(value_type = Vec<Object>)]
    pub rules: Vec<ledger::fees::FeeRule>,
}

/// The fee schedule in force, as configured (operator).
#[utoipa::path(get, path = "/v1/admin/ledger/fees", security(("bearer" = [])), responses((status = 200, body = FeeSchedule)))]
pub async fn fees(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
) -> axum::Json<FeeSchedule> {
    axum::Json(FeeSchedule {
        rules: state.fees.rules().to_vec(),
    })
}

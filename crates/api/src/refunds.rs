//! Refunds (SPEC §2.6, §6): full or partial, several per payment, at the
//! payment's original rates, every leg reversed pro rata (the last refund
//! takes the remainder of each), fees reversed the same way; the wallet is
//! told with its `refund` callback.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use connector::model::{self, Call, Message};
use ledger::{AccountId, Code, Kind, Phase, Transfer};
use money::{Currency, Money};
use participant::Role;
use participant::policy::CallKind;
use payment::State as PayState;
use serde::{Deserialize, Serialize};
use store::{PaymentRecord, PaymentTerms, RefundClaim, RefundRecord, StoreError};

use crate::idempotent::once;
use crate::json::Json;
use crate::problem::ApiError;
use crate::result::Outcome;
use crate::signed::SignedCaller;
use crate::{AppState, now_ms};

/// `POST /v1/refunds`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundIn {
    pub request_id: String,
    /// The gateway's id of the payment.
    pub payment_id: String,
    /// In the merchant's currency: at most what is left to refund.
    #[schema(value_type = Object)]
    pub amount: Money,
}

/// A refund as its parties see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RefundOut {
    pub id: String,
    pub payment_id: String,
    pub request_id: String,
    /// `pending`, `succeeded`, `failed` or `unknown`.
    pub state: String,
    /// What the merchant gives back.
    #[schema(value_type = Object)]
    pub amount: Money,
    /// What the payer gets back, in the payer's currency.
    #[schema(value_type = Object)]
    pub payer_amount: Money,
    pub created_at: String,
}

/// An answer about a refund.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RefundAnswer {
    pub result: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund: Option<RefundOut>,
}

fn render(r: &RefundRecord) -> Result<RefundOut, ApiError> {
    let ccy = |c: &str| Currency::parse(c).map_err(|e| ApiError::internal(&e));
    Ok(RefundOut {
        id: r.id.clone(),
        payment_id: r.payment_id.clone(),
        request_id: r.request_id.clone(),
        state: r.state.clone(),
        amount: Money::new(r.merchant_minor, ccy(&r.merchant_currency)?),
        payer_amount: Money::new(r.payer_minor, ccy(&r.payer_currency)?),
        created_at: sign::rfc3339_ms(r.created_at_ms),
    })
}

/// One leg of the payment as it was posted, and its reversal's accounts.
struct Leg {
    name: &'static str,
    original: Money,
    /// The refund moves money from `from` back to `to`.
    from: AccountId,
    to: AccountId,
    code: Code,
}

/// The payment's legs, as `payments::legs` wrote them, reversed.
fn legs(p: &PaymentRecord, t: &PaymentTerms) -> Result<Vec<Leg>, ApiError> {
    let pay = &p.payment;
    let m = pay.merchant_amount.currency;
    let payer = pay
        .payer_amount
        .ok_or_else(|| ApiError::internal(&"a payment without a payer amount"))?;
    let p_ccy = payer.currency;
    let settlement = |owner: &str, c: Currency| AccountId::new(owner, Kind::Settlement, c);
    let mut legs = Vec::new();
    match &t.fx_provider {
        None => legs.push(Leg {
            name: "pay",
            original: pay.merchant_amount,
            from: settlement(&pay.acquirer, m),
            to: settlement(&pay.wallet, m),
            code: Code::Refund,
        }),
        Some(provider) => {
            legs.push(Leg {
                name: "fx-out",
                original: pay.merchant_amount,
                from: settlement(&pay.acquirer, m),
                to: settlement(provider, m),
                code: Code::Refund,
            });
            legs.push(Leg {
                name: "fx-in",
                original: Money::new(t.fx_provider_minor, p_ccy),
                from: settlement(provider, p_ccy),
                to: settlement(&pay.wallet, p_ccy),
                code: Code::Refund,
            });
            legs.push(Leg {
                name: "markup",
                original: Money::new(t.fx_markup_minor, p_ccy),
                from: AccountId::gateway(Kind::FxMarkup, p_ccy),
                to: settlement(&pay.wallet, p_ccy),
                code: Code::Refund,
            });
            legs.push(Leg {
                name: "rounding",
                original: Money::new(t.fx_rounding_minor, p_ccy),
                from: AccountId::gateway(Kind::Rounding, p_ccy),
                to: settlement(&pay.wallet, p_ccy),
                code: Code::Refund,
            });
        }
    }
    // The fees come back to the same place the merchant's money goes, so
    // the acquirer is debited only its net (it never needs headroom for
    // fee shares it is about to get back).
    let target = legs
        .first()
        .map(|l| l.to.clone())
        .unwrap_or_else(|| settlement(&pay.wallet, m));
    legs.push(Leg {
        name: "fee-gateway",
        original: Money::new(t.fee_gateway.saturating_add(t.fee_scheme), m),
        from: AccountId::gateway(Kind::FeeIncome, m),
        to: target.clone(),
        code: Code::Fee,
    });
    legs.push(Leg {
        name: "fee-wallet",
        original: Money::new(t.fee_wallet, m),
        from: settlement(&pay.wallet, m),
        to: target,
        code: Code::Fee,
    });
    Ok(legs)
}

/// Refund (part of) a successful payment, for the acquirer that took it.
#[utoipa::path(
    post,
    path = "/v1/refunds",
    tag = "refunds",
    security(("signature" = [])),
    request_body = RefundIn,
    responses((status = 200, body = RefundAnswer), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: SignedCaller,
    Json(body): Json<RefundIn>,
) -> Response {
    let checked = (|| {
        if body.payment_id.is_empty() || body.payment_id.chars().count() > 64 {
            return Err(ApiError::new("FIELD_INVALID", "1 to 64 characters").field("payment_id"));
        }
        if body.amount.minor <= 0 || body.amount.minor > store::TRANSFER_AMOUNT_MAX {
            return Err(ApiError::new("FIELD_INVALID", "more than zero").field("amount.value"));
        }
        caller.allow(
            &state,
            CallKind::Payment {
                test: false,
                to_simulator: false,
                reporting_minor: 0,
            },
            Some(Role::Acquirer),
        )
    })();
    if let Err(e) = checked {
        return axum::response::IntoResponse::into_response(e);
    }
    let request = serde_json::to_value(&body).unwrap_or_default();
    let id = caller.id().to_string();
    once(
        &state,
        &id,
        "refund",
        &body.request_id,
        &request,
        || async {
            let answer = refund(&state, &caller, &body).await?;
            Ok((
                StatusCode::OK,
                serde_json::to_value(answer).map_err(|e| ApiError::internal(&e))?,
            ))
        },
    )
    .await
}

fn refused(code: &'static str, message: impl Into<String>) -> RefundAnswer {
    RefundAnswer {
        result: Outcome::new(code, message),
        refund: None,
    }
}

async fn refund(
    state: &AppState,
    caller: &SignedCaller,
    body: &RefundIn,
) -> Result<RefundAnswer, ApiError> {
    let fail = |e: StoreError| ApiError::internal(&e);
    let Some(payment) = state
        .store
        .payment_get(&body.payment_id)
        .await
        .map_err(fail)?
        .filter(|p| p.payment.acquirer == caller.id())
    else {
        return Ok(refused(
            "PAYMENT_NOT_FOUND",
            format!("no payment {} of yours", body.payment_id),
        ));
    };
    if payment.state != PayState::Succeeded {
        return Ok(refused(
            "REFUND_NOT_ALLOWED",
            format!(
                "the payment is {}: only a successful payment is refunded",
                payment.state.as_str()
            ),
        ));
    }
    let total = payment.payment.merchant_amount;
    if body.amount.currency != total.currency {
        return Ok(refused(
            "CURRENCY_MISMATCH",
            format!(
                "the payment was in {}, not {}",
                total.currency, body.amount.currency
            ),
        ));
    }
    let terms = state
        .store
        .payment_terms_get(&payment.payment.id)
        .await
        .map_err(fail)?
        .ok_or_else(|| ApiError::internal(&"a payment without terms"))?;
    let id = format!("rf-{}", uuid::Uuid::now_v7().simple());
    let before = match state
        .store
        .refund_claim(&payment.payment.id, &id, body.amount.minor, total.minor)
        .await
        .map_err(fail)?
    {
        RefundClaim::Claimed { refunded_before } => refunded_before,
        RefundClaim::InFlight => {
            return Ok(refused(
                "REFUND_IN_PROGRESS",
                "another refund of this payment is being carried out; try again",
            ));
        }
        RefundClaim::Exceeds { remaining } => {
            return Ok(refused(
                "REFUND_EXCEEDS_REMAINING",
                format!("{remaining} minor units are left to refund"),
            ));
        }
        RefundClaim::NotFound => return Err(ApiError::internal(&"a payment without terms")),
    };
    let legs = legs(&payment, &terms)?;
    let originals: Vec<Money> = legs.iter().map(|l| l.original).collect();
    // What earlier refunds took of each leg: the same pro-rata rule at
    // the cumulative amount before this one (refunds go one at a time).
    let zeros: Vec<Money> = originals
        .iter()
        .map(|o| Money::new(0, o.currency))
        .collect();
    let taken: Vec<Money> = if before == 0 {
        zeros
    } else {
        money::refund_shares(&originals, &zeros, total.minor, before)
            .map_err(|e| ApiError::internal(&e))?
    };
    let shares = money::refund_shares(&originals, &taken, total.minor, before + body.amount.minor)
        .map_err(|e| ApiError::internal(&e))?;
    let payer_currency = payment
        .payment
        .payer_amount
        .map_or(total.currency, |p| p.currency);
    let payer_minor: i64 = legs
        .iter()
        .zip(&shares)
        .filter(|(l, _)| matches!(l.name, "pay" | "fx-in" | "markup" | "rounding"))
        .map(|(_, s)| s.minor)
        .sum();
    let now = now_ms();
    let mut record = RefundRecord {
        id: id.clone(),
        payment_id: payment.payment.id.clone(),
        acquirer_id: caller.id().to_string(),
        request_id: body.request_id.clone(),
        merchant_minor: body.amount.minor,
        merchant_currency: total.currency.code().into(),
        payer_minor,
        payer_currency: payer_currency.code().into(),
        refunded_before_minor: before,
        state: "pending".into(),
        code: String::new(),
        created_at_ms: now,
        updated_at_ms: now,
        clearing_date: Some(
            crate::payments::clearing_date(&state.payments, now)
                .map_err(|e| ApiError::internal(&e))?,
        ),
    };
    let expires = now.saturating_add(state.payments.reservation_ttl_s.saturating_mul(1000));
    // The merchant's leg (the first) carries the acquirer's net: its
    // share less the fee shares that go back with it.
    let fee_back: i64 = legs
        .iter()
        .zip(&shares)
        .filter(|(l, _)| l.name.starts_with("fee-"))
        .map(|(_, s)| s.minor)
        .sum();
    let mut amounts: Vec<i64> = shares.iter().map(|s| s.minor).collect();
    if let Some(first) = amounts.first_mut() {
        *first -= fee_back;
        if *first < 0 {
            state
                .store
                .refund_settle(&payment.payment.id, &id, body.amount.minor, false)
                .await
                .map_err(fail)?;
            return Ok(refused(
                "REFUND_NOT_ALLOWED",
                "the refund is smaller than its fee reversal",
            ));
        }
    }
    let pending: Vec<Transfer> = legs
        .iter()
        .zip(amounts)
        // A wallet's fee share returning to the wallet itself moves nothing.
        .filter(|(l, a)| *a > 0 && l.from != l.to)
        .map(|(l, amount)| Transfer {
            id: format!("{id}:{}", l.name),
            debit: l.from.clone(),
            credit: l.to.clone(),
            amount,
            code: l.code,
            reference: payment.payment.id.clone(),
            phase: Phase::Pending {
                expires_at_ms: expires,
            },
        })
        .collect();
    state.store.refund_insert(&record).await.map_err(fail)?;
    let end = |state_name: &'static str, code: &'static str, kept: bool| {
        let (pid, rid, amount) = (payment.payment.id.clone(), id.clone(), body.amount.minor);
        async move {
            state
                .store
                .refund_update(&rid, state_name, code, now_ms())
                .await
                .map_err(fail)?;
            if state_name != "unknown" {
                state
                    .store
                    .refund_settle(&pid, &rid, amount, kept)
                    .await
                    .map_err(fail)?;
            }
            Ok::<_, ApiError>(())
        }
    };
    match state.store.ledger_apply(pending.clone(), now_ms()).await {
        Ok(()) => {}
        Err(StoreError::LimitExceeded(account)) => {
            end("failed", "REFUND_ALLOWANCE_EXCEEDED", false).await?;
            record.state = "failed".into();
            return Ok(RefundAnswer {
                result: Outcome::new(
                    "REFUND_ALLOWANCE_EXCEEDED",
                    format!(
                        "the acquirer's balance and refund allowance do not cover it ({account})"
                    ),
                ),
                refund: Some(render(&record)?),
            });
        }
        Err(e) => {
            end("failed", "INTERNAL", false).await?;
            return Err(ApiError::internal(&e));
        }
    }
    // Tell the wallet, which credits its user back.
    let Some(wallet) = crate::payments::peer(state, &payment.payment.wallet).await? else {
        return Err(ApiError::internal(&"the payment's wallet vanished"));
    };
    let request_id = state
        .store
        .outbound_request_id(
            &format!("refund:{id}"),
            &format!("out-{}", uuid::Uuid::now_v7().simple()),
            &wallet.id,
            Call::Refund.as_str(),
            Some(&payment.payment.id),
            now_ms(),
        )
        .await
        .map_err(fail)?;
    let message = Message::Refund(model::Refund {
        request_id,
        payment_id: payment.payment.id.clone(),
        refund_id: id.clone(),
        amount: Money::new(payer_minor, payer_currency),
    });
    let reply = state
        .connectors
        .call(&wallet, &message)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let close = |post: bool| crate::payments::closing(&pending, post);
    let result = match reply.outcome.status {
        model::Status::S => {
            state
                .store
                .ledger_apply(close(true), now_ms())
                .await
                .map_err(fail)?;
            end("succeeded", "SUCCESS", true).await?;
            record.state = "succeeded".into();
            Outcome::success()
        }
        model::Status::F => {
            state
                .store
                .ledger_apply(close(false), now_ms())
                .await
                .map_err(fail)?;
            end("failed", "REFUND_DECLINED", false).await?;
            record.state = "failed".into();
            Outcome::new(
                "REFUND_DECLINED",
                format!("the wallet did not take the refund: {}", reply.outcome.code),
            )
        }
        model::Status::U => {
            // Held, and the payment's refunds wait for it to be resolved.
            end("unknown", "OUTCOME_UNKNOWN", false).await?;
            record.state = "unknown".into();
            Outcome::new(
                "OUTCOME_UNKNOWN",
                format!("the wallet did not say: {}", reply.outcome.code),
            )
        }
    };
    Ok(RefundAnswer {
        result,
        refund: Some(render(&record)?),
    })
}

/// A refund, for either party of its payment.
#[utoipa::path(
    get,
    path = "/v1/refunds/{id}",
    tag = "refunds",
    security(("signature" = [])),
    params(("id" = String, Path, description = "The gateway's refund id")),
    responses((status = 200, body = RefundAnswer), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: SignedCaller,
    Path(id): Path<String>,
) -> Result<axum::Json<RefundAnswer>, ApiError> {
    caller.allow(&state, CallKind::Read, None)?;
    let fail = |e: StoreError| ApiError::internal(&e);
    let record = state.store.refund_get(&id).await.map_err(fail)?;
    let payment = match &record {
        Some(r) => state.store.payment_get(&r.payment_id).await.map_err(fail)?,
        None => None,
    };
    let (Some(record), Some(payment)) = (record, payment) else {
        return Err(ApiError::new(
            "NOT_FOUND",
            format!("no refund {id} of yours"),
        ));
    };
    if payment.payment.wallet != caller.id() && payment.payment.acquirer != caller.id() {
        return Err(ApiError::new(
            "NOT_FOUND",
            format!("no refund {id} of yours"),
        ));
    }
    let result = match record.state.as_str() {
        "succeeded" => Outcome::success(),
        "failed" => Outcome::new(
            "REFUND_DECLINED",
            format!("the refund failed: {}", record.code),
        ),
        _ => Outcome::new("OUTCOME_UNKNOWN", format!("the refund is {}", record.state)),
    };
    Ok(axum::Json(RefundAnswer {
        result,
        refund: Some(render(&record)?),
    }))
}

/// The resolver's work on a refund whose outcome is not known: send it
/// again under its one request id (the wallet answers a repeat with its
/// first answer, or does it now if it never arrived) and close its
/// reservation as the answer says. A refund cut off before it reserved
/// anything was never sent: it failed. Returns the refund's new state.
pub(crate) async fn recover(
    state: &AppState,
    record: RefundRecord,
) -> Result<Option<String>, ApiError> {
    let fail = |e: StoreError| ApiError::internal(&e);
    let (pid, rid) = (record.payment_id.clone(), record.id.clone());
    let own = |t: &store::TransferRecord| t.id.starts_with(&format!("{rid}:"));
    let transfers: Vec<store::TransferRecord> = state
        .store
        .ledger_transfers(&pid)
        .await
        .map_err(fail)?
        .into_iter()
        .filter(own)
        .collect();
    let settle = |to: &'static str, code: &'static str, kept: bool| {
        let (pid, rid, amount) = (pid.clone(), rid.clone(), record.merchant_minor);
        async move {
            state
                .store
                .refund_update(&rid, to, code, now_ms())
                .await
                .map_err(fail)?;
            state
                .store
                .refund_settle(&pid, &rid, amount, kept)
                .await
                .map_err(fail)?;
            Ok::<_, ApiError>(Some(to.to_string()))
        }
    };
    if transfers.is_empty() {
        return settle("failed", "INTERNAL", false).await;
    }
    let Some(payment) = state.store.payment_get(&pid).await.map_err(fail)? else {
        return Err(ApiError::internal(&format!("refund {rid} without payment")));
    };
    let Some(wallet) = crate::payments::peer(state, &payment.payment.wallet).await? else {
        return Err(ApiError::internal(&"the payment's wallet vanished"));
    };
    let request_id = state
        .store
        .outbound_request_id(
            &format!("refund:{rid}"),
            &format!("out-{}", uuid::Uuid::now_v7().simple()),
            &wallet.id,
            Call::Refund.as_str(),
            Some(&pid),
            now_ms(),
        )
        .await
        .map_err(fail)?;
    let payer_currency =
        Currency::parse(&record.payer_currency).map_err(|e| ApiError::internal(&e))?;
    let message = Message::Refund(model::Refund {
        request_id,
        payment_id: pid.clone(),
        refund_id: rid.clone(),
        amount: Money::new(record.payer_minor, payer_currency),
    });
    let status = match state.connectors.call(&wallet, &message).await {
        Ok(r) => r.outcome.status,
        Err(_) => model::Status::U,
    };
    let close = |post: bool| -> Result<Vec<Transfer>, ApiError> {
        transfers
            .iter()
            .filter(|t| t.phase == "pending" && t.open)
            .map(|t| {
                let account = |k: &str| {
                    AccountId::parse(k).ok_or_else(|| ApiError::internal(&format!("account {k}")))
                };
                Ok(Transfer {
                    id: format!("{}:{}", t.id, if post { "post" } else { "void" }),
                    debit: account(&t.debit)?,
                    credit: account(&t.credit)?,
                    amount: t.amount,
                    code: Code::parse(&t.code).unwrap_or(Code::Refund),
                    reference: t.reference.clone(),
                    phase: if post {
                        Phase::Post {
                            pending_id: t.id.clone(),
                        }
                    } else {
                        Phase::Void {
                            pending_id: t.id.clone(),
                        }
                    },
                })
            })
            .collect()
    };
    let apply = |legs: Vec<Transfer>| async move {
        if legs.is_empty() {
            return Ok(());
        }
        match state.store.ledger_apply(legs, now_ms()).await {
            // Closed meanwhile by the request that made it.
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(ApiError::internal(&e)),
        }
    };
    match status {
        model::Status::S => {
            apply(close(true)?).await?;
            settle("succeeded", "SUCCESS", true).await
        }
        model::Status::F => {
            apply(close(false)?).await?;
            settle("failed", "REFUND_DECLINED", false).await
        }
        model::Status::U => {
            state
                .store
                .refund_update(&rid, "unknown", "OUTCOME_UNKNOWN", now_ms())
                .await
                .map_err(fail)?;
            Ok(Some("unknown".into()))
        }
    }
}

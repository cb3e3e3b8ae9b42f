//! Cancels (SPEC §2.6, §6): the party that started a payment reverses it,
//! until the cut-off of its clearing date — or, for a payment whose
//! outcome is still unknown then, until the end of the grace period after
//! it; later, only a refund of a successful payment.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use participant::policy::CallKind;
use payment::{Event, State as PayState};
use serde::{Deserialize, Serialize};
use store::StoreError;

use crate::idempotent::once;
use crate::json::Json;
use crate::payments::{PaymentAnswer, PaymentsConfig};
use crate::problem::ApiError;
use crate::result::Outcome;
use crate::signed::SignedCaller;
use crate::{AppState, now_ms};

/// `POST /v1/payments/{id}/cancel`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelIn {
    pub request_id: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The last moment a payment of `clearing_date` may be cancelled: the
/// cut-off of that date in the cut-off's time zone, plus the grace period
/// when its outcome is still unknown.
pub fn cancel_deadline_ms(
    config: &PaymentsConfig,
    clearing_date: &str,
    unknown: bool,
) -> Result<i64, String> {
    let date: jiff::civil::Date = clearing_date
        .parse()
        .map_err(|e| format!("clearing date {clearing_date:?}: {e}"))?;
    let (h, m) = config
        .cutoff
        .split_once(':')
        .and_then(|(h, m)| Some((h.parse::<i8>().ok()?, m.parse::<i8>().ok()?)))
        .ok_or_else(|| format!("cutoff {:?}", config.cutoff))?;
    let at = date
        .at(h, m, 0, 0)
        .in_tz(&config.time_zone)
        .map_err(|e| e.to_string())?
        .timestamp()
        .as_millisecond();
    Ok(if unknown {
        at.saturating_add(config.cancel_grace_s.saturating_mul(1000))
    } else {
        at
    })
}

/// Cancel a payment (reverse it), for the party that started it.
#[utoipa::path(
    post,
    path = "/v1/payments/{id}/cancel",
    tag = "cancels",
    security(("signature" = [])),
    params(("id" = String, Path, description = "The gateway's payment id")),
    request_body = CancelIn,
    responses((status = 200, body = PaymentAnswer), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"))
)]
pub async fn cancel(
    State(state): State<AppState>,
    caller: SignedCaller,
    Path(id): Path<String>,
    Json(body): Json<CancelIn>,
) -> Response {
    if let Err(e) = caller.allow(
        &state,
        CallKind::Payment {
            test: false,
            to_simulator: false,
            reporting_minor: 0,
        },
        None,
    ) {
        return e.into_response();
    }
    if body
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > 256)
    {
        return ApiError::new("FIELD_INVALID", "at most 256 characters")
            .field("reason")
            .into_response();
    }
    let mut request = serde_json::to_value(&body).unwrap_or_default();
    if let Some(o) = request.as_object_mut() {
        o.insert("payment_id".into(), serde_json::Value::String(id.clone()));
    }
    let who = caller.id().to_string();
    once(
        &state,
        &who,
        "cancel",
        &body.request_id,
        &request,
        || async {
            // In a task of its own: a caller that goes away cannot stop a
            // reversal half-way.
            let (state2, caller2) = (state.clone(), caller.clone());
            let answer = tokio::spawn(async move { run(&state2, &caller2, &id).await })
                .await
                .map_err(|e| ApiError::internal(&e))??;
            Ok((
                StatusCode::OK,
                serde_json::to_value(answer).map_err(|e| ApiError::internal(&e))?,
            ))
        },
    )
    .await
}

fn refused(code: &'static str, message: impl Into<String>) -> PaymentAnswer {
    PaymentAnswer {
        result: Outcome::new(code, message),
        payment: None,
    }
}

async fn run(state: &AppState, caller: &SignedCaller, id: &str) -> Result<PaymentAnswer, ApiError> {
    let fail = |e: StoreError| ApiError::internal(&e);
    let Some(record) = state
        .store
        .payment_get(id)
        .await
        .map_err(fail)?
        .filter(|r| r.payment.wallet == caller.id() || r.payment.acquirer == caller.id())
    else {
        return Ok(refused(
            "PAYMENT_NOT_FOUND",
            format!("no payment {id} of yours"),
        ));
    };
    if record.payment.initiator != caller.id() {
        return Ok(refused(
            "CANCEL_NOT_ALLOWED",
            "only the party that started a payment cancels it",
        ));
    }
    let unknown = matches!(
        record.state,
        PayState::Unknown
            | PayState::Crediting
            | PayState::Authorizing
            | PayState::Reserved
            | PayState::Received
    );
    match record.state {
        PayState::Cancelled => {
            return crate::payments::answer_of(state, &record, Outcome::success()).await;
        }
        PayState::Failed => {
            return Ok(refused(
                "PAYMENT_FAILED",
                "the payment failed; there is nothing to cancel",
            ));
        }
        PayState::Exception | PayState::Cancelling => {
            return Ok(refused(
                "CANCEL_NOT_ALLOWED",
                format!("the payment is {}", record.state.as_str()),
            ));
        }
        _ => {}
    }
    let deadline = match &record.payment.clearing_date {
        Some(d) => {
            cancel_deadline_ms(&state.payments, d, unknown).map_err(|e| ApiError::internal(&e))?
        }
        None => i64::MAX,
    };
    if now_ms() > deadline {
        return Ok(refused(
            "CANCEL_WINDOW_CLOSED",
            "past the cut-off of the payment's clearing date: refund it instead",
        ));
    }
    // Refunds and a cancel exclude each other: the cancel takes the
    // payment's refund slot (and keeps it), and only when nothing was
    // refunded.
    let claim = format!("cancel:{}", caller.id());
    let total = record.payment.merchant_amount.minor;
    match state
        .store
        .refund_claim(id, &claim, 0, total)
        .await
        .map_err(fail)?
    {
        store::RefundClaim::Claimed { refunded_before: 0 } => {}
        store::RefundClaim::Claimed { .. } => {
            state
                .store
                .refund_settle(id, &claim, 0, false)
                .await
                .map_err(fail)?;
            return Ok(refused(
                "CANCEL_NOT_ALLOWED",
                "the payment has refunds: refund the rest instead",
            ));
        }
        _ => {
            return Ok(refused(
                "CANCEL_NOT_ALLOWED",
                "a refund of the payment is in progress",
            ));
        }
    }
    let node = state.node_id.as_str();
    if let Err(e) = state
        .store
        .payment_transition(
            id,
            record.version,
            &Event::CancelRequested,
            "cancel requested",
            node,
            now_ms(),
        )
        .await
    {
        state
            .store
            .refund_settle(id, &claim, 0, false)
            .await
            .map_err(fail)?;
        return Err(match e {
            StoreError::Conflict(_) => ApiError::new(
                "REPEAT_REQ_INCONSISTENT",
                "the payment changed meanwhile; ask again",
            ),
            other => ApiError::internal(&other),
        });
    }
    let version = record.version + 1;
    // Reverse the downstream call the payment made.
    let sent = crate::recovery::send_cancel(state, &record).await?;
    let confirmed = sent.is_ok();
    if !confirmed {
        let detail = sent.err().unwrap_or_default();
        state
            .store
            .payment_transition(id, version, &Event::CancelFailed, &detail, node, now_ms())
            .await
            .map_err(fail)?;
        let record = state
            .store
            .payment_get(id)
            .await
            .map_err(fail)?
            .ok_or_else(|| ApiError::internal(&"vanished"))?;
        // The reversal is asked again until it is confirmed (SPEC §6: a
        // cancel wins); the payment stays `cancelling` meanwhile.
        return crate::payments::answer_of(state, &record, Outcome::new("OUTCOME_UNKNOWN", detail))
            .await;
    }
    crate::recovery::books(state, id, crate::recovery::Books::Reverse).await?;
    state
        .store
        .payment_transition(
            id,
            version,
            &Event::CancelConfirmed,
            "cancel confirmed",
            node,
            now_ms(),
        )
        .await
        .map_err(fail)?;
    if let Some(order) = &record.payment.order_id {
        let _ = state
            .store
            .order_release(&record.payment.acquirer, order, id)
            .await;
    }
    let record = state
        .store
        .payment_get(id)
        .await
        .map_err(fail)?
        .ok_or_else(|| ApiError::internal(&"vanished"))?;
    crate::payments::answer_of(state, &record, Outcome::success()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_the_cutoff_of_the_clearing_date_plus_grace_when_unknown() {
        let config = PaymentsConfig::default();
        // 23:00 in Shanghai (UTC+8) is 15:00 UTC.
        let at = cancel_deadline_ms(&config, "2026-11-22", false).unwrap();
        assert_eq!(sign::rfc3339_ms(at), "2026-11-22T15:00:00Z");
        let grace = cancel_deadline_ms(&config, "2026-11-22", true).unwrap();
        assert_eq!(grace - at, config.cancel_grace_s * 1000);
        assert!(cancel_deadline_ms(&config, "not a date", false).is_err());
    }
}

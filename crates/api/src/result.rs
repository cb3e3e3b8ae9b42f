//! Business outcomes (SPEC §4.2): every 200 answer carries
//! `"result": {"status": "S" | "F" | "U", "code", "message"}`. The codes are
//! one catalogue ([`RESULTS`]), documented in `docs/error-codes.md` and
//! checked against it by the `tidy` test.

use serde::Serialize;

/// Every business result code: code, status, meaning.
pub const RESULTS: &[(&str, &str, &str)] = &[
    ("SUCCESS", "S", "Done."),
    (
        "REQUEST_IN_FLIGHT",
        "U",
        "The first request with this request id is still being worked on (`gateway_id` names it); ask again.",
    ),
    (
        "FX_RATE_UNAVAILABLE",
        "F",
        "No eligible FX provider has a fresh rate for the pair (directly or through the pivot).",
    ),
    (
        "ROUTE_NOT_FOUND",
        "F",
        "No route (and no registered merchant) matches the code on its side.",
    ),
    (
        "ROUTE_AMBIGUOUS",
        "F",
        "Routes of equal best specificity name different participants; `candidates` lists them.",
    ),
    (
        "CODE_EXPIRED",
        "F",
        "The code's own expiry (KHQR 99, PayNow 04, FPS 05) has passed.",
    ),
    (
        "MERCHANT_NOT_FOUND",
        "F",
        "The acquirer does not know the merchant behind the code, or no merchant of the acquirer is registered under that id (CPM).",
    ),
    (
        "MERCHANT_MISMATCH",
        "F",
        "The code's merchant details (its country) disagree with the registry's or the acquirer's; it is not paid.",
    ),
    (
        "CURRENCY_MISMATCH",
        "F",
        "The amount is not in the merchant's currency (the code's tag 53 or the acquirer's answer).",
    ),
    (
        "AMOUNT_MISMATCH",
        "F",
        "A dynamic code fixes its amount, and the payment is for another.",
    ),
    (
        "ORDER_USED",
        "F",
        "The dynamic code's (or CPM) order was paid already: orders are single use per acquirer.",
    ),
    (
        "NOT_CROSS_BORDER",
        "F",
        "The payer and the merchant are both in the home country: not a payment this gateway carries.",
    ),
    (
        "QUOTE_REQUIRED",
        "F",
        "The wallet settles in another currency than the merchant's: the payment needs a firm quote (`quote_id`).",
    ),
    ("QUOTE_NOT_FOUND", "F", "No such quote of the caller's."),
    ("QUOTE_USED", "F", "The quote was used by another payment."),
    ("QUOTE_EXPIRED", "F", "The quote's expiry has passed."),
    (
        "QUOTE_MISMATCH",
        "F",
        "The quote is bound to another payer, merchant or order, amount or pair.",
    ),
    (
        "CAP_EXCEEDED",
        "F",
        "The wallet's net debit cap or prefunding in its settlement currency does not cover the payment; nothing moved.",
    ),
    (
        "RISK_DECLINED",
        "F",
        "The risk step declined the payment before any money moved; the message names the rules that fired.",
    ),
    (
        "AMOUNT_TOO_SMALL",
        "F",
        "The payment's fee would take the whole amount the acquirer receives.",
    ),
    (
        "PAYEE_DECLINED",
        "F",
        "The acquirer declined to credit the merchant (`pay`); the reservation was released.",
    ),
    (
        "PAYER_DECLINED",
        "F",
        "The wallet declined to debit its user (`authorize`); the reservation was released.",
    ),
    (
        "PARTICIPANT_UNAVAILABLE",
        "F",
        "The participant could not be reached (its circuit is open, or no connection): nothing was sent, nothing moved.",
    ),
    (
        "OUTCOME_UNKNOWN",
        "U",
        "A participant's outcome is not known yet (no answer in time, an answer that does not verify, a 5xx): inquire; the reservation is held.",
    ),
    (
        "PAYMENT_FAILED",
        "F",
        "Inquiry: the payment failed; nothing moved.",
    ),
    (
        "PAYMENT_CANCELLED",
        "F",
        "Inquiry: the payment was reversed.",
    ),
    ("PAYMENT_NOT_FOUND", "F", "No such payment of the caller's."),
    (
        "REFUND_NOT_ALLOWED",
        "F",
        "Only a successful payment is refunded (this one failed, was cancelled or is still open).",
    ),
    (
        "REFUND_EXCEEDS_REMAINING",
        "F",
        "The refund is more than what is left of the payment after earlier refunds; the message says how much is left.",
    ),
    (
        "REFUND_IN_PROGRESS",
        "F",
        "Another refund of the same payment is being carried out (refunds of a payment go one at a time); try again.",
    ),
    (
        "REFUND_ALLOWANCE_EXCEEDED",
        "F",
        "The acquirer's balance and refund allowance do not cover the refund; nothing moved.",
    ),
    (
        "REFUND_DECLINED",
        "F",
        "The wallet did not take the refund (its `refund` callback failed); nothing moved.",
    ),
    (
        "CANCEL_NOT_ALLOWED",
        "F",
        "The payment cannot be cancelled by this caller or in its state: only the party that started it cancels, and not once it has refunds, is being cancelled or is an exception.",
    ),
    (
        "CANCEL_WINDOW_CLOSED",
        "F",
        "Past the cut-off of the payment's clearing date (plus the grace period for an unknown outcome): refund it instead.",
    ),
];

/// The `result` object of a 200 answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    /// `S` (done), `F` (refused: see `code`) or `U` (not known yet: inquire).
    pub status: &'static str,
    pub code: &'static str,
    pub message: String,
}

impl Outcome {
    /// The outcome with catalogue code `code`.
    pub fn new(code: &'static str, message: impl Into<String>) -> Outcome {
        let status = RESULTS.iter().find(|r| r.0 == code).map_or("F", |r| r.1);
        debug_assert!(
            RESULTS.iter().any(|r| r.0 == code),
            "{code} is not in RESULTS"
        );
        Outcome {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn success() -> Outcome {
        Outcome::new("SUCCESS", "done")
    }
}

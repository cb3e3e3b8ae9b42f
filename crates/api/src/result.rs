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

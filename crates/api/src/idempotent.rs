//! Running a mutating participant call at most once per request id
//! (SPEC §4.3): the key is (participant, operation, request id), the
//! fingerprint the SHA-256 of the request's canonical JSON, and the first
//! answer is what every repeat gets.

use std::future::Future;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use store::Begin;

use crate::AppState;
use crate::fingerprint::fingerprint;
use crate::problem::ApiError;

/// Longest request id accepted.
pub const REQUEST_ID_CHARS_MAX: usize = 64;

/// Check a caller's request id: 1 to 64 of A-Z, a-z, 0-9, `-_.:`.
pub fn check_request_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= REQUEST_ID_CHARS_MAX
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            "FIELD_INVALID",
            format!("1 to {REQUEST_ID_CHARS_MAX} of A-Z, a-z, 0-9, '-', '_', '.', ':'"),
        )
        .field("request_id"))
    }
}

/// A claim on a request id that is given back if the work never finishes
/// (the request timed out, the caller went away, a panic): otherwise every
/// retry would be told "in flight" until the record is purged.
struct Claim {
    store: store::Store,
    key: Option<(String, String, String)>,
}

impl Claim {
    fn settled(mut self) {
        self.key = None;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some((participant, operation, request_id)) = self.key.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let store = self.store.clone();
            runtime.spawn(async move {
                if let Err(cause) = store
                    .idem_abandon(&participant, &operation, &request_id)
                    .await
                {
                    tracing::error!(%cause, "could not give back an unfinished request id");
                }
            });
        }
    }
}

/// Run `work` unless this request id was seen: then answer as the first
/// time (same status, same body), `U` `REQUEST_IN_FLIGHT` with the first
/// one's gateway id while it is still being worked on, or 409
/// `REPEAT_REQ_INCONSISTENT` when the content differs. A gateway failure
/// (5xx), or work that never finishes, gives the claim back so a retry is
/// worked on afresh; a refusal (4xx) is an answer like any other.
pub async fn once<F, Fut>(
    state: &AppState,
    participant_id: &str,
    operation: &str,
    request_id: &str,
    request: &serde_json::Value,
    work: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, serde_json::Value), ApiError>>,
{
    if let Err(e) = check_request_id(request_id) {
        return e.into_response();
    }
    let now = crate::now_ms();
    let gateway_id = uuid::Uuid::now_v7().to_string();
    let begun = state
        .store
        .idem_begin(
            participant_id,
            operation,
            request_id,
            &fingerprint(request),
            &gateway_id,
            now,
            state.idempotency_retention_ms,
        )
        .await;
    match begun {
        Err(e) => ApiError::internal(&e).into_response(),
        Ok(Begin::Mismatch) => ApiError::new(
            "REPEAT_REQ_INCONSISTENT",
            format!("request_id {request_id} was used before with other content"),
        )
        .field("request_id")
        .into_response(),
        Ok(Begin::InFlight { gateway_id }) => {
            let body = serde_json::json!({
                "result": crate::result::Outcome::new(
                    "REQUEST_IN_FLIGHT",
                    format!("request_id {request_id} is still being worked on; ask again"),
                ),
                "gateway_id": gateway_id,
            });
            respond(StatusCode::OK, body.to_string(), false)
        }
        Ok(Begin::Done {
            status_code,
            response,
        }) => replay(status_code, response),
        Ok(Begin::New) => {
            let claim = Claim {
                store: state.store.clone(),
                key: Some((
                    participant_id.to_string(),
                    operation.to_string(),
                    request_id.to_string(),
                )),
            };
            let (status, body, problem) = match work().await {
                Ok((status, body)) => (status, body.to_string(), false),
                // Dropping the claim gives it back.
                Err(e) if e.status().is_server_error() => return e.into_response(),
                Err(e) => (
                    e.status(),
                    serde_json::to_string(&e.to_problem()).unwrap_or_default(),
                    true,
                ),
            };
            if let Err(e) = state
                .store
                .idem_finish(
                    participant_id,
                    operation,
                    request_id,
                    i64::from(status.as_u16()),
                    &body,
                )
                .await
            {
                return ApiError::internal(&e).into_response();
            }
            claim.settled();
            respond(status, body, problem)
        }
    }
}

fn replay(status_code: i64, body: String) -> Response {
    let status = u16::try_from(status_code)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    respond(status, body, status.is_client_error())
}

fn respond(status: StatusCode, body: String, problem: bool) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if problem {
            "application/problem+json"
        } else {
            "application/json"
        }),
    );
    response
}

//! The gateway's outbound calls to participants (SPEC §4.3): each call's
//! request id is written before the call is sent, with a count of its
//! attempts and, once known, how it ended.

use crate::{Store, StoreError};

/// One outbound call.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboundCall {
    pub request_id: String,
    pub purpose: Option<String>,
    pub participant_id: String,
    pub call: String,
    pub payment_id: Option<String>,
    pub attempts: i64,
    /// `S`, `F` or `U` once an attempt ended; `None` while in flight.
    pub status: Option<String>,
    pub code: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

const COLUMNS: &str = "request_id, purpose, participant_id, call, payment_id, attempts, status, code, \
                       created_at_ms, updated_at_ms";

impl Store {
    /// The request id of the call made for `purpose` (`pay:<payment>`):
    /// `new_id` the first time, the id written then ever after — so a
    /// node that resumes someone else's work sends the same request id.
    pub async fn outbound_request_id(
        &self,
        purpose: &str,
        new_id: &str,
        participant_id: &str,
        call: &str,
        payment_id: Option<&str>,
        now_ms: i64,
    ) -> Result<String, StoreError> {
        let reserve = sqlx::query(
            "INSERT INTO outbound_calls (request_id, purpose, participant_id, call, payment_id, attempts, \
               created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, 0, $6, $6) \
             ON CONFLICT (purpose) DO NOTHING",
        )
        .bind(new_id)
        .bind(purpose)
        .bind(participant_id)
        .bind(call)
        .bind(payment_id)
        .bind(now_ms);
        self.write_statement(reserve).await?;
        let (id,): (String,) =
            sqlx::query_as("SELECT request_id FROM outbound_calls WHERE purpose = $1")
                .bind(purpose)
                .fetch_one(self.pool())
                .await?;
        Ok(id)
    }

    /// Record an attempt of `request_id` (the row is made if it was not
    /// reserved by [`Store::outbound_request_id`]). Committed before the
    /// call is sent.
    pub async fn outbound_attempt(
        &self,
        request_id: &str,
        participant_id: &str,
        call: &str,
        payment_id: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let attempt = sqlx::query(
            "INSERT INTO outbound_calls (request_id, participant_id, call, payment_id, attempts, \
               created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, 1, $5, $5) \
             ON CONFLICT (request_id) DO UPDATE SET attempts = outbound_calls.attempts + 1, \
               status = NULL, code = NULL, updated_at_ms = $5",
        )
        .bind(request_id)
        .bind(participant_id)
        .bind(call)
        .bind(payment_id)
        .bind(now_ms);
        self.write_statement(attempt).await?;
        Ok(())
    }

    /// Record how the call ended (`S`, `F` or `U` and its code).
    pub async fn outbound_finish(
        &self,
        request_id: &str,
        status: &str,
        code: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE outbound_calls SET status = $2, code = $3, updated_at_ms = $4 WHERE request_id = $1",
        )
        .bind(request_id)
        .bind(status)
        .bind(code)
        .bind(now_ms);
        if self.write_statement(done).await? == 0 {
            return Err(StoreError::NotFound(format!("outbound call {request_id}")));
        }
        Ok(())
    }

    pub async fn outbound_get(&self, request_id: &str) -> Result<Option<OutboundCall>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM outbound_calls WHERE request_id = $1"
        )))
        .bind(request_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// A payment's outbound calls, oldest first.
    pub async fn outbound_for_payment(
        &self,
        payment_id: &str,
    ) -> Result<Vec<OutboundCall>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM outbound_calls WHERE payment_id = $1 ORDER BY created_at_ms, request_id"
        )))
        .bind(payment_id)
        .fetch_all(self.pool())
        .await?)
    }
}

//! Idempotency records (SPEC §4.3) and the signature replay guard (§4.1),
//! both in the store so every node sees them.

use crate::{Store, StoreError};

/// What a request id means when a call arrives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Begin {
    /// First time: the caller does the work and then calls
    /// [`Store::idem_finish`].
    New,
    /// The same request is still being worked on: answer `U` with this
    /// gateway id.
    InFlight { gateway_id: String },
    /// Done before: answer exactly this again.
    Done { status_code: i64, response: String },
    /// The same request id with other content: 409 `REPEAT_REQ_INCONSISTENT`.
    Mismatch,
}

/// fingerprint, state, gateway id, status code, response.
type RecordRow = (String, String, String, Option<i64>, Option<String>);

impl Store {
    /// Claim (participant, operation, request id) for a request with
    /// `fingerprint`, or learn what became of the earlier one.
    #[allow(clippy::too_many_arguments)]
    pub async fn idem_begin(
        &self,
        participant_id: &str,
        operation: &str,
        request_id: &str,
        fingerprint: &str,
        gateway_id: &str,
        now_ms: i64,
        retention_ms: i64,
    ) -> Result<Begin, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_records \
               (participant_id, operation, request_id, fingerprint, state, gateway_id, created_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4, 'in_flight', $5, $6, $7) \
             ON CONFLICT (participant_id, operation, request_id) DO NOTHING",
        )
        .bind(participant_id)
        .bind(operation)
        .bind(request_id)
        .bind(fingerprint)
        .bind(gateway_id)
        .bind(now_ms)
        .bind(now_ms.saturating_add(retention_ms));
        let inserted = self.write_statement(inserted).await?;
        if inserted == 1 {
            return Ok(Begin::New);
        }
        let row: Option<RecordRow> = sqlx::query_as(
            "SELECT fingerprint, state, gateway_id, status_code, response FROM idempotency_records \
             WHERE participant_id = $1 AND operation = $2 AND request_id = $3",
        )
        .bind(participant_id)
        .bind(operation)
        .bind(request_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            // Purged between the two statements: a new request after all.
            None => Begin::New,
            Some((fp, _, _, _, _)) if fp != fingerprint => Begin::Mismatch,
            Some((_, state, gateway_id, status_code, response)) => {
                match (state.as_str(), status_code, response) {
                    ("done", Some(status_code), Some(response)) => Begin::Done {
                        status_code,
                        response,
                    },
                    _ => Begin::InFlight { gateway_id },
                }
            }
        })
    }

    /// Record the first answer of a claimed request.
    pub async fn idem_finish(
        &self,
        participant_id: &str,
        operation: &str,
        request_id: &str,
        status_code: i64,
        response: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE idempotency_records SET state = 'done', status_code = $1, response = $2 \
             WHERE participant_id = $3 AND operation = $4 AND request_id = $5",
        )
        .bind(status_code)
        .bind(response)
        .bind(participant_id)
        .bind(operation)
        .bind(request_id);
        self.write_statement(done).await?;
        Ok(())
    }

    /// Drop a claim whose work failed on the gateway's side (nothing was
    /// done), so that a retry is worked on afresh.
    pub async fn idem_abandon(
        &self,
        participant_id: &str,
        operation: &str,
        request_id: &str,
    ) -> Result<(), StoreError> {
        let abandon = sqlx::query(
            "DELETE FROM idempotency_records WHERE participant_id = $1 AND operation = $2 \
             AND request_id = $3 AND state = 'in_flight'",
        )
        .bind(participant_id)
        .bind(operation)
        .bind(request_id);
        self.write_statement(abandon).await?;
        Ok(())
    }

    /// Forget records past their retention.
    pub async fn idem_purge(&self, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM idempotency_records WHERE expires_at_ms <= $1")
            .bind(now_ms)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Whether this is the first use of a signature (by its hash) within the
    /// window; a second use before `now_ms + window_ms` is a replay.
    pub async fn signature_first_use(
        &self,
        signature_hash: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO seen_signatures (signature_hash, expires_at_ms) VALUES ($1, $2) \
             ON CONFLICT (signature_hash) DO UPDATE SET expires_at_ms = excluded.expires_at_ms \
             WHERE seen_signatures.expires_at_ms <= $3",
        )
        .bind(signature_hash)
        .bind(now_ms.saturating_add(window_ms))
        .bind(now_ms);
        Ok(self.write_statement(done).await? == 1)
    }

    /// Forget signatures whose window has passed.
    pub async fn signature_purge(&self, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM seen_signatures WHERE expires_at_ms <= $1")
            .bind(now_ms)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

//! Risk rule sets and sanctions lists by version (the latest of each kind
//! is in force on every node), and the operator's alerts.

use crate::{Store, StoreError};

/// One loaded rule set or list.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RiskSet {
    /// `rules` or `sanctions`.
    pub kind: String,
    pub version: String,
    pub body: String,
    /// Rules in the set, or names in the list.
    pub items: i64,
    pub loaded_at_ms: i64,
    pub loaded_by: String,
    /// Order of loading (the latest is in force).
    pub seq: i64,
}

/// An alert for the operator.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RiskAlert {
    pub id: String,
    /// `rules_changed`, `sanctions_changed`, `review`, `decline`.
    pub kind: String,
    pub payment_id: Option<String>,
    pub detail: String,
    pub created_at_ms: i64,
    pub acked_at_ms: Option<i64>,
    pub acked_by: Option<String>,
}

/// Most alerts one listing returns.
pub const ALERT_LIST_MAX: i64 = 1_000;

impl Store {
    /// Record a newly loaded set (its version unique within its kind) and
    /// its alert, in one transaction. `Conflict` when the version exists.
    pub async fn risk_set_put(
        &self,
        set: RiskSet,
        alert: RiskAlert,
    ) -> Result<RiskSet, StoreError> {
        self.write(move |conn| {
            Box::pin(async move {
                let (next,): (i64,) = sqlx::query_as(
                    "SELECT CAST(COALESCE(MAX(seq), 0) + 1 AS BIGINT) FROM risk_sets WHERE kind = $1",
                )
                .bind(&set.kind)
                .fetch_one(&mut *conn)
                .await?;
                let done = sqlx::query(
                    "INSERT INTO risk_sets (kind, version, body, items, loaded_at_ms, loaded_by, seq) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                )
                .bind(&set.kind)
                .bind(&set.version)
                .bind(&set.body)
                .bind(set.items)
                .bind(set.loaded_at_ms)
                .bind(&set.loaded_by)
                .bind(next)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict(format!(
                        "{} version {} exists",
                        set.kind, set.version
                    )));
                }
                insert_alert(conn, &alert).await?;
                Ok(RiskSet { seq: next, ..set })
            })
        })
        .await
    }

    /// The set of `kind` in force: the latest loaded.
    pub async fn risk_set_latest(&self, kind: &str) -> Result<Option<RiskSet>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kind, version, body, items, loaded_at_ms, loaded_by, seq FROM risk_sets \
             WHERE kind = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(kind)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The latest version's sequence number of `kind` (cheap: nodes poll
    /// it to reload).
    pub async fn risk_set_seq(&self, kind: &str) -> Result<i64, StoreError> {
        let (seq,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM risk_sets WHERE kind = $1",
        )
        .bind(kind)
        .fetch_one(self.pool())
        .await?;
        Ok(seq)
    }

    pub async fn risk_alert_put(&self, alert: RiskAlert) -> Result<(), StoreError> {
        self.write(move |conn| Box::pin(async move { insert_alert(conn, &alert).await }))
            .await
    }

    /// Alerts, newest first; only those not acknowledged when `open`.
    pub async fn risk_alerts(&self, open: bool, limit: i64) -> Result<Vec<RiskAlert>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, kind, payment_id, detail, created_at_ms, acked_at_ms, acked_by FROM risk_alerts \
             WHERE ($1 = 0 OR acked_at_ms IS NULL) ORDER BY created_at_ms DESC, id LIMIT $2",
        )
        .bind(i64::from(open))
        .bind(limit.clamp(0, ALERT_LIST_MAX))
        .fetch_all(self.pool())
        .await?)
    }

    /// Acknowledge an alert. `NotFound` for an unknown id; acknowledging
    /// twice keeps the first.
    pub async fn risk_alert_ack(
        &self,
        id: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<RiskAlert, StoreError> {
        sqlx::query(
            "UPDATE risk_alerts SET acked_at_ms = $2, acked_by = $3 WHERE id = $1 AND acked_at_ms IS NULL",
        )
        .bind(id)
        .bind(now_ms)
        .bind(by)
        .execute(self.pool())
        .await?;
        sqlx::query_as(
            "SELECT id, kind, payment_id, detail, created_at_ms, acked_at_ms, acked_by FROM risk_alerts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("alert {id}")))
    }
}

async fn insert_alert(conn: &mut sqlx::AnyConnection, a: &RiskAlert) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO risk_alerts (id, kind, payment_id, detail, created_at_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&a.id)
    .bind(&a.kind)
    .bind(&a.payment_id)
    .bind(&a.detail)
    .bind(a.created_at_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

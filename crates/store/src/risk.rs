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

/// A counter a payment reads and, approved, adds to: since when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterWindow {
    pub rule: String,
    pub key: String,
    pub since_ms: i64,
}

/// A decision as kept with its payment.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct DecisionRow {
    pub payment_id: String,
    /// `before_money` or `authorisation`.
    pub moment: String,
    pub action: String,
    pub version: String,
    pub score: i64,
    /// The decision with every rule's outcome (JSON).
    pub decision: String,
    pub at_ms: i64,
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

impl Store {
    /// Read the counters, let `decide` judge them — (count, amount) per
    /// window, in order — and, when it approves, add `amount` to each, all
    /// in one transaction. On PostgreSQL the counters' keys are locked
    /// first (advisory locks, in key order), so racing payments on any
    /// node see each other; SQLite's single writer does the same. The
    /// decision is kept with the payment either way. Returns `decide`'s
    /// answer.
    pub async fn risk_check<T, F>(
        &self,
        windows: Vec<CounterWindow>,
        payment_id: &str,
        amount: i64,
        now_ms: i64,
        decide: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&[(i64, i64)]) -> (T, bool, DecisionRow) + Send + 'static,
    {
        let engine = self.engine();
        let payment_id = payment_id.to_string();
        self.write(move |conn| {
            Box::pin(async move {
                if engine == crate::Engine::Postgres {
                    let mut keys: Vec<String> =
                        windows.iter().map(|w| format!("{}\u{1}{}", w.rule, w.key)).collect();
                    keys.sort();
                    keys.dedup();
                    for k in keys {
                        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                            .bind(k)
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                let mut values = Vec::with_capacity(windows.len());
                for w in &windows {
                    let (count, sum): (i64, i64) = sqlx::query_as(
                        "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(amount), 0) AS BIGINT) \
                         FROM risk_events WHERE rule = $1 AND counter_key = $2 AND at_ms >= $3",
                    )
                    .bind(&w.rule)
                    .bind(&w.key)
                    .bind(w.since_ms)
                    .fetch_one(&mut *conn)
                    .await?;
                    values.push((count, sum));
                }
                let (answer, approved, row) = decide(&values);
                if approved {
                    for w in &windows {
                        sqlx::query(
                            "INSERT INTO risk_events (rule, counter_key, at_ms, amount, payment_id) \
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(&w.rule)
                        .bind(&w.key)
                        .bind(now_ms)
                        .bind(amount)
                        .bind(&payment_id)
                        .execute(&mut *conn)
                        .await?;
                    }
                }
                sqlx::query(
                    "INSERT INTO risk_decisions (payment_id, moment, action, version, score, decision, at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                )
                .bind(&row.payment_id)
                .bind(&row.moment)
                .bind(&row.action)
                .bind(&row.version)
                .bind(row.score)
                .bind(&row.decision)
                .bind(row.at_ms)
                .execute(&mut *conn)
                .await?;
                Ok(answer)
            })
        })
        .await
    }

    /// A payment's decisions, by moment.
    pub async fn risk_decisions(&self, payment_id: &str) -> Result<Vec<DecisionRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT payment_id, moment, action, version, score, decision, at_ms FROM risk_decisions \
             WHERE payment_id = $1 ORDER BY at_ms, moment",
        )
        .bind(payment_id)
        .fetch_all(self.pool())
        .await?)
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

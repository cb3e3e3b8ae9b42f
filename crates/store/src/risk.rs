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
    /// When the payment stops counting: `never`, `cancel` or
    /// `cancel_and_refund` (the rule's `release`).
    pub release_on: String,
}

/// Where a payer's history is kept and what this payment adds to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRequest {
    /// The payer's key.
    pub key: String,
    /// This payment's corridor (`MN-CN`).
    pub corridor: String,
    /// The history counts payments since then.
    pub since_ms: i64,
    /// Corridors are counted since then (a day ago).
    pub corridors_since_ms: i64,
}

/// What the store knows of a payer before this payment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PayerHistory {
    pub count: i64,
    /// Sum of the payer's amounts (the rule set's currency, minor units).
    pub total_minor: i64,
    /// The corridors the payer used lately (at most `HISTORY_CORRIDORS_MAX`).
    pub corridors: Vec<String>,
}

/// The counter a payer's history is kept in: its name starts with a
/// control character, which no rule id (printable ASCII) can hold.
pub const HISTORY_RULE: &str = "\u{1}payer_history";

/// Most recent corridors a payer's history reads.
pub const HISTORY_CORRIDORS_MAX: i64 = 16;

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
        history: Option<HistoryRequest>,
        payment_id: &str,
        amount: i64,
        now_ms: i64,
        decide: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&[(i64, i64)], Option<PayerHistory>) -> (T, bool, DecisionRow) + Send + 'static,
    {
        let engine = self.engine();
        let payment_id = payment_id.to_string();
        self.write(move |conn| {
            Box::pin(async move {
                if engine == crate::Engine::Postgres {
                    let mut keys: Vec<String> = windows
                        .iter()
                        .map(|w| (w.rule.as_str(), w.key.as_str()))
                        .chain(history.iter().map(|h| (HISTORY_RULE, h.key.as_str())))
                        .map(|(rule, key)| format!("{rule}\u{1}{key}"))
                        .collect();
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
                    values.push(window_sum(conn, &w.rule, &w.key, w.since_ms).await?);
                }
                let seen = match &history {
                    Some(h) => Some(payer_history(conn, h).await?),
                    None => None,
                };
                let (answer, approved, row) = decide(&values, seen);
                if approved {
                    let corridor = history.as_ref().map(|h| h.corridor.clone()).unwrap_or_default();
                    let events = windows
                        .iter()
                        .map(|w| (w.rule.as_str(), w.key.as_str(), w.release_on.as_str()))
                        .chain(history.iter().map(|h| (HISTORY_RULE, h.key.as_str(), "never")));
                    for (rule, key, release_on) in events {
                        sqlx::query(
                            "INSERT INTO risk_events (rule, counter_key, at_ms, amount, payment_id, units, release_on, source, corridor) \
                             VALUES ($1, $2, $3, $4, $5, 1, $6, 'payment', $7)",
                        )
                        .bind(rule)
                        .bind(key)
                        .bind(now_ms)
                        .bind(amount)
                        .bind(&payment_id)
                        .bind(release_on)
                        .bind(&corridor)
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

/// A window's (count, amount): releases count negative.
async fn window_sum(
    conn: &mut sqlx::AnyConnection,
    rule: &str,
    key: &str,
    since_ms: i64,
) -> Result<(i64, i64), StoreError> {
    Ok(sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(units), 0) AS BIGINT), CAST(COALESCE(SUM(amount), 0) AS BIGINT) \
         FROM risk_events WHERE rule = $1 AND counter_key = $2 AND at_ms >= $3",
    )
    .bind(rule)
    .bind(key)
    .bind(since_ms)
    .fetch_one(&mut *conn)
    .await?)
}

async fn payer_history(
    conn: &mut sqlx::AnyConnection,
    h: &HistoryRequest,
) -> Result<PayerHistory, StoreError> {
    let (count, total_minor) = window_sum(conn, HISTORY_RULE, &h.key, h.since_ms).await?;
    let corridors: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT corridor FROM risk_events \
         WHERE rule = $1 AND counter_key = $2 AND at_ms >= $3 ORDER BY corridor LIMIT $4",
    )
    .bind(HISTORY_RULE)
    .bind(&h.key)
    .bind(h.corridors_since_ms)
    .bind(HISTORY_CORRIDORS_MAX)
    .fetch_all(&mut *conn)
    .await?;
    Ok(PayerHistory {
        count,
        total_minor,
        corridors: corridors.into_iter().map(|(c,)| c).collect(),
    })
}

/// Release the counters of a payment that ended failed or cancelled,
/// where its rules said so: the rest of each event (what refunds have not
/// already taken off) goes, once. In the caller's transaction.
pub(crate) async fn release_on_cancel(
    conn: &mut sqlx::AnyConnection,
    payment_id: &str,
) -> Result<(), StoreError> {
    release(conn, payment_id, "cancel", None).await
}

/// Release a refund's share of a payment's counters, where its rules said
/// so: `refunded_after` of `total` (merchant currency) is now refunded;
/// each event keeps the part not refunded, and leaves the count once fully
/// refunded. Once per refund. In the caller's transaction.
pub(crate) async fn release_on_refund(
    conn: &mut sqlx::AnyConnection,
    payment_id: &str,
    refund_id: &str,
    refunded_after: i64,
    total: i64,
) -> Result<(), StoreError> {
    release(
        conn,
        payment_id,
        &format!("refund:{refund_id}"),
        Some((refunded_after, total)),
    )
    .await
}

async fn release(
    conn: &mut sqlx::AnyConnection,
    payment_id: &str,
    source: &str,
    refund: Option<(i64, i64)>,
) -> Result<(), StoreError> {
    let done: Option<(i64,)> = sqlx::query_as(
        "SELECT CAST(1 AS BIGINT) FROM risk_events WHERE payment_id = $1 AND source = $2 LIMIT 1",
    )
    .bind(payment_id)
    .bind(source)
    .fetch_optional(&mut *conn)
    .await?;
    if done.is_some() {
        return Ok(());
    }
    let releasing: &[&str] = match refund {
        None => &["cancel", "cancel_and_refund"],
        Some(_) => &["cancel_and_refund"],
    };
    // Each counted event, with what is left of it after earlier releases.
    let events: Vec<(String, String, i64, i64, i64, String)> = sqlx::query_as(
        "SELECT e.rule, e.counter_key, e.at_ms, e.amount, \
         CAST(COALESCE((SELECT SUM(r.amount) FROM risk_events r WHERE r.payment_id = e.payment_id \
           AND r.rule = e.rule AND r.counter_key = e.counter_key AND r.source <> 'payment'), 0) AS BIGINT), \
         e.release_on \
         FROM risk_events e WHERE e.payment_id = $1 AND e.source = 'payment' ORDER BY e.rule, e.counter_key",
    )
    .bind(payment_id)
    .fetch_all(&mut *conn)
    .await?;
    for (rule, key, at_ms, amount, released, release_on) in events {
        if !releasing.contains(&release_on.as_str()) {
            continue;
        }
        let left = amount.saturating_add(released);
        let (take, units) = match refund {
            None => (left, 1),
            Some((after, total)) => {
                let keep = kept_share(amount, after, total);
                (left.saturating_sub(keep).max(0), i64::from(after >= total))
            }
        };
        if take == 0 && units == 0 {
            continue;
        }
        sqlx::query(
            "INSERT INTO risk_events (rule, counter_key, at_ms, amount, payment_id, units, release_on, source, corridor) \
             VALUES ($1, $2, $3, $4, $5, $6, 'never', $7, '')",
        )
        .bind(&rule)
        .bind(&key)
        .bind(at_ms)
        .bind(-take)
        .bind(payment_id)
        .bind(-units)
        .bind(source)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// What an event of `amount` keeps once `refunded` of `total` is refunded:
/// the unrefunded share, rounded down (the last refund takes the rest).
fn kept_share(amount: i64, refunded: i64, total: i64) -> i64 {
    if total <= 0 || refunded >= total {
        return 0;
    }
    let kept = i128::from(amount) * i128::from(total - refunded.max(0)) / i128::from(total);
    i64::try_from(kept).unwrap_or(amount)
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

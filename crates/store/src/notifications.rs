//! The notifications outbox: a payment's final result, for each
//! participant concerned, written by [`Store::payment_transition`] in the
//! transaction of the state change (so a crash can never lose one), then
//! sent at least once by the notifier. The row's id is the request id of
//! every attempt: a participant answers a repeat with its first answer.

use payment::State;
use sqlx::AnyConnection;

use crate::{Store, StoreError};

/// Most notifications one listing or one dispatch batch returns.
pub const NOTIFICATION_LIST_MAX: i64 = 1_000;
/// Most characters of the last error kept on a notification.
const ERROR_CHARS_MAX: usize = 500;

/// Where a notification is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationStatus {
    /// Waiting for its next attempt (`next_at_ms`).
    Pending,
    /// The participant acknowledged it.
    Sent,
    /// Its attempts ran out: the operator replays it.
    Dead,
}

impl NotificationStatus {
    pub const ALL: [NotificationStatus; 3] = [
        NotificationStatus::Pending,
        NotificationStatus::Sent,
        NotificationStatus::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Pending => "pending",
            NotificationStatus::Sent => "sent",
            NotificationStatus::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<NotificationStatus> {
        Self::ALL.into_iter().find(|n| n.as_str() == s)
    }
}

/// One notification as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Also the request id of every attempt.
    pub id: String,
    pub payment_id: String,
    pub participant: String,
    /// The payment's state it tells (`succeeded`, `failed`, `cancelled`).
    pub payment_state: State,
    /// The amount that concerns the participant, in its currency.
    pub amount: Option<money::Money>,
    pub status: NotificationStatus,
    pub attempts: i64,
    pub next_at_ms: i64,
    pub last_error: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

const COLUMNS: &str = "id, payment_id, participant, payment_state, amount, currency, status, attempts, \
    next_at_ms, last_error, created_at_ms, updated_at_ms";

type Row = (
    String,
    String,
    String,
    String,
    Option<i64>,
    Option<String>,
    String,
    i64,
    i64,
    String,
    i64,
    i64,
);

fn corrupt(what: String) -> StoreError {
    StoreError::Query(sqlx::Error::Decode(what.into()))
}

fn from_row(r: Row) -> Result<Notification, StoreError> {
    let (
        id,
        payment_id,
        participant,
        state,
        amount,
        currency,
        status,
        attempts,
        next_at_ms,
        last_error,
        created_at_ms,
        updated_at_ms,
    ) = r;
    let amount = match (amount, currency) {
        (Some(minor), Some(code)) => Some(money::Money::new(
            minor,
            money::Currency::parse(&code).map_err(|e| corrupt(e.to_string()))?,
        )),
        _ => None,
    };
    Ok(Notification {
        payment_state: State::parse(&state).ok_or_else(|| corrupt(format!("state {state:?}")))?,
        status: NotificationStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("status {status:?}")))?,
        id,
        payment_id,
        participant,
        amount,
        attempts,
        next_at_ms,
        last_error,
        created_at_ms,
        updated_at_ms,
    })
}

/// Queue one notification, inside the caller's transaction.
pub(crate) async fn enqueue(
    conn: &mut AnyConnection,
    id: &str,
    payment_id: &str,
    participant: &str,
    state: State,
    (amount, currency): (i64, &str),
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO notifications (id, payment_id, participant, payment_state, amount, currency, status, \
         attempts, next_at_ms, last_error, created_at_ms, updated_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, '', $7, $7) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(payment_id)
    .bind(participant)
    .bind(state.as_str())
    .bind(amount)
    .bind(currency)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// Pending notifications due at `now_ms`, oldest due first.
    pub async fn notifications_due(
        &self,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM notifications WHERE status = 'pending' AND next_at_ms <= $1 \
             ORDER BY next_at_ms, id LIMIT $2"
        )))
        .bind(now_ms)
        .bind(limit.clamp(0, NOTIFICATION_LIST_MAX))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    /// Notifications in one status (all when `None`), of one payment when
    /// given, newest first.
    pub async fn notifications_list(
        &self,
        status: Option<NotificationStatus>,
        payment_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM notifications WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) \
             AND (CAST($2 AS TEXT) IS NULL OR payment_id = $2) ORDER BY created_at_ms DESC, id LIMIT $3"
        )))
        .bind(status.map(|s| s.as_str()))
        .bind(payment_id)
        .bind(limit.clamp(0, NOTIFICATION_LIST_MAX))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    pub async fn notification_get(&self, id: &str) -> Result<Option<Notification>, StoreError> {
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM notifications WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(from_row).transpose()
    }

    /// Record one attempt of a pending notification: `sent`, or back to
    /// `pending` until `next_at_ms`, or `dead` when `dead` says its
    /// attempts ran out. A notification no longer pending (another node
    /// sent it) is left alone; returns whether this attempt was recorded.
    pub async fn notification_attempted(
        &self,
        id: &str,
        outcome: Result<(), (&str, i64, bool)>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let (status, error, next) = match outcome {
            Ok(()) => (NotificationStatus::Sent, String::new(), now_ms),
            Err((why, next_at_ms, dead)) => (
                if dead {
                    NotificationStatus::Dead
                } else {
                    NotificationStatus::Pending
                },
                why.chars().take(ERROR_CHARS_MAX).collect(),
                next_at_ms,
            ),
        };
        let done = sqlx::query(
            "UPDATE notifications SET status = $1, attempts = attempts + 1, last_error = $2, \
             next_at_ms = $3, updated_at_ms = $4 WHERE id = $5 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(next)
        .bind(now_ms)
        .bind(id);
        Ok(self.write_statement(done).await? == 1)
    }

    /// The operator's replay of a dead notification: pending again, due
    /// now, with its attempts counted afresh. `NotFound` for an unknown
    /// id; `IllegalMove` for one that is not dead.
    pub async fn notification_replay(
        &self,
        id: &str,
        now_ms: i64,
    ) -> Result<Notification, StoreError> {
        let done = sqlx::query(
            "UPDATE notifications SET status = 'pending', attempts = 0, next_at_ms = $1, \
             updated_at_ms = $1 WHERE id = $2 AND status = 'dead'",
        )
        .bind(now_ms)
        .bind(id)
        .execute(self.pool())
        .await?;
        let found = self
            .notification_get(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("notification {id}")))?;
        if done.rows_affected() != 1 {
            return Err(StoreError::IllegalMove(format!(
                "notification {id} is {}, not dead",
                found.status.as_str()
            )));
        }
        Ok(found)
    }
}

//! Leases: a named piece of work held by one node at a time, until it
//! expires or is released. Held in the store, so every node sees the same
//! holder; taken with one atomic upsert, so two nodes never both win.

use crate::{Store, StoreError};

/// A lease as the store holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub expires_at_ms: i64,
    pub acquired_at_ms: i64,
    pub renewals: i64,
}

/// A `leases` row: name, holder, expires_at_ms, acquired_at_ms, renewals.
type LeaseRow = (String, String, i64, i64, i64);

impl From<LeaseRow> for Lease {
    fn from((name, holder, expires_at_ms, acquired_at_ms, renewals): LeaseRow) -> Self {
        Lease {
            name,
            holder,
            expires_at_ms,
            acquired_at_ms,
            renewals,
        }
    }
}

impl Store {
    /// Take the lease `name` for `holder` until `now_ms + ttl_ms`, if it is
    /// free, expired, or already `holder`'s. Returns whether `holder` now
    /// holds it.
    pub async fn lease_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let expires = now_ms.saturating_add(ttl_ms.max(1));
        let done = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at_ms, acquired_at_ms, renewals) \
             VALUES ($1, $2, $3, $4, 0) \
             ON CONFLICT (name) DO UPDATE SET \
               holder = excluded.holder, \
               expires_at_ms = excluded.expires_at_ms, \
               acquired_at_ms = CASE WHEN leases.holder = excluded.holder \
                                     THEN leases.acquired_at_ms ELSE excluded.acquired_at_ms END, \
               renewals = CASE WHEN leases.holder = excluded.holder \
                               THEN leases.renewals + 1 ELSE 0 END \
             WHERE leases.expires_at_ms <= excluded.acquired_at_ms \
                OR leases.holder = excluded.holder",
        )
        .bind(name)
        .bind(holder)
        .bind(expires)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Extend `holder`'s unexpired lease to `now_ms + ttl_ms`. Returns false
    /// when the lease has expired or another node holds it: the work must
    /// stop.
    pub async fn lease_renew(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE leases SET expires_at_ms = $1, renewals = renewals + 1 \
             WHERE name = $2 AND holder = $3 AND expires_at_ms > $4",
        )
        .bind(now_ms.saturating_add(ttl_ms.max(1)))
        .bind(name)
        .bind(holder)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Give the lease up. Returns false when `holder` did not hold it.
    pub async fn lease_release(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The unexpired lease `name`, if anyone holds it.
    pub async fn lease_get(&self, name: &str, now_ms: i64) -> Result<Option<Lease>, StoreError> {
        let row: Option<LeaseRow> = sqlx::query_as(
            "SELECT name, holder, expires_at_ms, acquired_at_ms, renewals FROM leases \
             WHERE name = $1 AND expires_at_ms > $2",
        )
        .bind(name)
        .bind(now_ms)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(Lease::from))
    }
}

impl Store {
    /// Every unexpired lease, by name.
    pub async fn lease_list(&self, now_ms: i64) -> Result<Vec<Lease>, StoreError> {
        let rows: Vec<LeaseRow> = sqlx::query_as(
            "SELECT name, holder, expires_at_ms, acquired_at_ms, renewals FROM leases \
             WHERE expires_at_ms > $1 ORDER BY name",
        )
        .bind(now_ms)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(Lease::from).collect())
    }

    /// Forget leases that expired before `before_ms` (housekeeping).
    pub async fn lease_purge(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM leases WHERE expires_at_ms < $1")
            .bind(before_ms)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

//! Read-only views an auditor takes of the whole store at once (the demo's
//! summary, the crash tests): what is still open, each payment's outline,
//! the refunds, the outbox. Read straight from the tables, apart from the
//! code paths that wrote them.

use crate::{Store, StoreError};

/// One payment, in outline.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct PaymentOutline {
    pub id: String,
    pub mode: String,
    pub direction: String,
    pub state: String,
    pub wallet: String,
    pub acquirer: String,
    pub merchant_amount: i64,
    pub merchant_currency: String,
    pub payer_amount: Option<i64>,
    pub payer_currency: Option<String>,
    pub clearing_date: Option<String>,
}

/// One refund, with its payment's mode.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RefundOutline {
    pub payment_id: String,
    pub state: String,
    pub payer_minor: i64,
    pub mode: String,
}

impl Store {
    /// Work still open: payments not final and not `exception`, refunds
    /// whose outcome is unknown, notifications still to send.
    pub async fn audit_open_work(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT CAST((SELECT COUNT(*) FROM payments \
               WHERE state NOT IN ('succeeded', 'failed', 'cancelled', 'exception')) \
             + (SELECT COUNT(*) FROM refunds WHERE state IN ('pending', 'unknown')) \
             + (SELECT COUNT(*) FROM notifications WHERE status = 'pending') AS BIGINT)",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }

    /// Every payment, in outline, by id.
    pub async fn audit_payments(&self) -> Result<Vec<PaymentOutline>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, mode, direction, state, wallet, acquirer, merchant_amount, merchant_currency, \
             payer_amount, payer_currency, clearing_date FROM payments ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Payments whose outcome an inquiry found out.
    pub async fn audit_resolved_by_inquiry(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT CAST(COUNT(DISTINCT payment_id) AS BIGINT) FROM payment_history \
             WHERE event IN ('downstream_ok', 'downstream_declined') AND detail LIKE 'inquiry:%'",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }

    /// Every refund, in outline.
    pub async fn audit_refunds(&self) -> Result<Vec<RefundOutline>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT r.payment_id, r.state, r.payer_minor, p.mode FROM refunds r \
             JOIN payments p ON p.id = r.payment_id ORDER BY r.id",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Notifications by status.
    pub async fn audit_notifications(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT status, CAST(COUNT(*) AS BIGINT) FROM notifications GROUP BY status ORDER BY status",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Reservations still open, but those an exception holds.
    pub async fn audit_open_reservations(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM ledger_transfers t WHERE t.open = 1 AND NOT EXISTS \
             (SELECT 1 FROM payments p WHERE p.id = t.reference AND p.state = 'exception')",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }
}

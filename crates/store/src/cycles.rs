//! Clearing cycles: one per clearing date, `open → cut_off → closed →
//! settled`; a closed cycle's positions and settlement instructions. The
//! netting itself is the `clearing` crate's; this module reads a cycle's
//! posted movements and writes what the close decided, in one
//! transaction.

use crate::{Store, StoreError, TransferRecord};

/// A cycle as stored.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Cycle {
    pub clearing_date: String,
    /// `open`, `cut_off`, `closed` or `settled`.
    pub state: String,
    pub cutoff_at_ms: i64,
    pub grace_until_ms: i64,
    pub closed_at_ms: Option<i64>,
    pub closed_by: Option<String>,
    pub closed_early: i64,
    pub settled_at_ms: Option<i64>,
    pub payments: i64,
    pub refunds: i64,
}

const CYCLE_COLUMNS: &str = "clearing_date, state, cutoff_at_ms, grace_until_ms, closed_at_ms, closed_by, \
    closed_early, settled_at_ms, payments, refunds";

/// A party's position, as stored.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct PositionRow {
    pub clearing_date: String,
    pub party: String,
    pub currency: String,
    pub gross_debits: i64,
    pub gross_credits: i64,
    pub fees: i64,
    pub net: i64,
}

/// A settlement instruction, as stored.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct InstructionRow {
    pub clearing_date: String,
    pub seq: i64,
    pub payer: String,
    pub payee: String,
    pub currency: String,
    pub amount: i64,
    pub payer_account: String,
    pub payee_account: String,
    pub value_date: String,
}

/// What a close writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CycleClose {
    pub positions: Vec<PositionRow>,
    pub instructions: Vec<InstructionRow>,
    /// How many payments and refunds the cycle has.
    pub payments: i64,
    pub refunds: i64,
    /// The node that closed it, and whether before the end of the grace.
    pub node: String,
    pub early: bool,
    pub now_ms: i64,
}

/// What a close came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Closed {
    /// This call closed it.
    Now,
    /// It was closed (or settled) already: nothing changed.
    Already(String),
}

/// Most cycles one listing returns.
pub const CYCLE_LIST_MAX: i64 = 1_000;

impl Store {
    /// The cycle of `clearing_date`, created `open` if new.
    pub async fn cycle_ensure(
        &self,
        clearing_date: &str,
        cutoff_at_ms: i64,
        grace_until_ms: i64,
    ) -> Result<Cycle, StoreError> {
        sqlx::query(
            "INSERT INTO clearing_cycles (clearing_date, state, cutoff_at_ms, grace_until_ms) \
             VALUES ($1, 'open', $2, $3) ON CONFLICT (clearing_date) DO NOTHING",
        )
        .bind(clearing_date)
        .bind(cutoff_at_ms)
        .bind(grace_until_ms)
        .execute(self.pool())
        .await?;
        self.cycle_get(clearing_date)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("cycle {clearing_date}")))
    }

    pub async fn cycle_get(&self, clearing_date: &str) -> Result<Option<Cycle>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CYCLE_COLUMNS} FROM clearing_cycles WHERE clearing_date = $1"
        )))
        .bind(clearing_date)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Cycles, newest clearing date first.
    pub async fn cycles_list(&self, limit: i64) -> Result<Vec<Cycle>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CYCLE_COLUMNS} FROM clearing_cycles ORDER BY clearing_date DESC LIMIT $1"
        )))
        .bind(limit.clamp(0, CYCLE_LIST_MAX))
        .fetch_all(self.pool())
        .await?)
    }

    /// Clearing dates that have payments but no cycle yet, or whose cycle
    /// is `open` or `cut_off`: the close job's work list.
    pub async fn cycles_unclosed_dates(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT p.clearing_date FROM payments p WHERE p.clearing_date IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM clearing_cycles c WHERE c.clearing_date = p.clearing_date \
                             AND c.state IN ('closed', 'settled')) \
             ORDER BY p.clearing_date",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(d,)| d).collect())
    }

    /// Move an open cycle to `cut_off` (its cut-off has passed).
    pub async fn cycle_cut_off(&self, clearing_date: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE clearing_cycles SET state = 'cut_off' WHERE clearing_date = $1 AND state = 'open'",
        )
        .bind(clearing_date)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Payments of the date still in an intermediate state (not final,
    /// not `exception`) and refunds of the date whose outcome is unknown:
    /// a cycle does not close over them.
    pub async fn cycle_open_work(&self, clearing_date: &str) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT CAST((SELECT COUNT(*) FROM payments WHERE clearing_date = $1 \
               AND state NOT IN ('succeeded', 'failed', 'cancelled', 'exception')) \
             + (SELECT COUNT(*) FROM refunds WHERE clearing_date = $1 AND state IN ('pending', 'unknown')) \
             AS BIGINT)",
        )
        .bind(clearing_date)
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }

    /// The posted transfers of a cycle: a payment's own (its legs, fees,
    /// cancel corrections, suspense moves) by the payment's clearing date,
    /// a refund's by the refund's — those posted before the cycle closed
    /// (its `closed_at_ms`; `now_ms` while it is not). A transfer of a
    /// payment whose cycle had closed already when it was posted (an
    /// exception resolved later) belongs to the cycle open at the time:
    /// the one whose window (`window`: from the previous cut-off to this
    /// one) holds it, or the next one after its own if that closed early
    /// (`previous` is the date before `clearing_date`). Also how many
    /// payments and refunds the cycle has.
    pub async fn cycle_movements(
        &self,
        clearing_date: &str,
        previous: &str,
        window: (i64, i64),
        now_ms: i64,
    ) -> Result<(Vec<TransferRecord>, i64, i64), StoreError> {
        let closed: Option<i64> = self
            .cycle_get(clearing_date)
            .await?
            .and_then(|c| c.closed_at_ms);
        let until = closed.unwrap_or(now_ms);
        let (from_ms, until_ms) = window;
        let own = self
            .transfers_where(
                "t.phase IN ('single', 'post') AND t.created_at_ms <= CAST($2 AS BIGINT) AND (\
                   (t.reference IN (SELECT id FROM payments WHERE clearing_date = $1) \
                    AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = t.reference \
                                    AND (t.id = r.id OR t.id LIKE r.id || ':%'))) \
                   OR EXISTS (SELECT 1 FROM refunds r WHERE r.clearing_date = $1 \
                              AND r.payment_id = t.reference AND t.id LIKE r.id || ':%'))",
                &[clearing_date.to_string(), until.to_string()],
            )
            .await?;
        // Posted after their own cycle closed, inside this one's window.
        let late = self
            .transfers_where(
                "t.phase IN ('single', 'post') AND t.created_at_ms < CAST($2 AS BIGINT) AND EXISTS (\
                   SELECT 1 FROM payments p JOIN clearing_cycles c ON c.clearing_date = p.clearing_date \
                   WHERE p.id = t.reference AND c.closed_at_ms IS NOT NULL \
                   AND t.created_at_ms > c.closed_at_ms AND c.clearing_date <> $3 \
                   AND (t.created_at_ms >= CAST($1 AS BIGINT) OR c.clearing_date = $4))",
                &[
                    from_ms.to_string(),
                    until.min(until_ms).to_string(),
                    clearing_date.to_string(),
                    previous.to_string(),
                ],
            )
            .await?;
        let mut transfers = own;
        transfers.extend(late);
        transfers.sort_by_key(|t| t.seq);
        let (payments,): (i64,) = sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM payments WHERE clearing_date = $1",
        )
        .bind(clearing_date)
        .fetch_one(self.pool())
        .await?;
        let (refunds,): (i64,) =
            sqlx::query_as("SELECT CAST(COUNT(*) AS BIGINT) FROM refunds WHERE clearing_date = $1")
                .bind(clearing_date)
                .fetch_one(self.pool())
                .await?;
        Ok((transfers, payments, refunds))
    }

    /// Close a cycle: its positions and instructions written and its state
    /// `closed`, all or nothing. A cycle closed or settled already is left
    /// as it was (`Closed::Already`); a missing one is `NotFound`.
    pub async fn cycle_close(
        &self,
        clearing_date: &str,
        close: CycleClose,
    ) -> Result<Closed, StoreError> {
        let date = clearing_date.to_string();
        let CycleClose {
            positions,
            instructions,
            payments,
            refunds,
            node,
            early,
            now_ms,
        } = close;
        self.write(move |conn| {
            Box::pin(async move {
                // The state moves first: on PostgreSQL the update holds the
                // row, so a second close waits, then finds it closed.
                let moved = sqlx::query(
                    "UPDATE clearing_cycles SET state = 'closed', closed_at_ms = $2, closed_by = $3, \
                     closed_early = $4, payments = $5, refunds = $6 \
                     WHERE clearing_date = $1 AND state IN ('open', 'cut_off')",
                )
                .bind(&date)
                .bind(now_ms)
                .bind(&node)
                .bind(i64::from(early))
                .bind(payments)
                .bind(refunds)
                .execute(&mut *conn)
                .await?;
                if moved.rows_affected() != 1 {
                    let state: Option<(String,)> =
                        sqlx::query_as("SELECT state FROM clearing_cycles WHERE clearing_date = $1")
                            .bind(&date)
                            .fetch_optional(&mut *conn)
                            .await?;
                    return match state {
                        None => Err(StoreError::NotFound(format!("cycle {date}"))),
                        Some((s,)) => Ok(Closed::Already(s)),
                    };
                }
                for p in &positions {
                    sqlx::query(
                        "INSERT INTO cycle_positions (clearing_date, party, currency, gross_debits, \
                         gross_credits, fees, net) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&date)
                    .bind(&p.party)
                    .bind(&p.currency)
                    .bind(p.gross_debits)
                    .bind(p.gross_credits)
                    .bind(p.fees)
                    .bind(p.net)
                    .execute(&mut *conn)
                    .await?;
                }
                for i in &instructions {
                    sqlx::query(
                        "INSERT INTO settlement_instructions (clearing_date, seq, payer, payee, currency, \
                         amount, payer_account, payee_account, value_date) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(&date)
                    .bind(i.seq)
                    .bind(&i.payer)
                    .bind(&i.payee)
                    .bind(&i.currency)
                    .bind(i.amount)
                    .bind(&i.payer_account)
                    .bind(&i.payee_account)
                    .bind(&i.value_date)
                    .execute(&mut *conn)
                    .await?;
                }
                crate::faults::point("mid_close").await;
                Ok(Closed::Now)
            })
        })
        .await
    }

    /// Mark a closed cycle settled (its settlement transfers are posted).
    /// `IllegalMove` when it is not closed (open, or settled already).
    pub async fn cycle_mark_settled(
        &self,
        clearing_date: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE clearing_cycles SET state = 'settled', settled_at_ms = $2 \
             WHERE clearing_date = $1 AND state = 'closed'",
        )
        .bind(clearing_date)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        if done.rows_affected() != 1 {
            let state = self
                .cycle_get(clearing_date)
                .await?
                .map(|c| c.state)
                .ok_or_else(|| StoreError::NotFound(format!("cycle {clearing_date}")))?;
            return Err(StoreError::IllegalMove(format!(
                "cycle {clearing_date} is {state}, not closed"
            )));
        }
        Ok(())
    }

    pub async fn cycle_positions(
        &self,
        clearing_date: &str,
    ) -> Result<Vec<PositionRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT clearing_date, party, currency, gross_debits, gross_credits, fees, net \
             FROM cycle_positions WHERE clearing_date = $1 ORDER BY currency, party",
        )
        .bind(clearing_date)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn cycle_instructions(
        &self,
        clearing_date: &str,
    ) -> Result<Vec<InstructionRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT clearing_date, seq, payer, payee, currency, amount, payer_account, payee_account, \
             value_date FROM settlement_instructions WHERE clearing_date = $1 ORDER BY seq",
        )
        .bind(clearing_date)
        .fetch_all(self.pool())
        .await?)
    }
}

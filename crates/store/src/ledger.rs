//! The books in SQL: the `ledger` crate's rules, applied atomically through
//! the durable write path. A debit limit is checked in the very `UPDATE`
//! that takes the debit, so two racing transfers cannot both take the last
//! headroom (PostgreSQL's row lock, SQLite's single writer).

use ledger::{AccountId, Balance, Phase, Transfer};

use sqlx::Row;

use crate::{Engine, Store, StoreError};

/// Shards of each of the gateway's house accounts. PostgreSQL holds a
/// payment's row locks until its commit, so the next payment on the same
/// shard waits that long: 64 shards (16 until migration 0020) make that
/// rare. SQLite has one writer and no row locks, and every shard a commit
/// touches is one more row to read and update: 16.
pub fn house_shards(engine: Engine) -> i64 {
    match engine {
        Engine::Sqlite => 16,
        Engine::Postgres => 64,
    }
}

/// [`house_shards`] of the engine behind `conn`.
fn house_shards_of(conn: &sqlx::AnyConnection) -> i64 {
    house_shards(if conn.backend_name() == "SQLite" {
        Engine::Sqlite
    } else {
        Engine::Postgres
    })
}

/// Largest single transfer, in minor units, so that no sum of them comes
/// near 64 bits in either engine (SQLite would turn an overflowing integer
/// into a float).
pub const TRANSFER_AMOUNT_MAX: i64 = 1_000_000_000_000_000;

/// Most transfers applied as one batch (a payment's legs are a handful).
const BATCH_TRANSFERS_MAX: usize = 256;
/// Account rows locked by one statement (PostgreSQL, `lock_in_order`).
const LOCK_ROWS_PER_STATEMENT: usize = 500;

/// An account as stored: its definition and the sum of its shards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerAccount {
    pub id: AccountId,
    pub debit_limit: Option<i64>,
    pub balance: Balance,
}

/// A transfer as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRecord {
    pub seq: i64,
    pub id: String,
    pub debit: String,
    pub credit: String,
    pub amount: i64,
    pub currency: String,
    pub code: String,
    pub reference: String,
    pub phase: String,
    pub pending_id: Option<String>,
    pub expires_at_ms: Option<i64>,
    pub open: bool,
    pub created_at_ms: i64,
}

/// The shard of `account` a new transfer lands in, of `shards`.
fn shard_of(account: &AccountId, transfer_id: &str, shards: i64) -> i64 {
    if !account.kind.is_house() {
        return 0;
    }
    // FNV-1a: stable across processes and versions (unlike std's hasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in transfer_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::try_from(h % u64::try_from(shards).unwrap_or(1).max(1)).unwrap_or(0)
}

type BalanceRow = (Option<i64>, Option<i64>, Option<i64>, Option<i64>);

/// An account's four sums now, then those of its transfers written later.
type NowAndLater = (
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

fn balance_from((dp, dpo, cp, cpo): BalanceRow) -> Balance {
    Balance {
        debits_pending: dp.unwrap_or(0),
        debits_posted: dpo.unwrap_or(0),
        credits_pending: cp.unwrap_or(0),
        credits_posted: cpo.unwrap_or(0),
    }
}

impl Store {
    /// Open an account (every shard of a house account); opening it again
    /// changes nothing.
    pub async fn ledger_open(
        &self,
        id: &AccountId,
        debit_limit: Option<i64>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.ledger_open_many(&[(id.clone(), debit_limit)], now_ms)
            .await
    }

    /// Open every account of `accounts` not open yet, in one write (a
    /// payment touches several; most are open already, which one read
    /// tells). Opening an account again changes nothing, its limit
    /// included.
    pub async fn ledger_open_many(
        &self,
        accounts: &[(AccountId, Option<i64>)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut wanted: Vec<(AccountId, Option<i64>)> = Vec::new();
        for (a, limit) in accounts {
            if !wanted.iter().any(|(w, _)| w == a) {
                wanted.push((a.clone(), *limit));
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let placeholders: Vec<String> = (1..=wanted.len()).map(|i| format!("${i}")).collect();
        let mut q = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM ledger_accounts WHERE shard = 0 AND id IN ({})",
            placeholders.join(", ")
        )));
        for (a, _) in &wanted {
            q = q.bind(a.key());
        }
        let open: Vec<String> = q
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(|(k,)| k)
            .collect();
        wanted.retain(|(a, _)| !open.contains(&a.key()));
        if wanted.is_empty() {
            return Ok(());
        }
        self.write(move |conn| {
            Box::pin(async move {
                for (id, debit_limit) in &wanted {
                    let shards = if id.kind.is_house() {
                        house_shards_of(conn)
                    } else {
                        1
                    };
                    // Every shard in one statement: its rows counted out
                    // by a recursive CTE (both engines), not one `INSERT`
                    // per shard. (`WHERE true` lets SQLite read the
                    // `ON CONFLICT` after `INSERT ... SELECT`.)
                    sqlx::query(
                        "WITH RECURSIVE s(shard) AS (SELECT 0 UNION ALL SELECT shard + 1 FROM s WHERE shard + 1 < $2) \
                         INSERT INTO ledger_accounts (id, shard, owner, kind, currency, debit_limit, debits_pending, \
                           debits_posted, credits_pending, credits_posted, created_at_ms) \
                         SELECT $1, shard, $3, $4, $5, $6, 0, 0, 0, 0, $7 FROM s WHERE true \
                         ON CONFLICT (id, shard) DO NOTHING",
                    )
                    .bind(id.key())
                    .bind(shards)
                    .bind(&id.owner)
                    .bind(id.kind.as_str())
                    .bind(id.currency.code())
                    .bind(*debit_limit)
                    .bind(now_ms)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Set or clear a participant account's debit limit.
    pub async fn ledger_set_limit(
        &self,
        id: &AccountId,
        debit_limit: Option<i64>,
    ) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE ledger_accounts SET debit_limit = $1 WHERE id = $2 AND shard = 0")
                .bind(debit_limit)
                .bind(id.key())
                .execute(self.pool())
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("account {}", id.key())));
        }
        Ok(())
    }

    /// Apply transfers all or none, in one durable transaction.
    /// `LimitExceeded` when a debit would go beyond its account's limit,
    /// `NotFound` for a missing account, `Conflict` for a transfer id used
    /// before or a post or void of a transfer that is not open.
    pub async fn ledger_apply(
        &self,
        transfers: Vec<Transfer>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        for t in &transfers {
            t.validate()
                .map_err(|e| StoreError::Refused(e.to_string()))?;
            if t.amount > TRANSFER_AMOUNT_MAX {
                return Err(StoreError::Refused(format!(
                    "a transfer is at most {TRANSFER_AMOUNT_MAX} minor units"
                )));
            }
        }
        let batched = transfers.len() > 1
            && transfers.len() <= BATCH_TRANSFERS_MAX
            && transfers
                .iter()
                .all(|t| matches!(t.phase, Phase::Single | Phase::Pending { .. }));
        // SQLite: the writer folds this caller's transfers with the others'
        // of its commit.
        if batched && self.folds_ledger() {
            return self.ledger_fold(transfers, now_ms).await;
        }
        // PostgreSQL may pick this transaction as a deadlock's victim (two
        // batches taking the same accounts in another order): it changed
        // nothing, so it is run again, a few times.
        let mut attempt = 0u64;
        loop {
            let batch = transfers.clone();
            let done = self
                .write(move |conn| {
                    Box::pin(async move {
                        if batched {
                            return apply_batch(conn, &batch, now_ms).await;
                        }
                        if conn.backend_name() != "SQLite" {
                            lock_in_order(conn, &batch).await?;
                        }
                        for t in &batch {
                            apply_one(conn, t, now_ms).await?;
                        }
                        Ok(())
                    })
                })
                .await;
            match done {
                Err(StoreError::Query(e)) if attempt < DEADLOCK_RETRIES && is_deadlock(&e) => {
                    attempt += 1;
                    self.ledger_deadlocks
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!(attempt, "a ledger write lost a deadlock; running it again");
                    tokio::time::sleep(std::time::Duration::from_millis(5 * attempt)).await;
                }
                other => return other,
            }
        }
    }

    /// How many ledger writes lost a deadlock and ran again (PostgreSQL;
    /// with the accounts locked in key order there should be none).
    pub fn ledger_deadlocks(&self) -> u64 {
        self.ledger_deadlocks
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// An account's balance now (the sum of its shards).
    pub async fn ledger_account(
        &self,
        id: &AccountId,
    ) -> Result<Option<LedgerAccount>, StoreError> {
        let row: Option<(Option<i64>, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT MAX(debit_limit), CAST(SUM(debits_pending) AS BIGINT), CAST(SUM(debits_posted) AS BIGINT), CAST(SUM(credits_pending) AS BIGINT), CAST(SUM(credits_posted) AS BIGINT) \
             FROM ledger_accounts WHERE id = $1 GROUP BY id",
        )
        .bind(id.key())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(limit, dp, dpo, cp, cpo)| LedgerAccount {
            id: id.clone(),
            debit_limit: limit,
            balance: Balance {
                debits_pending: dp,
                debits_posted: dpo,
                credits_pending: cp,
                credits_posted: cpo,
            },
        }))
    }

    /// Every account (of one owner, or all), with its balance.
    pub async fn ledger_accounts(
        &self,
        owner: Option<&str>,
    ) -> Result<Vec<LedgerAccount>, StoreError> {
        let rows: Vec<(String, Option<i64>, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT id, MAX(debit_limit), CAST(SUM(debits_pending) AS BIGINT), CAST(SUM(debits_posted) AS BIGINT), CAST(SUM(credits_pending) AS BIGINT), \
             CAST(SUM(credits_posted) AS BIGINT) FROM ledger_accounts WHERE ($1 = '' OR owner = $1) GROUP BY id ORDER BY id",
        )
        .bind(owner.unwrap_or(""))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, limit, dp, dpo, cp, cpo)| {
                Some(LedgerAccount {
                    id: AccountId::parse(&id)?,
                    debit_limit: limit,
                    balance: Balance {
                        debits_pending: dp,
                        debits_posted: dpo,
                        credits_pending: cp,
                        credits_posted: cpo,
                    },
                })
            })
            .collect())
    }

    /// An account's balance rebuilt from all its transfers alone: the replay
    /// check (an audit: it reads the whole transfer table).
    pub async fn ledger_replay(&self, id: &AccountId) -> Result<Balance, StoreError> {
        self.effects(id, i64::MIN).await
    }

    /// An account's balance as of `at_ms` (inclusive): its balance now less
    /// the transfers written after, read in one statement so both come
    /// from one snapshot.
    pub async fn ledger_balance_at(
        &self,
        id: &AccountId,
        at_ms: i64,
    ) -> Result<Balance, StoreError> {
        let key = id.key();
        let row: NowAndLater =
            sqlx::query_as(
                "SELECT \
                   (SELECT CAST(SUM(debits_pending) AS BIGINT) FROM ledger_accounts WHERE id = $1), \
                   (SELECT CAST(SUM(debits_posted) AS BIGINT) FROM ledger_accounts WHERE id = $1), \
                   (SELECT CAST(SUM(credits_pending) AS BIGINT) FROM ledger_accounts WHERE id = $1), \
                   (SELECT CAST(SUM(credits_posted) AS BIGINT) FROM ledger_accounts WHERE id = $1), \
                   (SELECT CAST(SUM(CASE phase WHEN 'pending' THEN amount WHEN 'single' THEN 0 ELSE -amount END) AS BIGINT) \
                      FROM ledger_transfers WHERE created_at_ms > $2 AND debit_account = $1), \
                   (SELECT CAST(SUM(CASE phase WHEN 'single' THEN amount WHEN 'post' THEN amount ELSE 0 END) AS BIGINT) \
                      FROM ledger_transfers WHERE created_at_ms > $2 AND debit_account = $1), \
                   (SELECT CAST(SUM(CASE phase WHEN 'pending' THEN amount WHEN 'single' THEN 0 ELSE -amount END) AS BIGINT) \
                      FROM ledger_transfers WHERE created_at_ms > $2 AND credit_account = $1), \
                   (SELECT CAST(SUM(CASE phase WHEN 'single' THEN amount WHEN 'post' THEN amount ELSE 0 END) AS BIGINT) \
                      FROM ledger_transfers WHERE created_at_ms > $2 AND credit_account = $1)",
            )
            .bind(&key)
            .bind(at_ms)
            .fetch_one(self.pool())
            .await?;
        let v = |x: Option<i64>| x.unwrap_or(0);
        Ok(Balance {
            debits_pending: v(row.0) - v(row.4),
            debits_posted: v(row.1) - v(row.5),
            credits_pending: v(row.2) - v(row.6),
            credits_posted: v(row.3) - v(row.7),
        })
    }

    /// The sums of an account's transfers written after `after_ms`.
    async fn effects(&self, id: &AccountId, after_ms: i64) -> Result<Balance, StoreError> {
        let key = id.key();
        let debit: BalanceRow = sqlx::query_as(
            "SELECT \
               CAST(SUM(CASE phase WHEN 'pending' THEN amount WHEN 'single' THEN 0 ELSE -amount END) AS BIGINT), \
               CAST(SUM(CASE phase WHEN 'single' THEN amount WHEN 'post' THEN amount ELSE 0 END) AS BIGINT), \
               0, 0 \
             FROM ledger_transfers WHERE debit_account = $1 AND created_at_ms > $2",
        )
        .bind(&key)
        .bind(after_ms)
        .fetch_one(self.pool())
        .await?;
        let credit: BalanceRow = sqlx::query_as(
            "SELECT 0, 0, \
               CAST(SUM(CASE phase WHEN 'pending' THEN amount WHEN 'single' THEN 0 ELSE -amount END) AS BIGINT), \
               CAST(SUM(CASE phase WHEN 'single' THEN amount WHEN 'post' THEN amount ELSE 0 END) AS BIGINT) \
             FROM ledger_transfers WHERE credit_account = $1 AND created_at_ms > $2",
        )
        .bind(&key)
        .bind(after_ms)
        .fetch_one(self.pool())
        .await?;
        let (d, c) = (balance_from(debit), balance_from(credit));
        Ok(Balance {
            debits_pending: d.debits_pending,
            debits_posted: d.debits_posted,
            credits_pending: c.credits_pending,
            credits_posted: c.credits_posted,
        })
    }

    /// Per currency: the sum of posted nets and of pending nets over every
    /// account (both zero in sound books).
    pub async fn ledger_trial_balance(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT currency, CAST(SUM(credits_posted) AS BIGINT) - CAST(SUM(debits_posted) AS BIGINT), CAST(SUM(credits_pending) AS BIGINT) - CAST(SUM(debits_pending) AS BIGINT) \
             FROM ledger_accounts GROUP BY currency ORDER BY currency",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    /// The transfers of one reference (a payment), in order.
    pub async fn ledger_transfers(
        &self,
        reference: &str,
    ) -> Result<Vec<TransferRecord>, StoreError> {
        let rows: Vec<TransferTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TRANSFER_COLUMNS} FROM ledger_transfers WHERE reference = $1 ORDER BY seq"
        )))
        .bind(reference)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(transfer_from).collect())
    }

    /// Transfers (alias `t`) matching `condition`, whose parameters
    /// `$1…` are `params` (text; cast in the condition where needed), in
    /// order.
    pub(crate) async fn transfers_where(
        &self,
        condition: &str,
        params: &[String],
    ) -> Result<Vec<TransferRecord>, StoreError> {
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM ledger_transfers t WHERE {condition} ORDER BY seq"
        );
        let mut q = sqlx::query_as::<_, TransferTuple>(sqlx::AssertSqlSafe(sql));
        for p in params {
            q = q.bind(p.clone());
        }
        let rows = q.fetch_all(self.pool()).await?;
        Ok(rows.into_iter().map(transfer_from).collect())
    }

    /// Open pending transfers past their expiry, oldest first.
    pub async fn ledger_expired(
        &self,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<TransferRecord>, StoreError> {
        let rows: Vec<TransferTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TRANSFER_COLUMNS} FROM ledger_transfers WHERE open = 1 AND expires_at_ms <= $1 \
             ORDER BY expires_at_ms, seq LIMIT $2"
        )))
        .bind(now_ms)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(transfer_from).collect())
    }
}

const TRANSFER_COLUMNS: &str = "seq, id, debit_account, credit_account, amount, currency, code, reference, phase, \
     pending_id, expires_at_ms, open, created_at_ms";

type TransferTuple = (
    i64,
    String,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    i64,
    i64,
);

fn transfer_from(t: TransferTuple) -> TransferRecord {
    let (
        seq,
        id,
        debit,
        credit,
        amount,
        currency,
        code,
        reference,
        phase,
        pending_id,
        expires_at_ms,
        open,
        created_at_ms,
    ) = t;
    TransferRecord {
        seq,
        id,
        debit,
        credit,
        amount,
        currency,
        code,
        reference,
        phase,
        pending_id,
        expires_at_ms,
        open: open == 1,
        created_at_ms,
    }
}

async fn account_exists(conn: &mut sqlx::AnyConnection, key: &str) -> Result<bool, StoreError> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT id FROM ledger_accounts WHERE id = $1 AND shard = 0")
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.is_some())
}

async fn apply_one(
    conn: &mut sqlx::AnyConnection,
    t: &Transfer,
    now_ms: i64,
) -> Result<(), StoreError> {
    let (debit_key, credit_key) = (t.debit.key(), t.credit.key());
    let (phase, pending_id, expires, open) = match &t.phase {
        Phase::Single => ("single", None, None, 0),
        Phase::Pending { expires_at_ms } => ("pending", None, Some(*expires_at_ms), 1),
        Phase::Post { pending_id } => ("post", Some(pending_id.as_str()), None, 0),
        Phase::Void { pending_id } => ("void", Some(pending_id.as_str()), None, 0),
    };
    let (debit_shard, credit_shard, debit_set, credit_set) = match &t.phase {
        Phase::Single | Phase::Pending { .. } => {
            let column = if phase == "single" {
                "posted"
            } else {
                "pending"
            };
            let shards = house_shards_of(conn);
            (
                shard_of(&t.debit, &t.id, shards),
                shard_of(&t.credit, &t.id, shards),
                format!("debits_{column} = debits_{column} + $1"),
                format!("credits_{column} = credits_{column} + $1"),
            )
        }
        Phase::Post { pending_id } | Phase::Void { pending_id } => {
            // Close the reservation: exactly one post or void can.
            let closed = sqlx::query(
                "UPDATE ledger_transfers SET open = 0 WHERE id = $1 AND open = 1 AND debit_account = $2 \
                 AND credit_account = $3 AND amount = $4",
            )
            .bind(pending_id)
            .bind(&debit_key)
            .bind(&credit_key)
            .bind(t.amount)
            .execute(&mut *conn)
            .await?;
            if closed.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!(
                    "transfer {pending_id} is not a pending transfer that is still open"
                )));
            }
            let (ds, cs): (i64, i64) = sqlx::query_as(
                "SELECT debit_shard, credit_shard FROM ledger_transfers WHERE id = $1",
            )
            .bind(pending_id)
            .fetch_one(&mut *conn)
            .await?;
            let post = matches!(t.phase, Phase::Post { .. });
            (
                ds,
                cs,
                if post {
                    "debits_pending = debits_pending - $1, debits_posted = debits_posted + $1"
                        .to_string()
                } else {
                    "debits_pending = debits_pending - $1".to_string()
                },
                if post {
                    "credits_pending = credits_pending - $1, credits_posted = credits_posted + $1"
                        .to_string()
                } else {
                    "credits_pending = credits_pending - $1".to_string()
                },
            )
        }
    };
    // The limit is held in the statement that takes the debit; posting or
    // voiding never raises the exposure.
    let limit_check = if matches!(t.phase, Phase::Single | Phase::Pending { .. }) {
        " AND (debit_limit IS NULL OR debits_pending + debits_posted - credits_posted + $1 <= debit_limit)"
    } else {
        ""
    };
    let debited = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE ledger_accounts SET {debit_set} WHERE id = $2 AND shard = $3{limit_check}"
    )))
    .bind(t.amount)
    .bind(&debit_key)
    .bind(debit_shard)
    .execute(&mut *conn)
    .await?;
    // Nothing updated: a missing account, or the limit (asked only then,
    // to keep the common path to the writes alone).
    if debited.rows_affected() != 1 {
        if !account_exists(conn, &debit_key).await? {
            return Err(StoreError::NotFound(format!("account {debit_key}")));
        }
        return Err(StoreError::LimitExceeded(debit_key));
    }
    let credited = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE ledger_accounts SET {credit_set} WHERE id = $2 AND shard = $3"
    )))
    .bind(t.amount)
    .bind(&credit_key)
    .bind(credit_shard)
    .execute(&mut *conn)
    .await?;
    if credited.rows_affected() != 1 {
        return Err(StoreError::NotFound(format!("account {credit_key}")));
    }
    let inserted = sqlx::query(
        "INSERT INTO ledger_transfers (id, debit_account, debit_shard, credit_account, credit_shard, amount, currency, \
           code, reference, phase, pending_id, expires_at_ms, open, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&t.id)
    .bind(&debit_key)
    .bind(debit_shard)
    .bind(&credit_key)
    .bind(credit_shard)
    .bind(t.amount)
    .bind(t.debit.currency.code())
    .bind(t.code.as_str())
    .bind(&t.reference)
    .bind(phase)
    .bind(pending_id)
    .bind(expires)
    .bind(open)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!(
            "transfer {} exists already",
            t.id
        )));
    }
    Ok(())
}

/// One account shard's share of a batch.
#[derive(Clone, Copy, Debug, Default)]
struct Delta {
    debits_pending: i64,
    debits_posted: i64,
    credits_pending: i64,
    credits_posted: i64,
}

impl Delta {
    /// Add `d`, refusing an overflow.
    fn add(&mut self, d: &Delta) -> Result<(), StoreError> {
        self.debits_pending = self
            .debits_pending
            .checked_add(d.debits_pending)
            .ok_or_else(overflow)?;
        self.debits_posted = self
            .debits_posted
            .checked_add(d.debits_posted)
            .ok_or_else(overflow)?;
        self.credits_pending = self
            .credits_pending
            .checked_add(d.credits_pending)
            .ok_or_else(overflow)?;
        self.credits_posted = self
            .credits_posted
            .checked_add(d.credits_posted)
            .ok_or_else(overflow)?;
        Ok(())
    }
}

/// Apply new (single or pending) transfers as one batch: one `UPDATE` of
/// every account shard touched (on PostgreSQL taking their rows in key
/// order first) and one `INSERT` of all the transfers.
/// A debit limit is held on the batch's final state of each account it
/// debits: the batch is atomic, so no one sees a state in between.
async fn apply_batch(
    conn: &mut sqlx::AnyConnection,
    transfers: &[Transfer],
    now_ms: i64,
) -> Result<(), StoreError> {
    let (deltas, shards) = batch_effect(transfers, house_shards_of(conn))?;
    let rows: Vec<BatchRow<'_>> = transfers
        .iter()
        .zip(&shards)
        .map(|(t, s)| (t, s, now_ms))
        .collect();
    // PostgreSQL holds the accounts' row locks from the `UPDATE` to the
    // commit, so they are taken last: with the `INSERT` first, hot rows
    // wait for one commit less (measured: unsharded house accounts twice
    // as fast). SQLite keeps the fold's order (limits, then ids), so that a
    // caller over its limit with an id used before hears the same refusal
    // folded or alone.
    if conn.backend_name() == "SQLite" {
        update_all_at_once(conn, &deltas).await?;
        insert_transfers(conn, &rows).await
    } else {
        insert_transfers(conn, &rows).await?;
        update_all_at_once(conn, &deltas).await
    }
}

/// Each account shard's change, in key order.
type Deltas = std::collections::BTreeMap<(String, i64), Delta>;

/// A transfer's debit account and shard, and its credit account and shard.
type Shards = (String, i64, String, i64);

/// What a batch of new transfers does: each account shard's four sums, and
/// each transfer's shards (of `house_shards` for a house account).
fn batch_effect(
    transfers: &[Transfer],
    house_shards: i64,
) -> Result<(Deltas, Vec<Shards>), StoreError> {
    let mut deltas = Deltas::new();
    let mut shards = Vec::with_capacity(transfers.len());
    for t in transfers {
        let (debit_key, credit_key) = (t.debit.key(), t.credit.key());
        let (ds, cs) = (
            shard_of(&t.debit, &t.id, house_shards),
            shard_of(&t.credit, &t.id, house_shards),
        );
        let pending = matches!(t.phase, Phase::Pending { .. });
        let d = deltas.entry((debit_key.clone(), ds)).or_default();
        if pending {
            d.debits_pending = d
                .debits_pending
                .checked_add(t.amount)
                .ok_or_else(overflow)?;
        } else {
            d.debits_posted = d.debits_posted.checked_add(t.amount).ok_or_else(overflow)?;
        }
        let c = deltas.entry((credit_key.clone(), cs)).or_default();
        if pending {
            c.credits_pending = c
                .credits_pending
                .checked_add(t.amount)
                .ok_or_else(overflow)?;
        } else {
            c.credits_posted = c
                .credits_posted
                .checked_add(t.amount)
                .ok_or_else(overflow)?;
        }
        shards.push((debit_key, ds, credit_key, cs));
    }
    Ok((deltas, shards))
}

/// PostgreSQL: take the row of every account shard `transfers` will touch,
/// in key order, before touching any. Applied one by one, a payment's legs
/// would otherwise lock its accounts in the legs' order, and two payments
/// whose legs cross (one's wallet then provider, the other's provider then
/// wallet) deadlock; PostgreSQL finds that only after `deadlock_timeout`
/// (a second by default), so under load every deadlock stalls the payments
/// queued on those accounts for a second. A reservation's shards are read
/// from its transfer (written once, never changed).
async fn lock_in_order(
    conn: &mut sqlx::AnyConnection,
    transfers: &[Transfer],
) -> Result<(), StoreError> {
    let shards = house_shards_of(conn);
    let mut rows: std::collections::BTreeSet<(String, i64)> = std::collections::BTreeSet::new();
    for t in transfers {
        match &t.phase {
            Phase::Single | Phase::Pending { .. } => {
                rows.insert((t.debit.key(), shard_of(&t.debit, &t.id, shards)));
                rows.insert((t.credit.key(), shard_of(&t.credit, &t.id, shards)));
            }
            Phase::Post { pending_id } | Phase::Void { pending_id } => {
                let found: Option<(String, i64, String, i64)> = sqlx::query_as(
                    "SELECT debit_account, debit_shard, credit_account, credit_shard \
                     FROM ledger_transfers WHERE id = $1",
                )
                .bind(pending_id)
                .fetch_optional(&mut *conn)
                .await?;
                // A missing reservation is refused by the apply itself.
                if let Some((d, ds, c, cs)) = found {
                    rows.insert((d, ds));
                    rows.insert((c, cs));
                }
            }
        }
    }
    // In chunks that follow the key order (a statement's parameters are
    // bounded).
    let rows: Vec<(String, i64)> = rows.into_iter().collect();
    for chunk in rows.chunks(LOCK_ROWS_PER_STATEMENT) {
        let mut sql = String::from("SELECT id, shard FROM ledger_accounts WHERE ");
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(" OR ");
            }
            sql.push_str(&format!("(id = ${} AND shard = ${})", 2 * i + 1, 2 * i + 2));
        }
        sql.push_str(" ORDER BY id, shard FOR UPDATE");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (key, shard) in chunk {
            query = query.bind(key).bind(*shard);
        }
        query.fetch_all(&mut *conn).await?;
    }
    Ok(())
}

/// A batch's transfer rows: the transfer, its accounts and their shards,
/// and when it is written.
type BatchRow<'t> = (&'t Transfer, &'t Shards, i64);

/// Every account shard of the batch in one `UPDATE … FROM (VALUES …)`, one
/// statement instead of one per account (each a round trip to the engine,
/// or a hop to sqlx's SQLite thread). On PostgreSQL the same statement
/// first locks the rows in key order (so concurrent batches never wait on
/// each other's rows in opposite orders): the count of the locking CTE is
/// a one-time filter, evaluated before the `UPDATE` touches any row. When
/// fewer rows change than the batch touches, an account is missing or a
/// limit would be breached: the caller's savepoint or transaction undoes
/// the rest.
async fn update_all_at_once(
    conn: &mut sqlx::AnyConnection,
    deltas: &std::collections::BTreeMap<(String, i64), Delta>,
) -> Result<(), StoreError> {
    let sqlite = conn.backend_name() == "SQLite";
    let mut sql = String::from("WITH d (dp, dpo, cp, cpo, id, shard) AS (VALUES ");
    for i in 0..deltas.len() {
        sql.push_str(if i > 0 { ", (" } else { "(" });
        placeholders(&mut sql, sqlite, i * 6 + 1, 6);
        sql.push(')');
    }
    sql.push(')');
    if !sqlite {
        sql.push_str(
            ", locked AS (SELECT a.id FROM ledger_accounts a JOIN d ON a.id = d.id AND a.shard = d.shard \
               ORDER BY a.id, a.shard FOR UPDATE OF a)",
        );
    }
    sql.push_str(
        " UPDATE ledger_accounts SET debits_pending = debits_pending + d.dp, \
           debits_posted = debits_posted + d.dpo, credits_pending = credits_pending + d.cp, \
           credits_posted = credits_posted + d.cpo FROM d \
         WHERE ledger_accounts.id = d.id AND ledger_accounts.shard = d.shard",
    );
    if !sqlite {
        sql.push_str(" AND (SELECT count(*) FROM locked) >= 0");
    }
    sql.push_str(
        " AND (ledger_accounts.debit_limit IS NULL OR d.dp + d.dpo = 0 \
             OR ledger_accounts.debits_pending + ledger_accounts.debits_posted + d.dp + d.dpo \
                - ledger_accounts.credits_posted - d.cpo <= ledger_accounts.debit_limit) \
         RETURNING ledger_accounts.id, ledger_accounts.shard",
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for ((key, shard), d) in deltas {
        q = q
            .bind(d.debits_pending)
            .bind(d.debits_posted)
            .bind(d.credits_pending)
            .bind(d.credits_posted)
            .bind(key.clone())
            .bind(*shard);
    }
    let changed: Vec<(String, i64)> = q
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| Ok((row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    if changed.len() == deltas.len() {
        return Ok(());
    }
    // The first account shard, in key order, that did not change: the
    // same one the in-order path would have stopped at.
    for (key, shard) in deltas.keys() {
        if changed.iter().any(|(k, s)| k == key && s == shard) {
            continue;
        }
        if !account_exists(conn, key).await? {
            return Err(StoreError::NotFound(format!("account {key}")));
        }
        return Err(StoreError::LimitExceeded(key.clone()));
    }
    Err(StoreError::Refused(
        "the batch's accounts changed under it".into(),
    ))
}

/// Append the placeholders of `count` bound values, the first being value
/// `first` (from 1), in order: `?` on SQLite, whose parser looks each named
/// `$n` up among every one before it (quadratic in a statement of a
/// thousand rows: tens of milliseconds), `$n` on PostgreSQL.
fn placeholders(sql: &mut String, sqlite: bool, first: usize, count: usize) {
    use std::fmt::Write as _;
    for n in first..first + count {
        if n > first {
            sql.push_str(", ");
        }
        if sqlite {
            sql.push('?');
        } else {
            let _ = write!(sql, "${n}");
        }
    }
}

async fn insert_transfers(
    conn: &mut sqlx::AnyConnection,
    rows: &[BatchRow<'_>],
) -> Result<(), StoreError> {
    let mut sql = String::from(
        "INSERT INTO ledger_transfers (id, debit_account, debit_shard, credit_account, credit_shard, amount, currency, \
           code, reference, phase, expires_at_ms, open, created_at_ms, pending_id) VALUES ",
    );
    let sqlite = conn.backend_name() == "SQLite";
    for i in 0..rows.len() {
        sql.push_str(if i > 0 { ", (" } else { "(" });
        placeholders(&mut sql, sqlite, i * 13 + 1, 13);
        sql.push_str(", NULL)");
    }
    sql.push_str(" ON CONFLICT (id) DO NOTHING");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (t, (debit_key, ds, credit_key, cs), now_ms) in rows {
        let (phase, expires, open) = match &t.phase {
            Phase::Pending { expires_at_ms } => ("pending", Some(*expires_at_ms), 1i64),
            _ => ("single", None, 0i64),
        };
        q = q
            .bind(t.id.clone())
            .bind(debit_key.clone())
            .bind(*ds)
            .bind(credit_key.clone())
            .bind(*cs)
            .bind(t.amount)
            .bind(t.debit.currency.code())
            .bind(t.code.as_str())
            .bind(t.reference.clone())
            .bind(phase)
            .bind(expires)
            .bind(open)
            .bind(*now_ms);
    }
    let inserted = q.execute(&mut *conn).await?;
    if usize::try_from(inserted.rows_affected()).unwrap_or(0) != rows.len() {
        return Err(StoreError::Conflict(
            "a transfer id of the batch exists already".into(),
        ));
    }
    Ok(())
}

/// Times a ledger write that lost a deadlock is run again.
const DEADLOCK_RETRIES: u64 = 5;

/// PostgreSQL's "deadlock detected" or "could not serialize".
fn is_deadlock(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "40P01" || c == "40001")
}

fn overflow() -> StoreError {
    StoreError::Refused("a sum of the batch would overflow 64 bits".into())
}

impl Store {
    /// Reservations past their expiry whose outcome nobody settled: each
    /// is closed and its amount moved to the gateway's suspense account in
    /// one transaction, never released (SPEC §6), until the operator
    /// resolves it. Returns how many were moved.
    pub async fn ledger_expire_to_suspense(
        &self,
        now_ms: i64,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let mut moved = 0;
        for t in self.ledger_expired(now_ms, limit).await? {
            if self.ledger_hold_in_suspense(&t, now_ms).await? {
                moved += 1;
            }
        }
        Ok(moved)
    }

    /// Close one open reservation and move its amount to the gateway's
    /// suspense account in its currency, in one transaction: `{id}:expired`
    /// voids it, `{id}:suspense` debits its payer and credits suspense.
    /// Returns false when it was closed meanwhile (nothing done).
    pub async fn ledger_hold_in_suspense(
        &self,
        t: &TransferRecord,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let (Some(debit), Some(credit)) = (AccountId::parse(&t.debit), AccountId::parse(&t.credit))
        else {
            return Err(StoreError::Refused(format!(
                "transfer {} names an unknown account",
                t.id
            )));
        };
        let suspense = AccountId::gateway(ledger::Kind::Suspense, debit.currency);
        self.ledger_open(&suspense, None, now_ms).await?;
        let close = Transfer {
            id: format!("{}:expired", t.id),
            debit: debit.clone(),
            credit,
            amount: t.amount,
            code: ledger::Code::Suspense,
            reference: t.reference.clone(),
            phase: Phase::Void {
                pending_id: t.id.clone(),
            },
        };
        let hold = Transfer {
            id: format!("{}:suspense", t.id),
            debit,
            credit: suspense,
            amount: t.amount,
            code: ledger::Code::Suspense,
            reference: t.reference.clone(),
            phase: Phase::Single,
        };
        match self.ledger_apply(vec![close, hold], now_ms).await {
            Ok(()) => Ok(true),
            // Settled meanwhile: nothing to do.
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// One caller's new transfers waiting in the SQLite writer's batch, with
/// what they do worked out by the caller (off the writer's serial path).
pub(crate) struct FoldJob {
    transfers: Vec<Transfer>,
    deltas: Deltas,
    shards: Vec<Shards>,
    now_ms: i64,
    pub(crate) reply: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
}

impl FoldJob {
    /// Refused here if a sum of the batch would overflow.
    pub(crate) fn new(
        transfers: Vec<Transfer>,
        now_ms: i64,
        reply: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
    ) -> Result<FoldJob, StoreError> {
        let (deltas, shards) = batch_effect(&transfers, house_shards(Engine::Sqlite))?;
        Ok(FoldJob {
            transfers,
            deltas,
            shards,
            now_ms,
            reply,
        })
    }
}

/// Most rows in one `INSERT` of a fold (SQLite binds at most 32,766
/// values per statement).
const FOLD_ROWS_PER_STATEMENT: usize = 500;

/// SQLite's writer: apply the transfers of every caller waiting in one
/// commit with one read of their account shards, one `UPDATE` and one
/// `INSERT` in all, instead of a savepoint, an `UPDATE`, an `INSERT` and a
/// release per caller (each a hop to sqlx's SQLite thread). Each caller's
/// debit limits are checked in memory on the shards as the callers before
/// it in the batch left them — the order a one-by-one run would apply them
/// in, with the same refusals. If anything is off (a transfer id used
/// before, an error from the engine), the fold is undone and the callers
/// run one by one, each in its own savepoint, as before.
///
/// Returns each caller's outcome, to be answered once the commit is known,
/// and whether the fold was undone.
pub(crate) async fn apply_folded(
    conn: &mut sqlx::AnyConnection,
    jobs: &[FoldJob],
) -> (Vec<Result<(), StoreError>>, bool) {
    let mut undone = false;
    if jobs.len() > 1
        && sqlx::query("SAVEPOINT fold")
            .execute(&mut *conn)
            .await
            .is_ok()
    {
        match fold(conn, jobs).await {
            Ok(outcomes) => {
                if sqlx::query("RELEASE fold")
                    .execute(&mut *conn)
                    .await
                    .is_ok()
                {
                    return (outcomes, false);
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "a ledger fold fell back to one caller at a time");
            }
        }
        undone = true;
        let _ = sqlx::query("ROLLBACK TO fold").execute(&mut *conn).await;
        let _ = sqlx::query("RELEASE fold").execute(&mut *conn).await;
    }
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        outcomes.push(one_caller(conn, job).await);
    }
    (outcomes, undone)
}

/// One caller's transfers in a savepoint of their own.
async fn one_caller(conn: &mut sqlx::AnyConnection, job: &FoldJob) -> Result<(), StoreError> {
    sqlx::query("SAVEPOINT caller").execute(&mut *conn).await?;
    let outcome = apply_batch(conn, &job.transfers, job.now_ms).await;
    if outcome.is_err() {
        sqlx::query("ROLLBACK TO caller")
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("RELEASE caller").execute(&mut *conn).await?;
    outcome
}

/// An account shard's sums and limit as the fold goes.
#[derive(Clone, Copy, Debug)]
struct ShardState {
    sums: Delta,
    debit_limit: Option<i64>,
}

/// The fold itself: `Ok` holds each caller's outcome; `Err` means undo it
/// all and run the callers one by one.
async fn fold(
    conn: &mut sqlx::AnyConnection,
    jobs: &[FoldJob],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let keys: std::collections::BTreeSet<&(String, i64)> =
        jobs.iter().flat_map(|job| job.deltas.keys()).collect();
    let mut shards = read_shards(conn, &keys).await?;

    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut total = Deltas::new();
    let mut rows: Vec<BatchRow<'_>> = Vec::new();
    for job in jobs {
        if let Some(refused) = refusal(conn, &shards, &job.deltas).await? {
            outcomes.push(Err(refused));
            continue;
        }
        for (key, d) in &job.deltas {
            let s = shards
                .get_mut(key)
                .ok_or_else(|| StoreError::Refused("an account shard left the fold".into()))?;
            s.sums.add(d)?;
            total.entry(key.clone()).or_default().add(d)?;
        }
        rows.extend(
            job.transfers
                .iter()
                .zip(&job.shards)
                .map(|(t, s)| (t, s, job.now_ms)),
        );
        outcomes.push(Ok(()));
    }

    update_folded(conn, &total).await?;
    for chunk in rows.chunks(FOLD_ROWS_PER_STATEMENT) {
        insert_transfers(conn, chunk).await?;
    }
    Ok(outcomes)
}

/// Why a caller's change would be refused on the shards as they stand: the
/// first shard in key order that is missing or whose limit the change
/// breaks, exactly as [`update_all_at_once`] reports it.
async fn refusal(
    conn: &mut sqlx::AnyConnection,
    shards: &std::collections::HashMap<(String, i64), ShardState>,
    deltas: &Deltas,
) -> Result<Option<StoreError>, StoreError> {
    for (key, d) in deltas {
        let fits = match shards.get(key) {
            None => false,
            Some(s) => match s.debit_limit {
                Some(limit) if d.debits_pending != 0 || d.debits_posted != 0 => {
                    let after = i128::from(s.sums.debits_pending)
                        + i128::from(s.sums.debits_posted)
                        + i128::from(d.debits_pending)
                        + i128::from(d.debits_posted)
                        - i128::from(s.sums.credits_posted)
                        - i128::from(d.credits_posted);
                    after <= i128::from(limit)
                }
                _ => true,
            },
        };
        if !fits {
            return Ok(Some(if account_exists(conn, &key.0).await? {
                StoreError::LimitExceeded(key.0.clone())
            } else {
                StoreError::NotFound(format!("account {}", key.0))
            }));
        }
    }
    Ok(None)
}

/// SQLite: the shards of `keys` that exist, in one statement of one bound
/// value (a JSON array) answering one row: a constant statement, prepared
/// once, and one message from sqlx's SQLite thread instead of one per row.
async fn read_shards(
    conn: &mut sqlx::AnyConnection,
    keys: &std::collections::BTreeSet<&(String, i64)>,
) -> Result<std::collections::HashMap<(String, i64), ShardState>, StoreError> {
    let keys: Vec<&(String, i64)> = keys.iter().copied().collect();
    let keys = serde_json::to_string(&keys).map_err(|e| StoreError::Refused(e.to_string()))?;
    let found: Option<String> = sqlx::query_scalar(
        "SELECT json_group_array(json_array(a.id, a.shard, a.debits_pending, a.debits_posted, \
           a.credits_pending, a.credits_posted, a.debit_limit)) \
         FROM json_each(?) AS k CROSS JOIN ledger_accounts a \
         ON a.id = k.value ->> 0 AND a.shard = k.value ->> 1",
    )
    .bind(keys)
    .fetch_one(&mut *conn)
    .await?;
    type Found = (String, i64, i64, i64, i64, i64, Option<i64>);
    let found: Vec<Found> = serde_json::from_str(found.as_deref().unwrap_or("[]"))
        .map_err(|e| StoreError::Refused(format!("the account shards read back: {e}")))?;
    Ok(found
        .into_iter()
        .map(|(id, shard, dp, dpo, cp, cpo, debit_limit)| {
            (
                (id, shard),
                ShardState {
                    sums: Delta {
                        debits_pending: dp,
                        debits_posted: dpo,
                        credits_pending: cp,
                        credits_posted: cpo,
                    },
                    debit_limit,
                },
            )
        })
        .collect())
}

/// SQLite: add a fold's sums to its account shards in one constant
/// statement of one bound value (a JSON array; the plan looks each shard up
/// by its key), the debit limits held again. Any shard that does not change
/// (missing, or its limit would be breached) is an error: the fold's
/// in-memory check should have refused its caller, so the fold is undone.
async fn update_folded(conn: &mut sqlx::AnyConnection, total: &Deltas) -> Result<(), StoreError> {
    let values: Vec<(&str, i64, i64, i64, i64, i64)> = total
        .iter()
        .map(|((key, shard), d)| {
            (
                key.as_str(),
                *shard,
                d.debits_pending,
                d.debits_posted,
                d.credits_pending,
                d.credits_posted,
            )
        })
        .collect();
    let values = serde_json::to_string(&values).map_err(|e| StoreError::Refused(e.to_string()))?;
    let done = sqlx::query(
        "UPDATE ledger_accounts SET debits_pending = debits_pending + d.dp, \
           debits_posted = debits_posted + d.dpo, credits_pending = credits_pending + d.cp, \
           credits_posted = credits_posted + d.cpo \
         FROM (SELECT value ->> 0 AS id, value ->> 1 AS shard, value ->> 2 AS dp, value ->> 3 AS dpo, \
                 value ->> 4 AS cp, value ->> 5 AS cpo FROM json_each(?)) AS d \
         WHERE ledger_accounts.id = d.id AND ledger_accounts.shard = d.shard \
           AND (ledger_accounts.debit_limit IS NULL OR d.dp + d.dpo = 0 \
             OR ledger_accounts.debits_pending + ledger_accounts.debits_posted + d.dp + d.dpo \
                - ledger_accounts.credits_posted - d.cpo <= ledger_accounts.debit_limit)",
    )
    .bind(values)
    .execute(&mut *conn)
    .await?;
    if usize::try_from(done.rows_affected()).ok() != Some(total.len()) {
        return Err(StoreError::Refused(
            "a folded account shard did not change".into(),
        ));
    }
    Ok(())
}

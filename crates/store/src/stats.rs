//! Statistics over payments (SPEC §2.10) and the daily regulatory reports.
//!
//! The store groups in SQL by the chosen dimensions and the merchant's
//! currency. SQLite has no time-zone database, so a day is the caller's:
//! it asks for a window in which its zone keeps one UTC offset (splitting
//! a window at the zone's transitions), and the store groups by the local
//! day number, `(created_at_ms + offset) / 86400000`. Sums are cast to
//! BIGINT so both engines answer the same types.

use crate::{Store, StoreError};

/// What statistics can be grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatsDim {
    /// inbound / outbound / transit / domestic.
    Direction,
    /// The payer's country, `-`, the merchant's (`MN-CN`).
    Corridor,
    Wallet,
    Acquirer,
    /// Each participant of a payment: it counts once for its wallet and
    /// once for its acquirer.
    Participant,
    /// The merchant's currency.
    Currency,
    /// `mpm` / `cpm`.
    Mode,
    /// The payment's state.
    Status,
    Mcc,
    PayerResidency,
    MerchantResidency,
    Purpose,
    /// The day the payment was made, in the caller's time zone.
    Day,
}

impl StatsDim {
    pub const ALL: [StatsDim; 13] = [
        StatsDim::Direction,
        StatsDim::Corridor,
        StatsDim::Wallet,
        StatsDim::Acquirer,
        StatsDim::Participant,
        StatsDim::Currency,
        StatsDim::Mode,
        StatsDim::Status,
        StatsDim::Mcc,
        StatsDim::PayerResidency,
        StatsDim::MerchantResidency,
        StatsDim::Purpose,
        StatsDim::Day,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StatsDim::Direction => "direction",
            StatsDim::Corridor => "corridor",
            StatsDim::Wallet => "wallet",
            StatsDim::Acquirer => "acquirer",
            StatsDim::Participant => "participant",
            StatsDim::Currency => "currency",
            StatsDim::Mode => "mode",
            StatsDim::Status => "status",
            StatsDim::Mcc => "mcc",
            StatsDim::PayerResidency => "payer_residency",
            StatsDim::MerchantResidency => "merchant_residency",
            StatsDim::Purpose => "purpose",
            StatsDim::Day => "day",
        }
    }

    pub fn parse(s: &str) -> Option<StatsDim> {
        StatsDim::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The SQL of its value. A participant is a wallet and an acquirer:
    /// grouped by both (see `stats_slice`), so its key here is a constant.
    fn sql(self) -> &'static str {
        match self {
            StatsDim::Direction => "p.direction",
            StatsDim::Corridor => {
                "COALESCE(p.payer_country, '') || '-' || COALESCE(p.merchant_country, '')"
            }
            StatsDim::Wallet => "p.wallet",
            StatsDim::Acquirer => "p.acquirer",
            StatsDim::Participant => "''",
            StatsDim::Currency => "p.merchant_currency",
            StatsDim::Mode => "p.mode",
            StatsDim::Status => "p.state",
            StatsDim::Mcc => "COALESCE(p.mcc, '')",
            StatsDim::PayerResidency => "COALESCE(p.payer_residency, '')",
            StatsDim::MerchantResidency => "COALESCE(p.merchant_residency, '')",
            StatsDim::Purpose => "COALESCE(p.purpose, '')",
            // Written with the filter's offset (see `stats_slice`).
            StatsDim::Day => "",
        }
    }
}

/// Which payments: made in `[from_ms, to_ms)`, and optionally of one
/// clearing date, state or participant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsFilter {
    pub from_ms: i64,
    pub to_ms: i64,
    /// The UTC offset of the day's time zone throughout the window
    /// (milliseconds east of UTC).
    pub utc_offset_ms: i64,
    pub clearing_date: Option<String>,
    pub status: Option<String>,
    /// As wallet or as acquirer.
    pub participant: Option<String>,
    pub direction: Option<String>,
    pub mode: Option<String>,
}

/// One group, in one merchant currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsRow {
    /// The value of each dimension but `day`, in the order asked.
    pub keys: Vec<String>,
    /// The local day (days since 1970-01-01 in the filter's offset) when
    /// grouped by day, else 0.
    pub bucket: i64,
    pub currency: String,
    pub count: i64,
    /// Merchant amounts, minor units of `currency`.
    pub amount: i64,
    /// Reporting amounts as recorded when each payment was booked.
    pub reporting_amount: i64,
    /// Payments without a reporting amount (too small to show in it).
    pub reporting_missing: i64,
}

/// Most groups one statistics query may produce before merging: a query
/// that would make more is refused (group by less, or a shorter window).
pub const STATS_GROUPS_MAX: usize = 500_000;

/// How many slices of time a statistics query is cut into: one per core,
/// at most 4 (SQLite keeps 4 readers).
fn stats_slices() -> i64 {
    std::thread::available_parallelism()
        .map(|n| i64::try_from(n.get()).unwrap_or(1))
        .unwrap_or(1)
        .clamp(1, 4)
}

/// A daily regulatory report as kept.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ReportRow {
    pub clearing_date: String,
    pub json: String,
    pub json_sha256: String,
    pub csv: String,
    pub csv_sha256: String,
    pub created_at_ms: i64,
    pub created_by: String,
}

/// A report in a listing (without its body).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ReportEntry {
    pub clearing_date: String,
    pub json_sha256: String,
    pub csv_sha256: String,
    pub created_at_ms: i64,
}

/// Most reports one listing returns.
pub const REPORT_LIST_MAX: i64 = 1_000;

impl Store {
    /// Payments counted and summed by `dims` (and always by merchant
    /// currency). `Refused` when there would be more than
    /// [`STATS_GROUPS_MAX`] groups.
    pub async fn stats(
        &self,
        dims: &[StatsDim],
        filter: &StatsFilter,
    ) -> Result<Vec<StatsRow>, StoreError> {
        // The window in slices of time, each a query of its own, run at
        // once on the pool's connections: grouping sorts (SQLite) or
        // hashes (PostgreSQL) on one core per query, and the machine has
        // more.
        let slices = stats_slices();
        let span = filter.to_ms.saturating_sub(filter.from_ms);
        let mut parts = Vec::new();
        for i in 0..slices {
            let at = |k: i64| filter.from_ms.saturating_add(span / slices * k);
            let piece = StatsFilter {
                from_ms: at(i),
                to_ms: if i + 1 == slices {
                    filter.to_ms
                } else {
                    at(i + 1)
                },
                ..filter.clone()
            };
            parts.push(async move { self.stats_slice(dims, &piece).await });
        }
        let mut out = Vec::new();
        for rows in futures_util::future::join_all(parts).await {
            out.extend(rows?);
            if out.len() > STATS_GROUPS_MAX {
                return Err(StoreError::Refused(format!(
                    "more than {STATS_GROUPS_MAX} groups: group by less or choose a shorter window"
                )));
            }
        }
        Ok(out)
    }

    async fn stats_slice(
        &self,
        dims: &[StatsDim],
        filter: &StatsFilter,
    ) -> Result<Vec<StatsRow>, StoreError> {
        // By participant: grouped by wallet and acquirer (one scan), each
        // group then counted for both.
        let by_participant = dims.contains(&StatsDim::Participant);
        let keyed: Vec<StatsDim> = dims
            .iter()
            .copied()
            .filter(|d| *d != StatsDim::Day)
            .collect();
        let by_day = dims.contains(&StatsDim::Day);
        let mut select: Vec<String> = keyed
            .iter()
            .enumerate()
            .map(|(i, d)| format!("{} AS k{i}", d.sql()))
            .collect();
        // A number, not text: nothing to escape.
        select.push(if by_day {
            format!(
                "CAST((p.created_at_ms + {}) / 86400000 AS BIGINT) AS bucket",
                filter.utc_offset_ms
            )
        } else {
            "CAST(0 AS BIGINT) AS bucket".into()
        });
        let mut conditions = vec![
            "p.created_at_ms >= $1".to_string(),
            "p.created_at_ms < $2".into(),
        ];
        let mut binds: Vec<String> = Vec::new();
        for (column, value) in [
            ("p.clearing_date", &filter.clearing_date),
            ("p.state", &filter.status),
            ("p.direction", &filter.direction),
            ("p.mode", &filter.mode),
        ] {
            if let Some(v) = value {
                binds.push(v.clone());
                conditions.push(format!("{column} = ${}", binds.len() + 2));
            }
        }
        if let Some(p) = &filter.participant {
            binds.push(p.clone());
            let n = binds.len() + 2;
            conditions.push(format!("(p.wallet = ${n} OR p.acquirer = ${n})"));
        }
        let mut group: Vec<String> = (0..keyed.len())
            .map(|i| format!("k{i}"))
            .chain(["bucket".to_string(), "p.merchant_currency".to_string()])
            .collect();
        if by_participant {
            group.extend(["p.wallet".to_string(), "p.acquirer".to_string()]);
        }
        let sides = if by_participant {
            "p.wallet, p.acquirer"
        } else {
            "'' AS w, '' AS a"
        };
        let sql = format!(
            "SELECT {}, p.merchant_currency AS currency, {sides}, CAST(COUNT(*) AS BIGINT) AS n, \
             CAST(COALESCE(SUM(p.merchant_amount), 0) AS BIGINT) AS amount, \
             CAST(COALESCE(SUM(p.reporting_amount), 0) AS BIGINT) AS reporting, \
             CAST(COUNT(*) - COUNT(p.reporting_amount) AS BIGINT) AS missing \
             FROM payments p WHERE {} GROUP BY {} LIMIT {}",
            select.join(", "),
            conditions.join(" AND "),
            group.join(", "),
            STATS_GROUPS_MAX + 1
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(filter.from_ms)
            .bind(filter.to_ms);
        for b in &binds {
            query = query.bind(b.clone());
        }
        let rows = query.fetch_all(self.pool()).await?;
        use sqlx::Row;
        let at = keyed.iter().position(|d| *d == StatsDim::Participant);
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let keys = (0..keyed.len())
                .map(|i| r.try_get::<String, _>(i))
                .collect::<Result<Vec<_>, _>>()?;
            let n = keyed.len();
            let row = StatsRow {
                keys,
                bucket: r.try_get(n)?,
                currency: r.try_get(n + 1)?,
                count: r.try_get(n + 4)?,
                amount: r.try_get(n + 5)?,
                reporting_amount: r.try_get(n + 6)?,
                reporting_missing: r.try_get(n + 7)?,
            };
            let Some(at) = at else {
                out.push(row);
                continue;
            };
            // Once for the wallet, once for the acquirer (only the one
            // asked about, under a participant filter).
            for side in [
                r.try_get::<String, _>(n + 2)?,
                r.try_get::<String, _>(n + 3)?,
            ] {
                if filter.participant.as_ref().is_some_and(|p| *p != side) {
                    continue;
                }
                let mut counted = row.clone();
                if let Some(k) = counted.keys.get_mut(at) {
                    *k = side;
                }
                out.push(counted);
            }
        }
        Ok(out)
    }

    /// Count and sum every payment in one full scan: the least any
    /// statistic over the whole store costs (the benchmark's baseline).
    pub async fn payments_scan(&self) -> Result<(i64, i64), StoreError> {
        Ok(sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(merchant_amount), 0) AS BIGINT) FROM payments",
        )
        .fetch_one(self.pool())
        .await?)
    }

    /// Refresh the query planner's statistics (after a bulk load).
    pub async fn analyze(&self) -> Result<(), StoreError> {
        sqlx::query("ANALYZE").execute(self.pool()).await?;
        Ok(())
    }

    /// Keep a daily report; a second one for the same date is not written
    /// (`false`): the first stands.
    pub async fn report_put(&self, r: ReportRow) -> Result<bool, StoreError> {
        self.write(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "INSERT INTO regulatory_reports (clearing_date, json, json_sha256, csv, csv_sha256, created_at_ms, created_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                )
                .bind(&r.clearing_date)
                .bind(&r.json)
                .bind(&r.json_sha256)
                .bind(&r.csv)
                .bind(&r.csv_sha256)
                .bind(r.created_at_ms)
                .bind(&r.created_by)
                .execute(&mut *conn)
                .await?;
                Ok(done.rows_affected() == 1)
            })
        })
        .await
    }

    pub async fn report_get(&self, clearing_date: &str) -> Result<Option<ReportRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT clearing_date, json, json_sha256, csv, csv_sha256, created_at_ms, created_by \
             FROM regulatory_reports WHERE clearing_date = $1",
        )
        .bind(clearing_date)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Reports, newest date first.
    pub async fn reports_list(&self, limit: i64) -> Result<Vec<ReportEntry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT clearing_date, json_sha256, csv_sha256, created_at_ms FROM regulatory_reports \
             ORDER BY clearing_date DESC LIMIT $1",
        )
        .bind(limit.clamp(0, REPORT_LIST_MAX))
        .fetch_all(self.pool())
        .await?)
    }

    /// Closed or settled cycles without a report (the close job makes
    /// what a failed attempt left out).
    pub async fn reports_missing(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT c.clearing_date FROM clearing_cycles c \
             LEFT JOIN regulatory_reports r ON r.clearing_date = c.clearing_date \
             WHERE c.state IN ('closed', 'settled') AND r.clearing_date IS NULL \
             ORDER BY c.clearing_date LIMIT 100",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(d,)| d).collect())
    }

    /// Refunds of a clearing date: (state, merchant currency, count,
    /// amount).
    pub async fn cycle_refund_totals(
        &self,
        clearing_date: &str,
    ) -> Result<Vec<(String, String, i64, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT state, merchant_currency, CAST(COUNT(*) AS BIGINT), \
             CAST(COALESCE(SUM(merchant_minor), 0) AS BIGINT) FROM refunds \
             WHERE clearing_date = $1 GROUP BY state, merchant_currency ORDER BY state, merchant_currency",
        )
        .bind(clearing_date)
        .fetch_all(self.pool())
        .await?)
    }

    /// Risk declines decided in `[from_ms, to_ms)`: (moment, count).
    pub async fn risk_declines_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT moment, CAST(COUNT(*) AS BIGINT) FROM risk_decisions \
             WHERE action = 'decline' AND at_ms >= $1 AND at_ms < $2 GROUP BY moment ORDER BY moment",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(self.pool())
        .await?)
    }

    /// The largest payments of a clearing date that went through, by
    /// reporting amount: (id, reporting amount, merchant amount, merchant
    /// currency, wallet, acquirer, direction).
    pub async fn cycle_largest_payments(
        &self,
        clearing_date: &str,
        limit: i64,
    ) -> Result<Vec<LargestPayment>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, CAST(COALESCE(reporting_amount, 0) AS BIGINT) AS reporting_amount, merchant_amount, \
             merchant_currency, wallet, acquirer, direction FROM payments \
             WHERE clearing_date = $1 AND state = 'succeeded' \
             ORDER BY COALESCE(reporting_amount, 0) DESC, id LIMIT $2",
        )
        .bind(clearing_date)
        .bind(limit.clamp(0, 1_000))
        .fetch_all(self.pool())
        .await?)
    }
}

/// One of a cycle's largest payments.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct LargestPayment {
    pub id: String,
    pub reporting_amount: i64,
    pub merchant_amount: i64,
    pub merchant_currency: String,
    pub wallet: String,
    pub acquirer: String,
    pub direction: String,
}

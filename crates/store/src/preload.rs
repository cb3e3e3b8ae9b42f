//! Synthetic payments written in bulk, for benchmarks and the load
//! generator's `--preload`: a store that already holds millions of
//! payments, so growth is measured, not guessed. The rows are final
//! payments with their terms (no ledger transfers: the books are not what
//! these measure), spread over a window of time, 7 wallets and 6
//! acquirers in 7 countries. Never used by the payment flows.

use crate::{Store, StoreError};

/// What to preload.
#[derive(Clone, Debug)]
pub struct Preload {
    /// Payments to write.
    pub payments: u64,
    /// Their ids are `{prefix}{n}`; a second preload needs another prefix.
    pub prefix: String,
    /// They are made in `[start_ms, start_ms + span_ms)`, evenly.
    pub start_ms: i64,
    pub span_ms: i64,
    /// Rows per transaction.
    pub batch: usize,
}

const PEOPLE: [(&str, &str, &str, &str); 7] = [
    ("mn-wallet", "mn-acq", "MN", "MNT"),
    ("cn-wallet", "cn-acq", "CN", "CNY"),
    ("th-wallet", "th-acq", "TH", "THB"),
    ("sg-wallet", "sg-acq", "SG", "SGD"),
    ("hk-wallet", "hk-acq", "HK", "HKD"),
    ("my-wallet", "my-acq", "MY", "MYR"),
    ("vn-wallet", "vn-acq", "VN", "VND"),
];
const MCCS: [&str; 5] = ["5812", "5411", "7011", "5311", "4111"];
/// Rows per INSERT statement: sqlx binds by name, which costs more per
/// parameter the more a statement has (25 rows measured fastest).
const ROWS_PER_STATEMENT: usize = 25;

/// A deterministic spread of the n-th payment's facts.
fn mix(n: u64) -> u64 {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x.wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ (x >> 29)
}

/// The `i`-th of a constant list, round and round.
fn pick<T: Copy>(list: &[T], i: u64) -> Option<T> {
    let len = u64::try_from(list.len()).unwrap_or(1).max(1);
    list.get(usize::try_from(i % len).unwrap_or(0)).copied()
}

struct Row {
    id: String,
    mode: &'static str,
    direction: &'static str,
    wallet: &'static str,
    acquirer: &'static str,
    amount: i64,
    currency: &'static str,
    reporting: i64,
    clearing_date: String,
    state: &'static str,
    at_ms: i64,
    payer_country: &'static str,
    merchant_country: &'static str,
    mcc: &'static str,
}

fn row(p: &Preload, n: u64) -> Row {
    let h = mix(n);
    let first = ("mn-wallet", "mn-acq", "MN", "MNT");
    let (wallet, _, payer_country, _) = pick(&PEOPLE, h).unwrap_or(first);
    let (_, acquirer, merchant_country, currency) = pick(&PEOPLE, h >> 8).unwrap_or(first);
    // China is the home country: inbound to it, outbound from it.
    let direction = match (payer_country, merchant_country) {
        (_, "CN") => "inbound",
        ("CN", _) => "outbound",
        _ => "transit",
    };
    let state = match (h >> 16) % 100 {
        0..=89 => "succeeded",
        90..=95 => "failed",
        96..=98 => "cancelled",
        _ => "exception",
    };
    let reporting = 1_000 + i64::try_from((h >> 24) % 500_000).unwrap_or(0);
    let at_ms = p.start_ms
        + i64::try_from(
            u128::from(n) * u128::try_from(p.span_ms.max(1)).unwrap_or(1)
                / u128::from(p.payments.max(1)),
        )
        .unwrap_or(0);
    // The clearing date: the payment's date in UTC+8 (the default zone).
    let clearing_date = jiff::Timestamp::from_millisecond(at_ms + 8 * 3_600_000)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
        .unwrap_or_default();
    Row {
        id: format!("{}{n}", p.prefix),
        mode: if (h >> 40).is_multiple_of(2) {
            "mpm"
        } else {
            "cpm"
        },
        direction,
        wallet,
        acquirer,
        amount: reporting * 3,
        currency,
        reporting,
        clearing_date,
        state,
        at_ms,
        payer_country,
        merchant_country,
        mcc: pick(&MCCS, h >> 48).unwrap_or("5812"),
    }
}

impl Store {
    /// Write `p.payments` synthetic final payments with their terms, in
    /// transactions of `p.batch` rows; `progress` is told the rows
    /// written so far after each.
    pub async fn preload_payments(
        &self,
        p: &Preload,
        progress: impl Fn(u64),
    ) -> Result<(), StoreError> {
        let mut n = 0u64;
        while n < p.payments {
            let end = (n + p.batch.max(1) as u64).min(p.payments);
            let rows: Vec<Row> = (n..end).map(|i| row(p, i)).collect();
            self.write(move |conn| {
                Box::pin(async move {
                    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                        insert_chunk(conn, chunk).await?;
                    }
                    Ok(())
                })
            })
            .await?;
            n = end;
            progress(n);
        }
        Ok(())
    }
}

fn placeholders(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| {
            let cols: Vec<String> = (1..=columns)
                .map(|c| format!("${}", r * columns + c))
                .collect();
            format!("({})", cols.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn insert_chunk(conn: &mut sqlx::AnyConnection, rows: &[Row]) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO payments (id, mode, direction, wallet, acquirer, merchant_id, initiator, request_id, \
         merchant_amount, merchant_currency, reporting_amount, reporting_currency, clearing_date, state, version, \
         created_at_ms, updated_at_ms, payer_country, merchant_country, mcc, payer_residency, merchant_residency, \
         purpose) VALUES {}",
        placeholders(rows.len(), 23)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for r in rows {
        q = q
            .bind(r.id.clone())
            .bind(r.mode)
            .bind(r.direction)
            .bind(r.wallet)
            .bind(r.acquirer)
            .bind("m-1")
            .bind(r.wallet)
            .bind(r.id.clone())
            .bind(r.amount)
            .bind(r.currency)
            .bind(r.reporting)
            .bind("CNY")
            .bind(r.clearing_date.clone())
            .bind(r.state)
            .bind(3_i64)
            .bind(r.at_ms)
            .bind(r.at_ms)
            .bind(r.payer_country)
            .bind(r.merchant_country)
            .bind(r.mcc)
            .bind(r.payer_country)
            .bind(r.merchant_country)
            .bind("GDDS");
    }
    q.execute(&mut *conn).await?;
    let sql = format!(
        "INSERT INTO payment_terms (payment_id, merchant_name, acquirer_merchant_id, merchant_country, mcc, \
         payer_country, fx_provider_minor, fx_markup_minor, fx_rounding_minor, fee_discount, fee_acquirer, \
         fee_wallet, fee_gateway, fee_scheme, created_at_ms, payer_residency, merchant_residency, purpose) VALUES {}",
        placeholders(rows.len(), 18)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for r in rows {
        q = q
            .bind(r.id.clone())
            .bind("PRELOADED MERCHANT")
            .bind("m-1")
            .bind(r.merchant_country)
            .bind(r.mcc)
            .bind(r.payer_country)
            .bind(0_i64)
            .bind(0_i64)
            .bind(0_i64)
            .bind(0_i64)
            .bind(0_i64)
            .bind(0_i64)
            .bind(0_i64)
            .bind(0_i64)
            .bind(r.at_ms)
            .bind(r.payer_country)
            .bind(r.merchant_country)
            .bind("GDDS");
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

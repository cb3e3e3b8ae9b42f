//! Ledger throughput against the engine's ceiling, same run, same engine,
//! same durability, same batch size and concurrency.
//!
//! - `ledger`: payments of three balanced transfers each (payer's wallet →
//!   acquirer, acquirer → the gateway's fee income, wallet → the gateway's
//!   rounding account), each payment one `ledger_apply` call, from many
//!   concurrent callers, spread over many wallets and acquirers; the
//!   gateway's house accounts are touched by every payment.
//! - `ledger, unsharded house`: the same with the fee and rounding accounts
//!   kept in one row each, to show what sharding them is for.
//! - `raw insert`: the same number of rows into a bare table with a primary
//!   key, through the same durable write path with the same rows per
//!   commit — the ceiling the ledger is measured against. On PostgreSQL a
//!   commit holds one payment's three rows, from as many callers; on SQLite
//!   the writer folds the ledger callers of one commit together, so the
//!   ceiling is one caller writing, per commit, as many rows as the ledger
//!   committed on average in the same round, in multi-row `INSERT`s.
//!
//! `cargo bench -p store --bench ledger -- [payments] [callers]`; with
//! `UNIGATE_TEST_POSTGRES_URL` set, PostgreSQL is measured too (in a schema
//! of its own).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::Instant;

use ledger::{AccountId, Code, Kind, Phase, Transfer};
use money::Currency;
use store::{Store, StoreOptions};

const WALLETS: usize = 1_000;
const ACQUIRERS: usize = 100;

#[derive(Clone, Copy, PartialEq)]
enum Work {
    Ledger {
        sharded: bool,
    },
    /// Three rows per `write`, from every caller.
    Raw,
    /// One caller, this many rows per `write` (one commit each).
    RawCommits {
        rows_per_commit: usize,
    },
}

async fn setup(
    store: &Store,
    tag: &str,
    sharded: bool,
) -> (Vec<AccountId>, Vec<AccountId>, AccountId, AccountId) {
    let c = Currency::parse("CNY").unwrap();
    let wallets: Vec<AccountId> = (0..WALLETS)
        .map(|i| AccountId::new(&format!("{tag}w{i}"), Kind::Settlement, c))
        .collect();
    let acquirers: Vec<AccountId> = (0..ACQUIRERS)
        .map(|i| AccountId::new(&format!("{tag}a{i}"), Kind::Settlement, c))
        .collect();
    let (fees, rounding) = if sharded {
        (
            AccountId::gateway(Kind::FeeIncome, c),
            AccountId::gateway(Kind::Rounding, c),
        )
    } else {
        // Settlement-kind accounts keep one row: the unsharded hot spot.
        (
            AccountId::new(&format!("{tag}fees"), Kind::Settlement, c),
            AccountId::new(&format!("{tag}rounding"), Kind::Settlement, c),
        )
    };
    for a in wallets.iter().chain(&acquirers).chain([&fees, &rounding]) {
        store.ledger_open(a, None, 0).await.unwrap();
    }
    (wallets, acquirers, fees, rounding)
}

/// Rows per second, and the rows each commit held on average.
async fn run(
    store: &Store,
    work: Work,
    payments: usize,
    callers: usize,
    tag: &str,
) -> (f64, usize) {
    let accounts = match work {
        Work::Ledger { sharded } => Some(Arc::new(setup(store, tag, sharded).await)),
        Work::Raw => None,
        Work::RawCommits { rows_per_commit } => {
            let start = Instant::now();
            raw_commits(store, payments * 3, rows_per_commit, tag).await;
            let rate = (payments * 3) as f64 / start.elapsed().as_secs_f64();
            return (rate, rows_per_commit);
        }
    };
    let commits = store.writer_commits();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..callers {
        let store = store.clone();
        let accounts = accounts.clone();
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut n = caller;
            while n < payments {
                let id = format!("{tag}p{n}");
                match &accounts {
                    Some(acc) => {
                        let (wallets, acquirers, fees, rounding) = acc.as_ref();
                        let (w, a) = (&wallets[n % WALLETS], &acquirers[n % ACQUIRERS]);
                        let t = |suffix: &str, debit: &AccountId, credit: &AccountId, amount: i64, code: Code| Transfer {
                            id: format!("{id}{suffix}"),
                            debit: debit.clone(),
                            credit: credit.clone(),
                            amount,
                            code,
                            reference: id.clone(),
                            phase: Phase::Single,
                        };
                        store
                            .ledger_apply(
                                vec![
                                    t("a", w, a, 10_000, Code::Payment),
                                    t("b", a, fees, 38, Code::Fee),
                                    t("c", w, rounding, 1, Code::Rounding),
                                ],
                                1,
                            )
                            .await
                            .unwrap();
                    }
                    None => {
                        store
                            .write(move |conn| {
                                Box::pin(async move {
                                    for suffix in ["a", "b", "c"] {
                                        sqlx::query(
                                            "INSERT INTO bench_raw (id, debit_account, credit_account, amount, reference, created_at_ms) \
                                             VALUES ($1, $2, $3, $4, $5, $6)",
                                        )
                                        .bind(format!("{id}{suffix}"))
                                        .bind("w")
                                        .bind("a")
                                        .bind(10_000i64)
                                        .bind(&id)
                                        .bind(1i64)
                                        .execute(&mut *conn)
                                        .await?;
                                    }
                                    Ok(())
                                })
                            })
                            .await
                            .unwrap();
                    }
                }
                n += callers;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rate = (payments * 3) as f64 / start.elapsed().as_secs_f64();
    let commits = store.writer_commits() - commits;
    let commits = usize::try_from(commits).unwrap_or(usize::MAX).max(1);
    (rate, (payments * 3).div_ceil(commits))
}

/// `rows` rows, `per_commit` in each durable write, one write at a time,
/// in `INSERT`s of at most 500 rows (SQLite only: `?` placeholders).
async fn raw_commits(store: &Store, rows: usize, per_commit: usize, tag: &str) {
    let per_commit = per_commit.max(1);
    let mut next = 0;
    while next < rows {
        let ids: Vec<String> = (next..rows.min(next + per_commit))
            .map(|i| format!("{tag}r{i}"))
            .collect();
        next += ids.len();
        store
            .write(move |conn| {
                Box::pin(async move {
                    for chunk in ids.chunks(500) {
                        let mut sql = String::from(
                            "INSERT INTO bench_raw (id, debit_account, credit_account, amount, reference, created_at_ms) VALUES ",
                        );
                        for i in 0..chunk.len() {
                            sql.push_str(if i > 0 { ", (?, ?, ?, ?, ?, ?)" } else { "(?, ?, ?, ?, ?, ?)" });
                        }
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                        for id in chunk {
                            q = q.bind(id.clone()).bind("w").bind("a").bind(10_000i64).bind(id.clone()).bind(1i64);
                        }
                        q.execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .await
            .unwrap();
    }
}

async fn measure(name: &str, store: Store, payments: usize, callers: usize) {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_raw (id TEXT PRIMARY KEY, debit_account TEXT NOT NULL, \
         credit_account TEXT NOT NULL, amount BIGINT NOT NULL, reference TEXT NOT NULL, created_at_ms BIGINT NOT NULL)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    // Rounds interleaved, medians reported: this machine's fsync time
    // drifts, and interleaving spreads the drift over all three.
    let (mut raw, mut sharded, mut unsharded, mut per_commit) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (rate, rows_per_commit) = run(
            &store,
            Work::Ledger { sharded: true },
            payments,
            callers,
            &format!("s{round}"),
        )
        .await;
        sharded.push(rate);
        per_commit.push(rows_per_commit);
        let raw_work = if store.engine() == store::Engine::Sqlite {
            Work::RawCommits { rows_per_commit }
        } else {
            Work::Raw
        };
        raw.push(
            run(&store, raw_work, payments, callers, &format!("raw{round}"))
                .await
                .0,
        );
        unsharded.push(
            run(
                &store,
                Work::Ledger { sharded: false },
                payments,
                callers,
                &format!("u{round}"),
            )
            .await
            .0,
        );
    }
    let (raw, sharded, unsharded) = (median(raw), median(sharded), median(unsharded));
    let per_commit = if store.engine() == store::Engine::Sqlite {
        per_commit.sort_unstable();
        per_commit[per_commit.len() / 2]
    } else {
        3
    };
    println!(
        "| {name} | {per_commit} | {raw:.0} | {sharded:.0} ({:.2}×) | {unsharded:.0} ({:.2}×) |",
        sharded / raw,
        unsharded / raw
    );
}

/// Rounds of each measurement.
const ROUNDS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let payments: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let callers: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(256);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!(
            "{payments} payments × 3 transfers, {callers} concurrent callers, median of {ROUNDS} interleaved rounds; \
             transfers (rows) per second, durably committed"
        );
        println!();
        println!("| engine | rows per commit | raw insert (ceiling) | ledger | ledger, unsharded house |");
        println!("|---|---|---|---|---|");
        let dir = std::env::temp_dir().join(format!("unigate-ledger-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("bench.db").display());
        let sqlite = Store::open(&url, StoreOptions::default()).await.unwrap();
        measure("SQLite (file, WAL, synchronous=FULL)", sqlite.clone(), payments, callers).await;
        sqlite.close().await;
        let _ = std::fs::remove_dir_all(&dir);
        if let Ok(base) = std::env::var("UNIGATE_TEST_POSTGRES_URL")
            && !base.is_empty()
        {
            let pg = store::testing::postgres(&base, "bench_ledger").await;
            measure("PostgreSQL (local, fsync on)", pg, payments, callers).await;
        }
    });
}

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
//! - `raw insert, transfers' table`: the ceiling the ledger is measured
//!   against. The very rows the ledger writes (the same payments' transfers,
//!   all their columns) inserted into a table of `ledger_transfers`' shape
//!   (its keys and indexes), through the same durable write path with the
//!   same rows per commit. On PostgreSQL a commit holds one payment's three
//!   rows in one `INSERT`, from as many callers; on SQLite the writer folds
//!   the ledger callers of one commit together, so the ceiling is one
//!   caller writing, per commit, as many rows as the ledger committed on
//!   average in the same round, in multi-row `INSERT`s.
//! - `raw insert, bare table`: the same into a six-column table with only a
//!   primary key, to show what the transfers' indexes cost.
//!
//! `cargo bench -p store --bench ledger -- [payments] [callers]`; with
//! `UNIGATE_TEST_POSTGRES_URL` set, PostgreSQL is measured too (in a schema
//! of its own).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::indexing_slicing)]

use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use ledger::{AccountId, Code, Kind, Phase, Transfer};
use money::Currency;
use store::{Store, StoreOptions};

const WALLETS: usize = 1_000;
const ACQUIRERS: usize = 100;

/// Where a raw insert writes.
#[derive(Clone, Copy, PartialEq)]
enum Table {
    /// `bench_raw`: six columns and a primary key.
    Bare,
    /// `bench_transfers`: the shape of `ledger_transfers`, its columns,
    /// keys and indexes (by payment, by time, open reservations).
    Transfers,
}

#[derive(Clone, Copy, PartialEq)]
enum Work {
    Ledger {
        sharded: bool,
    },
    /// One payment's three rows per `write`, from every caller.
    Raw {
        table: Table,
    },
    /// One caller, this many rows per `write` (one commit each).
    RawCommits {
        rows_per_commit: usize,
        table: Table,
    },
}

/// The accounts of a round: wallets, acquirers, fee income, rounding.
type Accounts = (Vec<AccountId>, Vec<AccountId>, AccountId, AccountId);

fn accounts(tag: &str, sharded: bool) -> Accounts {
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
    (wallets, acquirers, fees, rounding)
}

async fn setup(store: &Store, tag: &str, sharded: bool) -> Accounts {
    let accounts = accounts(tag, sharded);
    let (wallets, acquirers, fees, rounding) = &accounts;
    for a in wallets.iter().chain(acquirers).chain([fees, rounding]) {
        store.ledger_open(a, None, 0).await.unwrap();
    }
    accounts
}

/// Payment `n`'s three transfers: wallet → acquirer, acquirer → fee
/// income, wallet → rounding.
fn payment(accounts: &Accounts, tag: &str, n: usize) -> Vec<Transfer> {
    let (wallets, acquirers, fees, rounding) = accounts;
    let (w, a) = (&wallets[n % WALLETS], &acquirers[n % ACQUIRERS]);
    let id = format!("{tag}p{n}");
    let t =
        |suffix: &str, debit: &AccountId, credit: &AccountId, amount: i64, code: Code| Transfer {
            id: format!("{id}{suffix}"),
            debit: debit.clone(),
            credit: credit.clone(),
            amount,
            code,
            reference: id.clone(),
            phase: Phase::Single,
        };
    vec![
        t("a", w, a, 10_000, Code::Payment),
        t("b", a, fees, 38, Code::Fee),
        t("c", w, rounding, 1, Code::Rounding),
    ]
}

/// Insert `transfers` as raw rows into `table`, in multi-row `INSERT`s of
/// at most 500 rows.
async fn insert_raw(
    conn: &mut sqlx::AnyConnection,
    table: Table,
    transfers: &[Transfer],
) -> Result<(), store::StoreError> {
    let sqlite = conn.backend_name() == "SQLite";
    let house = store::house_shards(if sqlite {
        store::Engine::Sqlite
    } else {
        store::Engine::Postgres
    });
    let (head, columns) = match table {
        Table::Bare => (
            "INSERT INTO bench_raw (id, debit_account, credit_account, amount, reference, created_at_ms) VALUES ",
            6,
        ),
        Table::Transfers => (
            "INSERT INTO bench_transfers (id, debit_account, debit_shard, credit_account, credit_shard, amount, \
               currency, code, reference, phase, expires_at_ms, open, created_at_ms, pending_id) VALUES ",
            13,
        ),
    };
    for chunk in transfers.chunks(500) {
        let mut sql = String::from(head);
        for row in 0..chunk.len() {
            sql.push_str(if row > 0 { ", (" } else { "(" });
            for column in 0..columns {
                if column > 0 {
                    sql.push_str(", ");
                }
                if sqlite {
                    sql.push('?');
                } else {
                    sql.push_str(&format!("${}", row * columns + column + 1));
                }
            }
            sql.push_str(if table == Table::Transfers {
                ", NULL)"
            } else {
                ")"
            });
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (i, t) in chunk.iter().enumerate() {
            q = match table {
                Table::Bare => q
                    .bind(t.id.clone())
                    .bind(t.debit.key())
                    .bind(t.credit.key())
                    .bind(t.amount)
                    .bind(t.reference.clone())
                    .bind(1i64),
                Table::Transfers => q
                    .bind(t.id.clone())
                    .bind(t.debit.key())
                    .bind(if t.debit.kind.is_house() {
                        i as i64 % house
                    } else {
                        0
                    })
                    .bind(t.credit.key())
                    .bind(if t.credit.kind.is_house() {
                        i as i64 % house
                    } else {
                        0
                    })
                    .bind(t.amount)
                    .bind(t.debit.currency.code())
                    .bind(t.code.as_str())
                    .bind(t.reference.clone())
                    .bind("single")
                    .bind(None::<i64>)
                    .bind(0i64)
                    .bind(1i64),
            };
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Rows per second, and the rows each commit held on average.
async fn run(
    store: &Store,
    work: Work,
    payments: usize,
    callers: usize,
    tag: &str,
) -> (f64, usize) {
    let accounts = Arc::new(match work {
        Work::Ledger { sharded } => setup(store, tag, sharded).await,
        Work::Raw { .. } => accounts(tag, true),
        Work::RawCommits {
            rows_per_commit,
            table,
        } => {
            let accounts = accounts(tag, true);
            let start = Instant::now();
            raw_commits(store, &accounts, payments, rows_per_commit, table, tag).await;
            let rate = (payments * 3) as f64 / start.elapsed().as_secs_f64();
            return (rate, rows_per_commit);
        }
    });
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
                let transfers = payment(&accounts, &tag, n);
                match work {
                    Work::Raw { table } => store
                        .write(move |conn| {
                            Box::pin(async move { insert_raw(conn, table, &transfers).await })
                        })
                        .await
                        .unwrap(),
                    _ => store.ledger_apply(transfers, 1).await.unwrap(),
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

/// `payments`' rows, `per_commit` rows in each durable write, one write at
/// a time.
async fn raw_commits(
    store: &Store,
    accounts: &Accounts,
    payments: usize,
    per_commit: usize,
    table: Table,
    tag: &str,
) {
    let per_commit = per_commit.max(3);
    let mut next = 0;
    while next < payments {
        let transfers: Vec<Transfer> = (next..payments.min(next + per_commit / 3))
            .flat_map(|n| payment(accounts, tag, n))
            .collect();
        next += transfers.len() / 3;
        store
            .write(move |conn| Box::pin(async move { insert_raw(conn, table, &transfers).await }))
            .await
            .unwrap();
    }
}

async fn measure(name: &str, store: Store, payments: usize, callers: usize) {
    let sqlite = store.engine() == store::Engine::Sqlite;
    let seq = if sqlite {
        "seq INTEGER PRIMARY KEY AUTOINCREMENT"
    } else {
        "seq BIGSERIAL PRIMARY KEY"
    };
    for ddl in [
        "CREATE TABLE IF NOT EXISTS bench_raw (id TEXT PRIMARY KEY, debit_account TEXT NOT NULL, \
         credit_account TEXT NOT NULL, amount BIGINT NOT NULL, reference TEXT NOT NULL, created_at_ms BIGINT NOT NULL)"
            .to_string(),
        // As `ledger_transfers` is (migrations/*/0006_ledger.sql).
        format!(
            "CREATE TABLE IF NOT EXISTS bench_transfers ({seq}, id TEXT NOT NULL UNIQUE, \
             debit_account TEXT NOT NULL, debit_shard BIGINT NOT NULL, credit_account TEXT NOT NULL, \
             credit_shard BIGINT NOT NULL, amount BIGINT NOT NULL, currency TEXT NOT NULL, code TEXT NOT NULL, \
             reference TEXT NOT NULL, phase TEXT NOT NULL, pending_id TEXT, expires_at_ms BIGINT, \
             open BIGINT NOT NULL, created_at_ms BIGINT NOT NULL)"
        ),
        "CREATE INDEX IF NOT EXISTS bench_transfers_by_reference ON bench_transfers (reference)".into(),
        "CREATE INDEX IF NOT EXISTS bench_transfers_by_time ON bench_transfers (created_at_ms)".into(),
        "CREATE INDEX IF NOT EXISTS bench_transfers_open ON bench_transfers (expires_at_ms) WHERE open = 1".into(),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(ddl))
            .execute(store.pool())
            .await
            .unwrap();
    }
    // Rounds interleaved, medians reported: this machine's fsync time
    // drifts, and interleaving spreads the drift over all of them.
    let (mut bare, mut raw, mut sharded, mut unsharded, mut per_commit) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
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
        // The same rows per commit as the ledger: on SQLite the writer
        // folds the ledger's callers, so one writer of that many rows; on
        // PostgreSQL each caller's own transaction of one payment's rows.
        let raw_work = |table| {
            if sqlite {
                Work::RawCommits {
                    rows_per_commit,
                    table,
                }
            } else {
                Work::Raw { table }
            }
        };
        for (table, rates, tag) in [
            (Table::Transfers, &mut raw, "t"),
            (Table::Bare, &mut bare, "b"),
        ] {
            rates.push(
                run(
                    &store,
                    raw_work(table),
                    payments,
                    callers,
                    &format!("r{tag}{round}"),
                )
                .await
                .0,
            );
        }
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
    // Every round, for the drift between them (stderr: the table stays
    // clean).
    let rounds = |v: &[f64]| {
        v.iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (what, v) in [
        ("raw insert, bare table", &bare),
        ("raw insert, transfers' table", &raw),
        ("ledger", &sharded),
        ("ledger, unsharded house", &unsharded),
    ] {
        let mut out = std::io::stderr().lock();
        let _ = writeln!(out, "{name}, {what}, each round: {}", rounds(v));
    }
    let (bare, raw, sharded, unsharded) = (
        median(bare),
        median(raw),
        median(sharded),
        median(unsharded),
    );
    let per_commit = if sqlite {
        per_commit.sort_unstable();
        per_commit[per_commit.len() / 2]
    } else {
        3
    };
    println!(
        "| {name} | {per_commit} | {bare:.0} | {raw:.0} | {sharded:.0} ({:.2}×) | {unsharded:.0} ({:.2}×) |",
        sharded / raw,
        unsharded / raw
    );
    if store.ledger_deadlocks() > 0 {
        println!(
            "{name}: {} ledger writes lost a deadlock and ran again",
            store.ledger_deadlocks()
        );
    }
}

/// Rounds of each measurement.
const ROUNDS: usize = 5;

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
        println!(
            "| engine | rows per commit | raw insert, bare table | raw insert, transfers' table (ceiling) | ledger | ledger, unsharded house |"
        );
        println!("|---|---|---|---|---|---|");
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

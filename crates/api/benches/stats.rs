//! Statistics over a store of many payments (issue 15: within 1 s over a
//! million, on both engines), through `api::reports::stats` — the function
//! `/v1/reports/stats` and `unigate report stats` call — against a
//! baseline measured in the same run on the same store: one full scan
//! counting and summing every payment (`SELECT COUNT(*), SUM(…)`), the
//! least any statistic over the whole store can cost.
//!
//! `cargo bench -p api --bench stats -- [payments]` (default 1,000,000);
//! with `UNIGATE_TEST_POSTGRES_URL` set, PostgreSQL is measured too (in a
//! schema of its own). The preload is `Store::preload_payments`, also what
//! `unigate loadgen --preload` uses.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use api::reports::StatsQuery;
use store::{Preload, Store, StoreOptions};

const ROUNDS: usize = 5;
/// 2026-11-06T00:00:00Z: the preloaded payments span the 30 days after.
const START_MS: i64 = 1_793_923_200_000;
const DAY_MS: i64 = 86_400_000;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn time<F, Fut>(f: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut runs = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        f().await;
        runs.push(t.elapsed());
    }
    median(runs)
}

fn query(group_by: &str, clearing_date: Option<&str>) -> StatsQuery {
    StatsQuery {
        from: Some("2026-11-06T00:00:00Z".into()),
        to: Some("2026-12-06T00:00:00Z".into()),
        group_by: (!group_by.is_empty()).then(|| group_by.to_string()),
        time_zone: Some("Asia/Shanghai".into()),
        clearing_date: clearing_date.map(str::to_string),
        limit: Some(1_000),
        ..StatsQuery::default()
    }
}

async fn measure(engine: &str, store: Store, payments: u64) {
    let t = Instant::now();
    store
        .preload_payments(
            &Preload {
                payments,
                prefix: "bench-".into(),
                start_ms: START_MS,
                span_ms: 30 * DAY_MS,
                batch: 10_000,
            },
            |_| {},
        )
        .await
        .unwrap();
    let load = t.elapsed();
    // The planner's statistics, as a running system has them.
    store.analyze().await.unwrap();
    let baseline = time(|| async {
        store.payments_scan().await.unwrap();
    })
    .await;
    println!(
        "{engine}: {payments} payments preloaded in {:.1} s ({:.0}/s); baseline full scan {:.0} ms",
        load.as_secs_f64(),
        payments as f64 / load.as_secs_f64(),
        baseline.as_secs_f64() * 1e3
    );
    println!();
    println!("| {engine}: statistics over 30 days | median | × baseline | groups |");
    println!("|---|---:|---:|---:|");
    for (name, q) in [
        ("one total", query("", None)),
        (
            "by direction, corridor, day (Shanghai)",
            query("direction,corridor,day", None),
        ),
        ("by participant, status", query("participant,status", None)),
        (
            "by mcc, purpose, payer and merchant residency",
            query("mcc,purpose,payer_residency,merchant_residency", None),
        ),
        (
            "one clearing date, by direction, corridor",
            query("direction,corridor", Some("2026-11-20")),
        ),
    ] {
        let groups = std::sync::atomic::AtomicUsize::new(0);
        let d = time(|| async {
            let out = api::reports::stats(&store, "Asia/Shanghai", "CNY", &q)
                .await
                .unwrap();
            groups.store(out.groups.len(), std::sync::atomic::Ordering::Relaxed);
        })
        .await;
        let groups = groups.into_inner();
        println!(
            "| {name} | {:.0} ms | {:.2} | {groups} |",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() / baseline.as_secs_f64()
        );
    }
    println!();
}

fn main() {
    let payments: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("unigate-stats-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("bench.db").display());
        let sqlite = Store::open(&url, StoreOptions::default()).await.unwrap();
        measure("SQLite", sqlite.clone(), payments).await;
        sqlite.close().await;
        let _ = std::fs::remove_dir_all(&dir);
        if let Ok(base) = std::env::var("UNIGATE_TEST_POSTGRES_URL")
            && !base.is_empty()
        {
            let pg = store::testing::postgres(&base, "bench_stats").await;
            measure("PostgreSQL", pg, payments).await;
        }
    });
}

//! Test support for this crate's tests and its callers': a fresh, migrated
//! store of each engine available. Behind the `testing` feature.
#![allow(clippy::print_stderr, clippy::expect_used)]

use crate::{Engine, Store, StoreOptions};

/// A fresh, migrated store of each engine available: SQLite in memory, and
/// PostgreSQL in a schema of its own (dropped by `cleanup`).
pub async fn engines(test: &str) -> Vec<Store> {
    // A private in-memory database per test (`sqlite::memory:` is one per
    // process, and tests run in parallel threads).
    let private = format!("sqlite://{test}-{}?mode=memory&cache=shared", unique());
    let mut out = vec![
        Store::open(&private, StoreOptions::default())
            .await
            .expect("sqlite"),
    ];
    match std::env::var("UNIGATE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => out.push(postgres(&url, test).await),
        _ => eprintln!(
            "!!! {test}: UNIGATE_TEST_POSTGRES_URL is not set: the PostgreSQL half of this test was SKIPPED"
        ),
    }
    out
}

/// A number no other caller in this process gets.
pub fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Two nodes' stores on one database.
#[derive(Debug)]
pub struct NodePair {
    pub first: Store,
    pub second: Store,
    /// The SQLite file, if that is the engine.
    file: Option<std::path::PathBuf>,
}

impl NodePair {
    /// Close both pools and remove the SQLite file and its journals.
    pub async fn cleanup(self) {
        self.first.close().await;
        self.second.close().await;
        if let Some(file) = self.file {
            for suffix in ["", "-wal", "-shm"] {
                let mut name = file.clone().into_os_string();
                name.push(suffix);
                let _ = std::fs::remove_file(name);
            }
        }
    }
}

/// Two nodes' stores on one database, of each engine available: two
/// connection pools on one SQLite file (in the system's temporary folder),
/// and on one PostgreSQL schema, as two gateway processes would have.
pub async fn node_pairs(test: &str) -> Vec<NodePair> {
    let file = std::env::temp_dir().join(format!(
        "unigate-{test}-{}-{}.db",
        std::process::id(),
        unique()
    ));
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let first = Store::open(&url, StoreOptions::default())
        .await
        .expect("sqlite file");
    let second = Store::connect(&url, StoreOptions::default())
        .await
        .expect("sqlite file, second pool");
    let mut out = vec![NodePair {
        first,
        second,
        file: Some(file),
    }];
    match std::env::var("UNIGATE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => {
            let scoped = postgres_schema(&url, test).await;
            let first = Store::open(&scoped, StoreOptions::default())
                .await
                .expect("migrated PostgreSQL");
            let second = Store::connect(&scoped, StoreOptions::default())
                .await
                .expect("PostgreSQL, second pool");
            out.push(NodePair {
                first,
                second,
                file: None,
            });
        }
        _ => eprintln!(
            "!!! {test}: UNIGATE_TEST_POSTGRES_URL is not set: the PostgreSQL half of this test was SKIPPED"
        ),
    }
    out
}

/// A schema of its own on the test PostgreSQL, so tests run in parallel.
pub async fn postgres(url: &str, test: &str) -> Store {
    let scoped = postgres_schema(url, test).await;
    let store = Store::open(&scoped, StoreOptions::default())
        .await
        .expect("migrated PostgreSQL");
    assert_eq!(store.engine(), Engine::Postgres);
    store
}

/// Create a fresh schema and return the URL that works in it.
async fn postgres_schema(url: &str, test: &str) -> String {
    let schema = format!(
        "t_{}_{}_{}",
        test.chars()
            .filter(char::is_ascii_alphanumeric)
            .take(20)
            .collect::<String>()
            .to_lowercase(),
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let admin = Store::connect(
        url,
        StoreOptions {
            connections_max: 1,
            ..StoreOptions::default()
        },
    )
    .await
    .expect("PostgreSQL at UNIGATE_TEST_POSTGRES_URL answers");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(admin.pool())
    .await
    .expect("drop");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(admin.pool())
        .await
        .expect("create schema");
    admin.close().await;
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

//! The store: the only crate that knows SQL.
//!
//! Two real engines behind one API: SQLite, the embedded default (a file, or
//! `sqlite::memory:` shared by one process), and PostgreSQL, the production
//! store (several gateway nodes share one). Queries are written once in the
//! portable subset both engines accept (numbered `$n` placeholders,
//! `INSERT … ON CONFLICT`); what differs lives in [`dialect`]. Each engine
//! has its own migration folder with matching versions (`migrations/sqlite`,
//! `migrations/postgres`), applied at start-up. Money and counters are
//! 64-bit integers; times are Unix milliseconds.

mod audit;
mod cache;
mod cycles;
pub mod dialect;
pub mod faults;
mod fx;
mod idempotency;
mod keys;
mod lease;
mod ledger;
mod merchants;
mod notifications;
mod outbound;
mod participants;
mod payments;
mod preload;
mod risk;
mod routes;
mod stats;
mod terms;
#[cfg(feature = "testing")]
pub mod testing;
mod token;
mod writer;

use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, install_default_drivers};

pub use crate::audit::{PaymentOutline, RefundOutline};
pub use crate::cycles::{CYCLE_LIST_MAX, Closed, Cycle, CycleClose, InstructionRow, PositionRow};
pub use crate::fx::{FxRateRow, MarkupRow, QuoteRow, QuoteUse};
pub use crate::idempotency::Begin;
pub use crate::keys::{GatewayKey, KeyRecord};
pub use crate::lease::Lease;
pub use crate::ledger::{LedgerAccount, TRANSFER_AMOUNT_MAX, TransferRecord, house_shards};
pub use crate::merchants::{MerchantRecord, Upserted};
pub use crate::notifications::{NOTIFICATION_LIST_MAX, Notification, NotificationStatus};
pub use crate::outbound::OutboundCall;
pub use crate::participants::{Participant, StageMove};
pub use crate::payments::{
    HistoryEntry, NewPayment, PAYMENT_DETAIL_CHARS_MAX, PAYMENT_ID_CHARS_MAX, PAYMENT_LIST_MAX,
    PaymentRecord,
};
pub use crate::preload::Preload;
pub use crate::risk::{
    ALERT_LIST_MAX, CounterWindow, DecisionRow, HISTORY_CORRIDORS_MAX, HistoryRequest,
    PayerHistory, RiskAlert, RiskSet,
};
pub use crate::routes::RouteRecord;
pub use crate::stats::{
    LargestPayment, REPORT_LIST_MAX, ReportEntry, ReportRow, STATS_GROUPS_MAX, StatsDim,
    StatsFilter, StatsRow,
};
pub use crate::terms::{PaymentTerms, RefundClaim, RefundRecord};
pub use crate::token::{Role, TOKEN_LABEL_CHARS_MAX, TokenInfo};
pub use crate::writer::{WriteFuture, WriterOptions};

/// Which engine a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Why the store refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported store URL {0:?}: use sqlite://FILE, sqlite::memory: or postgres://…")]
    BadUrl(String),
    #[error("the store is unreachable: {0}")]
    Unreachable(String),
    #[error("migrating the store failed: {0}")]
    Migration(String),
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("the store's write queue is full; try again")]
    Busy,
    #[error("{0}")]
    Conflict(String),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0}")]
    IllegalMove(String),
    #[error("{0} would go beyond its debit limit")]
    LimitExceeded(String),
    #[error("{0}")]
    Refused(String),
    #[error("the transaction did not commit: {0}")]
    Commit(String),
}

/// Pool and timeout limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// Most connections in the pool (PostgreSQL; SQLite keeps a few readers
    /// and writes through one connection at a time).
    pub connections_max: u32,
    /// How long to wait for a connection from the pool.
    pub acquire_timeout_ms: u64,
    /// SQLite: how long a writer waits for the database lock.
    pub busy_timeout_ms: u64,
    /// SQLite: the batching writer's queue and batch sizes.
    pub writer: WriterOptions,
    /// How long a node may answer from its copy of participants, keys and
    /// FX rates, markups and settings before reading them again; another
    /// node's change to them shows here within this time (0: no copy).
    pub cache_ttl_ms: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        // PostgreSQL work is mostly waiting on the network and the disk: a
        // few connections per core keep the CPUs busy without thrashing.
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        StoreOptions {
            connections_max: u32::try_from(cores * 4).unwrap_or(16).clamp(4, 64),
            acquire_timeout_ms: 5_000,
            busy_timeout_ms: 5_000,
            writer: WriterOptions::default(),
            cache_ttl_ms: 1_000,
        }
    }
}

/// A connected, migrated store.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    engine: Engine,
    /// SQLite's single batching writer (see [`Store::write`]).
    writer: Option<std::sync::Arc<writer::Writer>>,
    /// This node's copy of the rows every payment reads (see `cache`).
    cache: std::sync::Arc<cache::ReadCache>,
    /// Ledger writes that lost a deadlock and ran again (PostgreSQL).
    ledger_deadlocks: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Connect to `url` and apply the migrations.
    pub async fn open(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        let store = Store::connect(url, options).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connect to `url` without migrating.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        install_default_drivers();
        let (engine, url) = dialect::normalise_url(url)?;
        let in_memory = url.contains("mode=memory");
        let mut pool = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_millis(options.acquire_timeout_ms))
            .max_connections(match engine {
                // An in-memory database is one connection (a second one
                // through the driver may not share its cache); a file has
                // one writer at a time either way, and a few readers.
                Engine::Sqlite if in_memory => 1,
                Engine::Sqlite => options.connections_max.clamp(1, 4),
                Engine::Postgres => options.connections_max.max(1),
            });
        if engine == Engine::Sqlite {
            // An in-memory database lives as long as one connection does.
            pool = pool
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
            let busy = options.busy_timeout_ms;
            pool = pool.after_connect(move |conn, _meta| {
                Box::pin(async move {
                    for pragma in dialect::sqlite_pragmas(busy) {
                        sqlx::query(sqlx::AssertSqlSafe(pragma))
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            });
        }
        let pool = pool
            .connect(&url)
            .await
            .map_err(|e| StoreError::Unreachable(e.to_string()))?;
        let writer = (engine == Engine::Sqlite)
            .then(|| std::sync::Arc::new(writer::Writer::start(pool.clone(), options.writer)));
        Ok(Store {
            pool,
            engine,
            writer,
            cache: std::sync::Arc::new(cache::ReadCache::new(Duration::from_millis(
                options.cache_ttl_ms,
            ))),
            ledger_deadlocks: std::sync::Arc::default(),
        })
    }

    /// Apply the engine's migrations that are not applied yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.engine {
            Engine::Sqlite => &SQLITE_MIGRATIONS,
            Engine::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))
    }

    /// Reachable, with every migration applied (for `/readyz`).
    pub async fn ready(&self) -> Result<(), StoreError> {
        let latest = match self.engine {
            Engine::Sqlite => &SQLITE_MIGRATIONS,
            Engine::Postgres => &POSTGRES_MIGRATIONS,
        }
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = $1")
                .bind(true)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| StoreError::Unreachable(e.to_string()))?;
        if applied.unwrap_or(0) < latest {
            return Err(StoreError::Migration(format!(
                "schema version {} is behind {latest}",
                applied.unwrap_or(0)
            )));
        }
        Ok(())
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The connection pool, for the crates that add their own tables.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Close every connection (an in-memory SQLite database is gone).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The migration versions of each engine, for the drift check.
pub fn migration_versions(engine: Engine) -> Vec<(i64, String)> {
    match engine {
        Engine::Sqlite => &SQLITE_MIGRATIONS,
        Engine::Postgres => &POSTGRES_MIGRATIONS,
    }
    .iter()
    .map(|m| (m.version, m.description.to_string()))
    .collect()
}

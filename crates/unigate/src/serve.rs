//! `unigate serve`: configuration, logs, metrics, the store, the API, and a
//! graceful shutdown.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything `serve` can be told, with its default. Sources, later ones
/// winning: these defaults, the `--config` TOML file, `UNIGATE_*`
/// environment variables (`UNIGATE_HTTP__BODY_BYTES_MAX=…` for nested
/// keys), then the command-line flags.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Store URL: `sqlite://FILE`, `sqlite::memory:` or `postgres://…`.
    pub db: String,
    /// Address the API listens on.
    pub listen: String,
    /// Address of the Prometheus `/metrics` listener (kept apart from the API).
    pub metrics_listen: String,
    /// Logs as JSON lines (`json`) or readable text (`text`).
    pub log_format: String,
    /// How long in-flight requests get to finish after a shutdown signal.
    pub shutdown_grace_ms: u64,
    /// This node's id in leases and logs (default: generated at start).
    pub node_id: String,
    /// Let participants' callback URLs be http and point at loopback or
    /// private addresses (simulators and tests only; never in production).
    pub allow_private_callbacks: bool,
    /// `development` (the default) or `production`: production refuses to
    /// start without a key-encryption key (`UNIGATE_KEK` or `kek_file`) or
    /// with `allow_private_callbacks`.
    pub mode: String,
    /// File holding the key-encryption key (standard base64 of 32 bytes,
    /// owner-only permissions). `UNIGATE_KEK` wins over it.
    pub kek_file: String,
    /// How long idempotency records are kept, in seconds (SPEC §4.3).
    pub idempotency_retention_s: i64,
    pub http: api::HttpLimits,
    pub signing: api::signed::SigningConfig,
    /// What each onboarding stage allows (the production-verification
    /// limits).
    pub stages: participant::StagePolicy,
    pub fx: api::fx::FxConfig,
    /// The fee schedule (docs/ledger.md): checked when the configuration
    /// loads; shares that do not add up to 100% or ambiguous rules are
    /// refused.
    pub fees: Vec<ledger::fees::FeeRule>,
    pub store: StoreConfig,
    pub jobs: JobsConfig,
    /// The home country of payment directions and the route table's limit
    /// (docs/routing.md).
    pub routing: api::routes::RoutingConfig,
    /// The clearing cut-off, reservations and the participants' callbacks
    /// (docs/payments.md, docs/connectors.md).
    pub payments: api::payments::PaymentsConfig,
}

/// Single-node background work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// How long a node holds a job's lease without renewing it; another
    /// node takes over within this (plus a third of it) after a crash.
    pub lease_ttl_ms: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            lease_ttl_ms: 10_000,
        }
    }
}

/// Store limits (see `store::StoreOptions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub connections_max: u32,
    pub acquire_timeout_ms: u64,
    pub busy_timeout_ms: u64,
    /// SQLite: callers waiting for the writer before writes are refused.
    pub writer_queue_len_max: usize,
    /// SQLite: most callers committed in one transaction.
    pub writer_batch_max: usize,
    /// How long a node answers from its copy of participants, keys and FX
    /// rates, markups and settings (another node's change shows within it).
    pub cache_ttl_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        let o = store::StoreOptions::default();
        StoreConfig {
            connections_max: o.connections_max,
            acquire_timeout_ms: o.acquire_timeout_ms,
            busy_timeout_ms: o.busy_timeout_ms,
            writer_queue_len_max: o.writer.queue_len_max,
            writer_batch_max: o.writer.batch_max,
            cache_ttl_ms: o.cache_ttl_ms,
        }
    }
}

impl From<StoreConfig> for store::StoreOptions {
    fn from(c: StoreConfig) -> Self {
        store::StoreOptions {
            connections_max: c.connections_max,
            acquire_timeout_ms: c.acquire_timeout_ms,
            busy_timeout_ms: c.busy_timeout_ms,
            writer: store::WriterOptions {
                queue_len_max: c.writer_queue_len_max,
                batch_max: c.writer_batch_max,
            },
            cache_ttl_ms: c.cache_ttl_ms,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            db: "sqlite://unigate.db".to_string(),
            listen: "127.0.0.1:8080".to_string(),
            metrics_listen: "127.0.0.1:9464".to_string(),
            log_format: "json".to_string(),
            shutdown_grace_ms: 10_000,
            node_id: String::new(),
            allow_private_callbacks: false,
            mode: "development".to_string(),
            kek_file: String::new(),
            idempotency_retention_s: api::IDEMPOTENCY_RETENTION_MS_DEFAULT / 1000,
            http: api::HttpLimits::default(),
            signing: api::signed::SigningConfig::default(),
            stages: participant::StagePolicy::default(),
            fx: api::fx::FxConfig::default(),
            fees: Vec::new(),
            store: StoreConfig::default(),
            jobs: JobsConfig::default(),
            routing: api::routes::RoutingConfig::default(),
            payments: api::payments::PaymentsConfig::default(),
        }
    }
}

/// Load the configuration from its sources.
pub fn load(file: Option<&str>, db: Option<&str>, listen: Option<&str>) -> anyhow::Result<Config> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(f) = file {
        anyhow::ensure!(
            std::path::Path::new(f).is_file(),
            "configuration file {f} does not exist"
        );
        figment = figment.merge(Toml::file(f));
    }
    figment = figment.merge(
        Env::prefixed("UNIGATE_")
            .split("__")
            // The KEK is read apart (kek.rs) so it is never part of the
            // printable configuration; the fault point (crash tests) and
            // the settle command's token are not configuration.
            .ignore(&["test_postgres_url", "kek", "fault_point", "token"]),
    );
    if let Some(db) = db {
        figment = figment.merge(("db", db));
    }
    if let Some(listen) = listen {
        figment = figment.merge(("listen", listen));
    }
    let config: Config = figment
        .extract()
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    anyhow::ensure!(
        matches!(config.log_format.as_str(), "json" | "text"),
        "configuration: log_format must be json or text"
    );
    anyhow::ensure!(
        matches!(config.mode.as_str(), "development" | "production"),
        "configuration: mode must be development or production"
    );
    anyhow::ensure!(
        !(config.production() && config.allow_private_callbacks),
        "configuration: allow_private_callbacks is for simulators and tests, never production"
    );
    anyhow::ensure!(
        config.signing.skew_window_s > 0 && config.signing.key_overlap_s >= 0,
        "configuration: signing.skew_window_s must be positive and signing.key_overlap_s not negative"
    );
    for (name, code) in [
        ("fx.reporting_currency", &config.fx.reporting_currency),
        ("fx.default_pivot", &config.fx.default_pivot),
    ] {
        money::Currency::parse(code).map_err(|e| anyhow::anyhow!("configuration: {name}: {e}"))?;
    }
    anyhow::ensure!(
        config.fx.staleness_s > 0 && config.fx.quote_ttl_s > 0 && config.fx.rates_per_push_max > 0,
        "configuration: fx.staleness_s, fx.quote_ttl_s and fx.rates_per_push_max must be positive"
    );
    ledger::fees::Schedule::load(config.fees.clone())
        .map_err(|e| anyhow::anyhow!("configuration: fees: {e}"))?;
    config
        .routing
        .check()
        .map_err(|e| anyhow::anyhow!("configuration: routing: {e}"))?;
    config
        .payments
        .check()
        .map_err(|e| anyhow::anyhow!("configuration: payments: {e}"))?;
    anyhow::ensure!(
        config.idempotency_retention_s >= 86_400,
        "configuration: idempotency_retention_s must be at least a day (payments settle over days)"
    );
    Ok(config)
}

impl Config {
    pub fn production(&self) -> bool {
        self.mode == "production"
    }
}

pub fn run(config: Config) -> anyhow::Result<ExitCode> {
    init_logs(&config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(config))?;
    Ok(ExitCode::SUCCESS)
}

pub fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let metrics_addr: SocketAddr = config.metrics_listen.parse().with_context(|| {
        format!(
            "metrics_listen {:?} is not an address",
            config.metrics_listen
        )
    })?;
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(metrics_addr)
        .install()
        .context("starting the metrics listener")?;

    let store = store::Store::open(&config.db, config.store.into())
        .await
        .with_context(|| format!("opening the store {}", redact(&config.db)))?;
    let node_id = if config.node_id.is_empty() {
        format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
    } else {
        config.node_id.clone()
    };
    let kek = crate::kek::load(&config)?;
    let keys = std::sync::Arc::new(
        keyring::GatewayKeys::load_or_create(store.clone(), kek, api::now_ms())
            .await
            .context("the gateway's signing key")?,
    );
    tracing::info!(
        version = keys.current_version(),
        "gateway signing key ready"
    );
    let state = api::AppState {
        store: store.clone(),
        limits: config.http,
        node_id: node_id.clone(),
        allow_private_callbacks: config.allow_private_callbacks,
        keys: keys.clone(),
        signing: config.signing,
        policy: config.stages,
        idempotency_retention_ms: config.idempotency_retention_s.saturating_mul(1000),
        fx: config.fx.clone(),
        fees: std::sync::Arc::new(
            ledger::fees::Schedule::load(config.fees.clone())
                .map_err(|e| anyhow::anyhow!("configuration: fees: {e}"))?,
        ),
        routing: config.routing.clone(),
        payments: config.payments.clone(),
        connectors: api::payments::connectors(
            keys.clone(),
            store.clone(),
            &config.payments.callbacks,
            config.allow_private_callbacks,
        )
        .map_err(|e| anyhow::anyhow!("the callbacks' client: {e}"))?,
        risk: std::sync::Arc::new(api::payments::ApproveAll),
        risk_rules: std::sync::Arc::default(),
    };
    let housekeeping = tokio::spawn(housekeeping(store.clone(), node_id.clone(), config.jobs));
    let key_reload = tokio::spawn(reload_keys(keys));
    state
        .risk_rules
        .refresh(&store)
        .await
        .context("loading the risk rules in force")?;
    let recovery = api::recovery::spawn(state.clone());
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, metrics = %metrics_addr, engine = ?store.engine(), node = %node_id, "unigate serving");
    let grace = Duration::from_millis(config.shutdown_grace_ms);
    axum::serve(listener, api::router(state.clone()))
        .with_graceful_shutdown(shutdown_signal(grace))
        .await
        .context("serving")?;
    housekeeping.abort();
    key_reload.abort();
    recovery.abort();
    api::recovery::release_leases(&state).await;
    // Hand single-node work over at once rather than after the lease's TTL.
    let _ = store.lease_release(HOUSEKEEPING, &node_id).await;
    store.close().await;
    tracing::info!("unigate stopped");
    Ok(())
}

/// The lease of the store's housekeeping.
const HOUSEKEEPING: &str = "housekeeping";

/// Housekeeping runs on exactly one node: whoever holds the lease renews
/// it every third of its TTL and does the work; the others try to take it.
/// The work: forgetting idempotency records past their retention, seen
/// signatures past their window, and long-expired leases; and moving
/// reservations past their expiry to suspense.
async fn housekeeping(store: store::Store, node_id: String, jobs: JobsConfig) {
    let ttl = i64::try_from(jobs.lease_ttl_ms.max(300)).unwrap_or(i64::MAX);
    let tick = Duration::from_millis(jobs.lease_ttl_ms.max(300) / 3);
    let mut holding = false;
    loop {
        let now = api::now_ms();
        let result = if holding {
            store.lease_renew(HOUSEKEEPING, &node_id, ttl, now).await
        } else {
            store.lease_acquire(HOUSEKEEPING, &node_id, ttl, now).await
        };
        match result {
            Ok(held) => {
                if held != holding {
                    tracing::info!(lease = HOUSEKEEPING, node = %node_id, held, "lease changed hands");
                }
                holding = held;
                metrics::gauge!("unigate_lease_held", "lease" => HOUSEKEEPING).set(if held {
                    1.0
                } else {
                    0.0
                });
                if held {
                    let day_ms = 86_400_000;
                    let purged = async {
                        let leases = store.lease_purge(now - day_ms).await?;
                        let records = store.idem_purge(now).await?;
                        let signatures = store.signature_purge(now).await?;
                        let suspended = store.ledger_expire_to_suspense(now, 1_000).await?;
                        if suspended > 0 {
                            tracing::warn!(
                                suspended,
                                "expired reservations moved to suspense for the operator"
                            );
                        }
                        Ok::<_, store::StoreError>((leases, records, signatures))
                    };
                    match purged.await {
                        Ok((leases, records, signatures)) if leases + records + signatures > 0 => {
                            tracing::info!(leases, records, signatures, "housekeeping purged");
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
                    }
                }
            }
            Err(e) => {
                holding = false;
                tracing::warn!(error = %e, "lease check failed");
            }
        }
        tokio::time::sleep(tick).await;
    }
}

/// Every node picks up a gateway key rotated on another within this.
const KEY_RELOAD: Duration = Duration::from_secs(30);

async fn reload_keys(keys: std::sync::Arc<keyring::GatewayKeys>) {
    loop {
        tokio::time::sleep(KEY_RELOAD).await;
        if let Err(e) = keys.reload(api::now_ms()).await {
            tracing::warn!(error = %e, "reloading the gateway keys failed");
        }
    }
}

/// Resolves on SIGINT or SIGTERM; then in-flight requests get `grace` to
/// finish before the process exits regardless.
async fn shutdown_signal(grace: Duration) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!(
        grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
        "shutting down"
    );
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        tracing::warn!("shutdown grace period over; exiting");
        std::process::exit(0);
    });
}

/// A store URL without its password, for logs and errors.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{scheme}://{user}:***@{host}")
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

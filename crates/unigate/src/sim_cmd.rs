//! `unigate sim …`: the built-in participant simulators as processes.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// An FX provider: pushes rates and answers the gateway's fx-quote
    /// callback (register it with its callback base URL http://LISTEN).
    Fx(FxArgs),
    /// A wallet: answers authorize, refund, inquiry, cancel and notify
    /// for its users, with its own books.
    Wallet(ParticipantArgs),
    /// An acquirer: answers merchant-inquiry, pay, inquiry, cancel and
    /// notify for its merchant catalogue, with its own books.
    Acquirer(ParticipantArgs),
}

/// What the wallet and acquirer simulators take.
#[derive(Debug, Args)]
pub struct ParticipantArgs {
    #[command(flatten)]
    pub signer: crate::call_cmd::Signer,
    /// The gateway's base URL (its keys are fetched from GET /v1/keys).
    #[arg(long, env = "UNIGATE_GATEWAY", default_value = "http://127.0.0.1:8080")]
    pub gateway: String,
    /// Where to answer the gateway's callbacks.
    #[arg(long, default_value = "127.0.0.1:9602")]
    pub listen: String,
    /// Its own books: a SQLite URL (created if missing).
    #[arg(long)]
    pub db: Option<String>,
    /// A JSON file: the wallet's users (`[{"id", "name", "country",
    /// "balance": {"value", "currency"}}]`) or the acquirer's merchants
    /// (`[{"merchant_id", "name", "mcc", "city", "country", "currency",
    /// "codes": [...]}]`). Without it, one demo user or merchant.
    #[arg(long)]
    pub catalogue: Option<String>,
    /// Every answer waits this long first.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Share of callbacks declined (F DECLINED), 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    pub decline_rate: f64,
    /// Share answered HTTP 500, doing nothing.
    #[arg(long, default_value_t = 0.0)]
    pub failure_rate: f64,
    /// Share done but answered only after --hang-ms.
    #[arg(long, default_value_t = 0.0)]
    pub timeout_rate: f64,
    #[arg(long, default_value_t = 60_000)]
    pub hang_ms: u64,
    /// Share answered with a spoiled signature.
    #[arg(long, default_value_t = 0.0)]
    pub bad_signature_rate: f64,
    /// The seed of the fault draws (same seed, same faults).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct FxArgs {
    #[command(flatten)]
    pub signer: crate::call_cmd::Signer,
    /// The gateway's base URL.
    #[arg(long, env = "UNIGATE_GATEWAY", default_value = "http://127.0.0.1:8080")]
    pub gateway: String,
    /// Where to answer the gateway's callbacks.
    #[arg(long, default_value = "127.0.0.1:9601")]
    pub listen: String,
    /// A mid rate, BASE/QUOTE=MID (repeat for more pairs).
    #[arg(long = "rate", required = true)]
    pub rates: Vec<String>,
    /// The width of its two-sided rates, in basis points of the mid.
    #[arg(long, default_value_t = 50)]
    pub spread_bps: u32,
    /// How long it takes to answer a quote request.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Decline every n-th quote request (0: never).
    #[arg(long, default_value_t = 0)]
    pub decline_every: u64,
    /// How often it pushes its rates, in seconds.
    #[arg(long, default_value_t = 10)]
    pub push_every_s: u64,
}

pub fn run(command: SimCommand) -> anyhow::Result<ExitCode> {
    crate::serve::init_logs("text");
    let args = match command {
        SimCommand::Fx(args) => args,
        SimCommand::Wallet(args) => return run_participant(args, true),
        SimCommand::Acquirer(args) => return run_participant(args, false),
    };
    let mids = args
        .rates
        .iter()
        .map(|r| sim::fx::FxSim::parse_mid(r))
        .collect::<Result<Vec<_>, _>>()?;
    anyhow::ensure!(args.spread_bps <= 10_000, "--spread-bps is at most 10000");
    let signer = Arc::new(crate::call_cmd::key_signer(&args.signer)?);
    let sim = sim::fx::FxSim {
        gateway: args.gateway,
        signer,
        mids,
        spread_bps: args.spread_bps,
        latency_ms: args.latency_ms,
        decline_every: args.decline_every,
        push_every_ms: args.push_every_s.max(1).saturating_mul(1000),
        quote_slack_s: 30,
        gateway_keys: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        tokio::select! {
            r = sim::fx::run(sim, listener) => r.map_err(anyhow::Error::from),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

fn run_participant(args: ParticipantArgs, wallet: bool) -> anyhow::Result<ExitCode> {
    let faults = sim::peer::Faults {
        latency_ms: args.latency_ms,
        decline_rate: args.decline_rate,
        failure_rate: args.failure_rate,
        timeout_rate: args.timeout_rate,
        hang_ms: args.hang_ms,
        bad_signature_rate: args.bad_signature_rate,
        seed: args.seed,
    };
    faults.validate().map_err(anyhow::Error::msg)?;
    let catalogue = match &args.catalogue {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the catalogue {path}"))?,
        ),
        None => None,
    };
    let role = if wallet {
        sim::participant::Role::Wallet {
            users: match catalogue {
                Some(text) => serde_json::from_str(&text).context("the catalogue's users")?,
                None => vec![sim::participant::SimUser {
                    id: "demo-user".into(),
                    name: "Demo User".into(),
                    country: "MN".into(),
                    balance: money::Money::new(100_000_000, money::Currency::parse("MNT")?),
                }],
            },
        }
    } else {
        sim::participant::Role::Acquirer {
            merchants: match catalogue {
                Some(text) => serde_json::from_str(&text).context("the catalogue's merchants")?,
                None => vec![sim::participant::SimMerchant {
                    merchant_id: "demo-merchant".into(),
                    name: "Demo Merchant".into(),
                    mcc: "5411".into(),
                    city: "Erenhot".into(),
                    country: "CN".into(),
                    currency: money::Currency::parse("CNY")?,
                    codes: Vec::new(),
                }],
            },
        }
    };
    let kind = if wallet { "wallet" } else { "acquirer" };
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| format!("sqlite://unigate-sim-{kind}.db?mode=rwc"));
    let signer = Arc::new(crate::call_cmd::key_signer(&args.signer)?);
    let sim = sim::participant::ParticipantSim {
        signer,
        role,
        faults,
        verifier: sim::peer::Verifier::new(sim::peer::GatewayKeys::Fetch(args.gateway.clone())),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let running = sim::participant::start(sim, listener, &db).await?;
        tracing::info!(addr = %running.addr, kind, books = %db, "simulator answering callbacks");
        tokio::signal::ctrl_c().await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

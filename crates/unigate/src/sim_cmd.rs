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
    let SimCommand::Fx(args) = command;
    crate::serve::init_logs("text");
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

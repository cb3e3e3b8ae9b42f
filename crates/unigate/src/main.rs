//! The `unigate` command line (SPEC §5). Thin: parses arguments and calls
//! the domain crates.

mod call_cmd;
mod demo;
mod kek;
mod loadgen;
mod qr_cmd;
mod report_cmd;
mod serve;
mod settle_cmd;
mod sim_cmd;
mod token_cmd;

// mimalloc: the codec and, later, the gateway allocate many small short-lived
// objects per request; it is markedly faster than the system allocator there
// (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "unigate",
    version,
    about = "Cross-border QR payment unified gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway: the API on --listen, Prometheus metrics on the
    /// configured metrics address, the store at --db.
    Serve {
        /// Configuration file (TOML; see docs/configuration.md).
        #[arg(long)]
        config: Option<String>,
        /// Store URL: sqlite://FILE, sqlite::memory: or postgres://...
        /// (default sqlite://unigate.db).
        #[arg(long)]
        db: Option<String>,
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
        /// Print the effective configuration (as TOML-like JSON) and exit.
        #[arg(long)]
        print_config: bool,
    },
    /// Clearing cycles: list, show, close, export, mark settled.
    Settle {
        #[command(subcommand)]
        command: settle_cmd::SettleCommand,
    },
    /// Statistics and the daily regulatory reports.
    Report {
        #[command(subcommand)]
        command: report_cmd::ReportCommand,
    },
    /// Operator and regulator bearer tokens.
    Token {
        #[command(subcommand)]
        command: token_cmd::TokenCommand,
    },
    /// Run the gateway and simulators on embedded SQLite and print a summary.
    Demo {
        /// Number of payments to run.
        #[arg(long, default_value_t = 200)]
        payments: u32,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// The gateway's SQLite file (replaced; the simulators' books go in
        /// FILE-sims/ beside it).
        #[arg(long, value_name = "FILE")]
        db: Option<std::path::PathBuf>,
        /// Seed of the payment mix and the simulators' faults.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Simulators without latency, declines, failures or timeouts.
        #[arg(long)]
        no_faults: bool,
    },
    /// QR codes: decode, encode, render.
    Qr {
        #[command(subcommand)]
        command: Box<qr_cmd::QrCommand>,
    },
    /// Drive the gateway and its simulators with the standard payment
    /// mix, open or closed loop, and report throughput, latency and cost.
    Loadgen(Box<loadgen::LoadgenArgs>),
    /// Built-in participant simulators.
    Sim {
        #[command(subcommand)]
        command: Box<sim_cmd::SimCommand>,
    },
    /// Make an Ed25519 key pair for a participant to register.
    Keygen(call_cmd::KeygenArgs),
    /// Print the Client-Id, Request-Time and Signature headers for a request.
    Sign(call_cmd::SignArgs),
    /// Send a signed request to the gateway and verify its signed answer
    /// (exit 0: 2xx and verified; 1: not 2xx; 3: the answer does not verify).
    Call(Box<call_cmd::CallArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Qr { command } => qr_cmd::run(*command),
        Command::Serve {
            config,
            db,
            listen,
            print_config,
        } => serve::load(config.as_deref(), db.as_deref(), listen.as_deref()).and_then(|c| {
            if print_config {
                print_json(&c)
            } else {
                serve::run(c)
            }
        }),
        Command::Token { command } => token_cmd::run(command),
        Command::Settle { command } => settle_cmd::run(command),
        Command::Report { command } => report_cmd::run(command),
        Command::Demo {
            payments,
            json,
            db,
            seed,
            no_faults,
        } => demo::run(demo::DemoOptions {
            payments,
            json,
            db,
            seed,
            no_faults,
        }),
        Command::Loadgen(args) => loadgen::run(*args),
        Command::Keygen(args) => call_cmd::keygen(args),
        Command::Sim { command } => sim_cmd::run(*command),
        Command::Sign(args) => call_cmd::sign(args),
        Command::Call(args) => call_cmd::call(*args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln_one_line(&format!("unigate: {e:#}"));
            ExitCode::from(2)
        }
    }
}

/// Errors on the command line are one line.
#[allow(clippy::print_stderr)]
fn eprintln_one_line(message: &str) {
    eprintln!("{}", message.replace('\n', " "));
}

#[allow(clippy::print_stdout)]
fn print_json(config: &serve::Config) -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(config)?);
    Ok(ExitCode::SUCCESS)
}

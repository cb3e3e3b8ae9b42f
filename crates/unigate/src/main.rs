//! The `unigate` command line (SPEC §5). Thin: parses arguments and calls
//! the domain crates.

mod qr_cmd;

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
    /// Run the gateway.
    Serve {
        /// Configuration file.
        #[arg(long)]
        config: Option<String>,
        /// Store URL: sqlite://FILE, sqlite::memory: or postgres://...
        #[arg(long)]
        db: Option<String>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Run the gateway and simulators on embedded SQLite and print a summary.
    Demo {
        /// Number of payments to run.
        #[arg(long, default_value_t = 100)]
        payments: u32,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// QR codes: decode, encode, render.
    Qr {
        #[command(subcommand)]
        command: Box<qr_cmd::QrCommand>,
    },
    /// Drive a running gateway through simulators and report.
    Loadgen,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Qr { command } => qr_cmd::run(*command),
        Command::Serve { .. } => not_built("serve"),
        Command::Demo { .. } => not_built("demo"),
        Command::Loadgen => not_built("loadgen"),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln_one_line(&format!("unigate: {e:#}"));
            ExitCode::from(2)
        }
    }
}

fn not_built(what: &str) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`unigate {what}` is not built yet; see the open issues")
}

/// Errors on the command line are one line.
#[allow(clippy::print_stderr)]
fn eprintln_one_line(message: &str) {
    eprintln!("{}", message.replace('\n', " "));
}

//! `unigate settle list | show | close | export | mark-settled`: clearing
//! cycles on a database URL (the configuration's by default), through the
//! same functions the operator API calls (`api::clearing`). A running
//! gateway answers the same over `/v1/admin/cycles` (docs/clearing.md).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use sha2::Digest;

#[derive(Debug, Subcommand)]
pub enum SettleCommand {
    /// The cycles, newest first.
    List {
        #[arg(long)]
        db: Option<String>,
        #[arg(long)]
        config: Option<String>,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// One cycle: its state, positions and instructions.
    Show {
        /// The clearing date, YYYY-MM-DD.
        date: String,
        #[arg(long)]
        db: Option<String>,
        #[arg(long)]
        config: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Close a cycle (after its grace period; `--early` before it). A
    /// closed cycle is left as it was.
    Close {
        date: String,
        /// Close before the grace period is over (tests, drills).
        #[arg(long)]
        early: bool,
        #[arg(long)]
        db: Option<String>,
        #[arg(long)]
        config: Option<String>,
    },
    /// Write a closed cycle's instructions (CSV and JSON) and every
    /// participant's reconciliation file, with their SHA-256 sums, to a
    /// directory.
    Export {
        date: String,
        /// The directory (created if missing).
        #[arg(long, default_value = ".")]
        out: PathBuf,
        #[arg(long)]
        db: Option<String>,
        #[arg(long)]
        config: Option<String>,
    },
    /// Post a closed cycle's settlement transfers and mark it settled
    /// (once).
    MarkSettled {
        date: String,
        #[arg(long)]
        db: Option<String>,
        #[arg(long)]
        config: Option<String>,
    },
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
pub fn run(command: SettleCommand) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let (db, config) = match &command {
            SettleCommand::List { db, config, .. }
            | SettleCommand::Show { db, config, .. }
            | SettleCommand::Close { db, config, .. }
            | SettleCommand::Export { db, config, .. }
            | SettleCommand::MarkSettled { db, config, .. } => (db.clone(), config.clone()),
        };
        let config = crate::serve::load(config.as_deref(), db.as_deref(), None)?;
        let store = store::Store::open(&config.db, config.store.into())
            .await
            .with_context(|| format!("opening the store {}", crate::serve::redact(&config.db)))?;
        let payments = &config.payments;
        let node = format!("cli-{}", std::process::id());
        let mut out = std::io::stdout().lock();
        match command {
            SettleCommand::List { json, .. } => {
                let cycles = store.cycles_list(store::CYCLE_LIST_MAX).await?;
                if json {
                    let list: Vec<api::clearing::CycleOut> =
                        cycles.into_iter().map(Into::into).collect();
                    writeln!(out, "{}", serde_json::json!({ "cycles": list }))?;
                } else {
                    for c in cycles {
                        writeln!(
                            out,
                            "{}\t{}\tpayments {}\trefunds {}",
                            c.clearing_date, c.state, c.payments, c.refunds
                        )?;
                    }
                }
            }
            SettleCommand::Show { date, json, .. } => {
                let d = api::clearing::detail(&store, payments, &date).await?;
                if json {
                    writeln!(out, "{}", serde_json::to_string(&d)?)?;
                } else {
                    writeln!(
                        out,
                        "cycle {} {} (cut-off {}, grace until {}), {} payments, {} refunds",
                        d.cycle.clearing_date,
                        d.cycle.state,
                        d.cycle.cutoff_at,
                        d.cycle.grace_until,
                        d.cycle.payments,
                        d.cycle.refunds
                    )?;
                    for p in &d.positions {
                        writeln!(
                            out,
                            "  position {:<20} {} debits {:>14} credits {:>14} fees {:>10} net {:>14}",
                            p.party, p.currency, p.gross_debits, p.gross_credits, p.fees, p.net
                        )?;
                    }
                    for i in &d.instructions {
                        writeln!(
                            out,
                            "  pay #{:<3} {:<16} → {:<16} {} {:>14} value {}",
                            i.seq, i.payer, i.payee, i.currency, i.amount, i.value_date
                        )?;
                    }
                }
            }
            SettleCommand::Close { date, early, .. } => {
                match api::clearing::close(&store, payments, &node, &date, early).await? {
                    store::Closed::Now => eprintln!("cycle {date} closed"),
                    store::Closed::Already(state) => {
                        eprintln!("cycle {date} was {state} already: nothing changed")
                    }
                }
            }
            SettleCommand::Export { date, out: dir, .. } => {
                let d = api::clearing::detail(&store, payments, &date).await?;
                anyhow::ensure!(
                    d.cycle.state == "closed" || d.cycle.state == "settled",
                    "cycle {date} is {}: it is exported once closed",
                    d.cycle.state
                );
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let mut sums = String::new();
                let mut write = |name: String, body: &str| -> anyhow::Result<()> {
                    let path = dir.join(&name);
                    std::fs::write(&path, body)
                        .with_context(|| format!("writing {}", path.display()))?;
                    let sha: String = sha2::Sha256::digest(body.as_bytes())
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    sums.push_str(&format!("{sha}  {name}\n"));
                    Ok(())
                };
                let rows = store.cycle_instructions(&date).await?;
                write(
                    format!("instructions-{date}.csv"),
                    &api::clearing::instructions_csv(&rows),
                )?;
                write(
                    format!("instructions-{date}.json"),
                    &serde_json::to_string_pretty(&d.instructions)?,
                )?;
                let mut parties: Vec<String> = d
                    .positions
                    .iter()
                    .map(|p| p.party.clone())
                    .filter(|p| p != ledger::GATEWAY)
                    .collect();
                parties.sort();
                parties.dedup();
                let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                    indicatif::ProgressBar::new(u64::try_from(parties.len()).unwrap_or(0))
                } else {
                    indicatif::ProgressBar::hidden()
                };
                for p in &parties {
                    bar.set_message(p.clone());
                    let (csv, _) = api::clearing::reconciliation(&store, payments, &date, p).await?;
                    write(format!("reconciliation-{date}-{p}.csv"), &csv)?;
                    bar.inc(1);
                }
                bar.finish_and_clear();
                std::fs::write(dir.join("SHA256SUMS"), &sums)?;
                eprintln!(
                    "cycle {date}: {} instructions, {} reconciliation files in {}",
                    rows.len(),
                    parties.len(),
                    dir.display()
                );
            }
            SettleCommand::MarkSettled { date, .. } => {
                let n = api::clearing::settle(&store, &date).await?;
                eprintln!("cycle {date} settled: {n} settlement transfers posted");
            }
        }
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

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

/// Where the cycles are: a database URL (`--db`, or the configuration's),
/// or a running gateway (`--url` with an operator token).
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Store URL (default: the configuration's).
    #[arg(long)]
    pub(crate) db: Option<String>,
    /// Configuration file (for the store URL and `[payments]`).
    #[arg(long)]
    pub(crate) config: Option<String>,
    /// A running gateway's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long, conflicts_with_all = ["db", "config"])]
    pub(crate) url: Option<String>,
    /// A bearer token for `--url` (the operator's; for `unigate report`,
    /// the regulator's will do).
    #[arg(long, env = "UNIGATE_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SettleCommand {
    /// The cycles, newest first.
    List {
        #[command(flatten)]
        target: Target,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// One cycle: its state, positions and instructions.
    Show {
        /// The clearing date, YYYY-MM-DD.
        date: String,
        #[command(flatten)]
        target: Target,
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
        #[command(flatten)]
        target: Target,
    },
    /// Write a closed cycle's instructions (CSV and JSON) and every
    /// participant's reconciliation file, with their SHA-256 sums, to a
    /// directory.
    Export {
        date: String,
        /// The directory (created if missing).
        #[arg(long, default_value = ".")]
        out: PathBuf,
        #[command(flatten)]
        target: Target,
    },
    /// Post a closed cycle's settlement transfers and mark it settled
    /// (once).
    MarkSettled {
        date: String,
        #[command(flatten)]
        target: Target,
    },
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
pub fn run(command: SettleCommand) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let target = match &command {
            SettleCommand::List { target, .. }
            | SettleCommand::Show { target, .. }
            | SettleCommand::Close { target, .. }
            | SettleCommand::Export { target, .. }
            | SettleCommand::MarkSettled { target, .. } => target.clone(),
        };
        if let Some(url) = &target.url {
            let token = target
                .token
                .clone()
                .context("--url needs an operator token (--token or UNIGATE_TOKEN)")?;
            return remote(url, &token, command).await;
        }
        let config = crate::serve::load(target.config.as_deref(), target.db.as_deref(), None)?;
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
                let report = api::reports::make_daily(
                    &store,
                    payments,
                    &config.fx.reporting_currency,
                    &node,
                    &date,
                )
                .await
                .map_err(|e| anyhow::anyhow!("the daily report of {date}: {} {}", e.code, e.detail))?;
                eprintln!(
                    "daily report of {date}: JSON sha256 {}, CSV sha256 {}",
                    report.json_sha256, report.csv_sha256
                );
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
                    &serde_json::to_string(&d.instructions)?,
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

/// A GET or POST on the operator API: the body, or the problem's detail.
pub(crate) async fn op(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<String> {
    let mut req = http
        .request(
            method.clone(),
            format!("{}{path}", url.trim_end_matches('/')),
        )
        .bearer_auth(token);
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    let answer = req
        .send()
        .await
        .with_context(|| format!("{method} {path}"))?;
    let status = answer.status();
    let text = answer.text().await?;
    if !status.is_success() {
        let detail = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_string))
            .unwrap_or(text);
        anyhow::bail!("{method} {path}: {status}: {detail}");
    }
    Ok(text)
}

/// The same commands against a running gateway's operator API.
#[allow(clippy::print_stdout, clippy::print_stderr)]
async fn remote(url: &str, token: &str, command: SettleCommand) -> anyhow::Result<ExitCode> {
    use reqwest::Method;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()?;
    let get = |path: String| {
        let http = http.clone();
        async move { op(&http, url, token, Method::GET, &path, None).await }
    };
    match command {
        SettleCommand::List { .. } => println!("{}", get("/v1/admin/cycles".into()).await?),
        SettleCommand::Show { date, .. } => {
            println!("{}", get(format!("/v1/admin/cycles/{date}")).await?)
        }
        SettleCommand::Close { date, early, .. } => {
            let text = op(
                &http,
                url,
                token,
                Method::POST,
                &format!("/v1/admin/cycles/{date}/close"),
                Some(serde_json::json!({ "early": early })),
            )
            .await?;
            let v: serde_json::Value = serde_json::from_str(&text)?;
            match v.pointer("/outcome").and_then(|o| o.as_str()) {
                Some("closed") => eprintln!("cycle {date} closed"),
                _ => eprintln!("cycle {date} was closed already: nothing changed"),
            }
        }
        SettleCommand::MarkSettled { date, .. } => {
            op(
                &http,
                url,
                token,
                Method::POST,
                &format!("/v1/admin/cycles/{date}/settle"),
                None,
            )
            .await?;
            eprintln!("cycle {date} settled");
        }
        SettleCommand::Export { date, out: dir, .. } => {
            let detail: serde_json::Value =
                serde_json::from_str(&get(format!("/v1/admin/cycles/{date}")).await?)?;
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut files: Vec<(String, String)> = vec![
                (
                    format!("instructions-{date}.csv"),
                    get(format!("/v1/admin/cycles/{date}/instructions?format=csv")).await?,
                ),
                (
                    format!("instructions-{date}.json"),
                    get(format!("/v1/admin/cycles/{date}/instructions?format=json")).await?,
                ),
            ];
            let mut parties: Vec<String> = detail
                .pointer("/positions")
                .and_then(|p| p.as_array())
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("party").and_then(|x| x.as_str()))
                .filter(|p| *p != ledger::GATEWAY)
                .map(str::to_string)
                .collect();
            parties.sort();
            parties.dedup();
            let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                indicatif::ProgressBar::new(u64::try_from(parties.len()).unwrap_or(0))
            } else {
                indicatif::ProgressBar::hidden()
            };
            for p in &parties {
                files.push((
                    format!("reconciliation-{date}-{p}.csv"),
                    get(format!("/v1/admin/cycles/{date}/reconciliation/{p}")).await?,
                ));
                bar.inc(1);
            }
            bar.finish_and_clear();
            let mut sums = String::new();
            for (name, body) in &files {
                std::fs::write(dir.join(name), body)?;
                let sha: String = sha2::Sha256::digest(body.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                sums.push_str(&format!("{sha}  {name}\n"));
            }
            std::fs::write(dir.join("SHA256SUMS"), sums)?;
            eprintln!(
                "cycle {date}: {} reconciliation files in {}",
                parties.len(),
                dir.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

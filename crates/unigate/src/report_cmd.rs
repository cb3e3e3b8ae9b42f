//! `unigate report stats | daily`: the regulator's and the operator's view
//! (docs/reports.md), from a database URL through the same functions the
//! API calls (`api::reports`), or from a running gateway's `/v1/reports`
//! with a regulator or operator token. Human tables, or `--json`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use api::reports::{DailyReport, ReportList, StatsOut, StatsQuery};
use clap::Subcommand;

use crate::settle_cmd::{Target, op};

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Payment statistics over a window, grouped by any dimensions.
    Stats {
        /// Start (RFC 3339, inclusive; default a day before --to).
        #[arg(long)]
        from: Option<String>,
        /// End (RFC 3339, exclusive; default now).
        #[arg(long)]
        to: Option<String>,
        /// Comma-separated: direction, corridor, wallet, acquirer,
        /// participant, currency, mode, status, mcc, payer_residency,
        /// merchant_residency, purpose, day.
        #[arg(long)]
        group_by: Option<String>,
        /// The time zone of `day` (default the clearing time zone).
        #[arg(long)]
        time_zone: Option<String>,
        #[arg(long)]
        clearing_date: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        participant: Option<String>,
        #[arg(long)]
        direction: Option<String>,
        #[arg(long)]
        mode: Option<String>,
        /// Groups to show (every page is read up to this many).
        #[arg(long, default_value_t = 1_000)]
        limit: usize,
        #[command(flatten)]
        target: Target,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The daily regulatory reports: the list, or one date's.
    Daily {
        /// A clearing date (YYYY-MM-DD); without it, the list.
        date: Option<String>,
        /// Print the report's CSV.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        #[command(flatten)]
        target: Target,
        /// The report's JSON.
        #[arg(long)]
        json: bool,
    },
}

fn query_string(q: &StatsQuery) -> String {
    let mut parts = Vec::new();
    let mut add = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            parts.push(format!("{k}={}", urlencode(v)));
        }
    };
    add("from", &q.from);
    add("to", &q.to);
    add("group_by", &q.group_by);
    add("time_zone", &q.time_zone);
    add("clearing_date", &q.clearing_date);
    add("status", &q.status);
    add("participant", &q.participant);
    add("direction", &q.direction);
    add("mode", &q.mode);
    add("cursor", &q.cursor);
    if let Some(l) = q.limit {
        parts.push(format!("limit={l}"));
    }
    parts.join("&")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn major(minor: i64, currency: &str) -> String {
    match money::Currency::parse(currency) {
        Ok(c) => money::Money::new(minor, c).to_string(),
        Err(_) => format!("{minor} {currency}"),
    }
}

/// The groups as a table: the dimensions, the count, the reporting amount
/// and the amounts per original currency.
fn table(out: &mut impl Write, s: &StatsOut) -> anyhow::Result<()> {
    writeln!(
        out,
        "payments made {} to {} (days in {}), amounts in {} as booked",
        s.from, s.to, s.time_zone, s.reporting_currency
    )?;
    let mut header: Vec<String> = s.group_by.clone();
    header.extend([
        "count".into(),
        "reporting".into(),
        "original amounts".into(),
    ]);
    let rows: Vec<Vec<String>> = s
        .groups
        .iter()
        .map(|g| {
            let mut r: Vec<String> = s
                .group_by
                .iter()
                .map(|d| g.key.get(d).cloned().unwrap_or_default())
                .collect();
            r.push(g.count.to_string());
            r.push(major(g.reporting_minor, &s.reporting_currency));
            r.push(
                g.amounts
                    .iter()
                    .map(|a| major(a.minor, &a.currency))
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            r
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .chain([header.get(i).map_or(0, |h| h.len())])
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    if s.groups.is_empty() {
        writeln!(out, "(no payments)")?;
    }
    Ok(())
}

fn daily_table(out: &mut impl Write, r: &DailyReport) -> anyhow::Result<()> {
    writeln!(
        out,
        "daily report {} (cycle {}, closed {}), reporting currency {}",
        r.clearing_date,
        r.cycle_state,
        r.closed_at.as_deref().unwrap_or("-"),
        r.reporting_currency
    )?;
    for (section, groups) in r.sections() {
        let title = match section {
            "status" => "every payment of the date, by status",
            "direction_corridor" => "went through, by direction / corridor",
            "participant" => "went through, per participant (as wallet or acquirer)",
            _ => "balance of payments: purpose / payer residency / merchant residency",
        };
        writeln!(out, "{title}")?;
        for g in groups {
            writeln!(
                out,
                "  {:<40} {:>8}  {:>18}",
                api::reports::key_of(g, section),
                g.count,
                major(g.reporting_minor, &r.reporting_currency)
            )?;
        }
    }
    writeln!(out, "refunds")?;
    for f in &r.refunds {
        writeln!(
            out,
            "  {:<40} {:>8}  {:>18}",
            f.state,
            f.count,
            major(f.minor, &f.currency)
        )?;
    }
    writeln!(
        out,
        "cancelled {}, exceptions {}",
        r.cancelled, r.exceptions
    )?;
    for (moment, n) in &r.risk_declines {
        writeln!(out, "risk declines at {moment}: {n}")?;
    }
    writeln!(out, "largest")?;
    for p in &r.largest {
        writeln!(
            out,
            "  {:<40} {:<9} {} → {}  {}",
            p.payment_id,
            p.direction,
            p.wallet,
            p.acquirer,
            major(p.minor, &p.currency)
        )?;
    }
    writeln!(out, "settlement")?;
    for p in &r.settlement {
        writeln!(
            out,
            "  {:<24} {} net {:>14} instructed {:>14}",
            p.party, p.currency, p.net, p.instructed
        )?;
    }
    let t = &r.tie_out;
    writeln!(
        out,
        "ties out: payments {}, refunds {}, nets sum to zero {}, instructions settle positions {}",
        t.payments_match_cycle,
        t.refunds_match_cycle,
        t.nets_sum_to_zero,
        t.instructions_settle_positions
    )?;
    Ok(())
}

#[allow(clippy::print_stdout)]
pub fn run(command: ReportCommand) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let target = match &command {
            ReportCommand::Stats { target, .. } | ReportCommand::Daily { target, .. } => {
                target.clone()
            }
        };
        let mut out = std::io::stdout().lock();
        match command {
            ReportCommand::Stats {
                from,
                to,
                group_by,
                time_zone,
                clearing_date,
                status,
                participant,
                direction,
                mode,
                limit,
                json,
                ..
            } => {
                let mut q = StatsQuery {
                    from,
                    to,
                    group_by,
                    time_zone,
                    clearing_date,
                    status,
                    participant,
                    direction,
                    mode,
                    limit: Some(limit.clamp(1, api::reports::STATS_PAGE_MAX)),
                    cursor: None,
                };
                // Every page, up to `limit` groups.
                let mut all: Option<StatsOut> = None;
                loop {
                    let page = stats(&target, &q).await?;
                    let next = page.next_cursor.clone();
                    match &mut all {
                        None => all = Some(page),
                        Some(a) => a.groups.extend(page.groups),
                    }
                    let have = all.as_ref().map_or(0, |a| a.groups.len());
                    match next {
                        Some(c) if have < limit => q.cursor = Some(c),
                        _ => break,
                    }
                }
                let mut s = all.context("no answer")?;
                s.groups.truncate(limit);
                if json {
                    writeln!(out, "{}", serde_json::to_string(&s)?)?;
                } else {
                    table(&mut out, &s)?;
                }
            }
            ReportCommand::Daily {
                date: None, json, ..
            } => {
                let list: ReportList = match &target.url {
                    Some(url) => serde_json::from_str(
                        &op(&client()?, url, &token(&target)?, reqwest::Method::GET, "/v1/reports/daily", None)
                            .await?,
                    )?,
                    None => {
                        let (store, _) = local(&target).await?;
                        let rows = store.reports_list(store::REPORT_LIST_MAX).await?;
                        ReportList {
                            reports: rows
                                .into_iter()
                                .map(api::reports::ReportEntryOut::from)
                                .collect(),
                        }
                    }
                };
                if json {
                    writeln!(out, "{}", serde_json::to_string(&list)?)?;
                } else {
                    for r in &list.reports {
                        writeln!(
                            out,
                            "{}  made {}  json sha256 {}  csv sha256 {}",
                            r.clearing_date, r.created_at, r.json_sha256, r.csv_sha256
                        )?;
                    }
                    if list.reports.is_empty() {
                        writeln!(out, "(no reports: one is made when a cycle closes)")?;
                    }
                }
            }
            ReportCommand::Daily {
                date: Some(date),
                csv,
                json,
                ..
            } => {
                let (body_json, body_csv) = match &target.url {
                    Some(url) => {
                        let http = client()?;
                        let t = token(&target)?;
                        let get = |path: String| {
                            let (http, t) = (http.clone(), t.clone());
                            async move {
                                op(&http, url, &t, reqwest::Method::GET, &path, None).await
                            }
                        };
                        (
                            get(format!("/v1/reports/daily/{date}")).await?,
                            get(format!("/v1/reports/daily/{date}/csv")).await?,
                        )
                    }
                    None => {
                        let (store, _) = local(&target).await?;
                        let r = store
                            .report_get(&date)
                            .await?
                            .with_context(|| format!("no report of {date}: one is made when its cycle closes"))?;
                        (r.json, r.csv)
                    }
                };
                if csv {
                    write!(out, "{body_csv}")?;
                } else if json {
                    writeln!(out, "{body_json}")?;
                } else {
                    let r: DailyReport = serde_json::from_str(&body_json)?;
                    daily_table(&mut out, &r)?;
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()?)
}

fn token(target: &Target) -> anyhow::Result<String> {
    target
        .token
        .clone()
        .context("--url needs a regulator or operator token (--token or UNIGATE_TOKEN)")
}

async fn local(target: &Target) -> anyhow::Result<(store::Store, crate::serve::Config)> {
    let config = crate::serve::load(target.config.as_deref(), target.db.as_deref(), None)?;
    let store = store::Store::open(&config.db, config.store.into())
        .await
        .with_context(|| format!("opening the store {}", crate::serve::redact(&config.db)))?;
    Ok((store, config))
}

async fn stats(target: &Target, q: &StatsQuery) -> anyhow::Result<StatsOut> {
    match &target.url {
        Some(url) => {
            let path = format!("/v1/reports/stats?{}", query_string(q));
            Ok(serde_json::from_str(
                &op(
                    &client()?,
                    url,
                    &token(target)?,
                    reqwest::Method::GET,
                    &path,
                    None,
                )
                .await?,
            )?)
        }
        None => {
            let (store, config) = local(target).await?;
            let s = api::reports::stats(
                &store,
                &config.payments.time_zone,
                &config.fx.reporting_currency,
                q,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{} {}", e.code, e.detail))?;
            store.close().await;
            Ok(s)
        }
    }
}

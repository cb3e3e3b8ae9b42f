//! `unigate loadgen`: the whole payment path under load (docs/loadgen.md).
//!
//! Starts the gateway and its simulated participants on SQLite (the
//! demo's world, without faults unless asked), optionally preloads the
//! store, then drives the standard mix — half MPM (consult, quote, pay),
//! half CPM, a tenth refunded, one in twenty-five cancelled — with every
//! request signed and every answer's signature verified:
//! - open loop (`--rate`): payment n is due at start + n / rate, and its
//!   latency counts from then, so a slow gateway cannot hide its queue
//!   (no coordinated omission);
//! - closed loop (default): `--concurrency` payments in flight, as fast
//!   as they complete.
//!
//! The report: achieved payments/s, latency percentiles (HDR histogram),
//! answers by code, the process's CPU seconds and RSS from /proc, and with
//! `--ceiling` a trivial endpoint of the same server driven the same way.
//! The gateway, simulators and generator share this one process, so the
//! CPU is the whole system's.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::demo::{Attempt, World, one_payment, remote_world, start_world};

/// Default SQLite file of the load generator's gateway.
pub const LOADGEN_DB: &str = "unigate-loadgen.db";
/// Most payments one run drives, and most preloaded.
pub const LOADGEN_PAYMENTS_MAX: u32 = 10_000_000;
pub const LOADGEN_PRELOAD_MAX: u64 = 100_000_000;
/// Most payments in flight (closed loop; the open loop's queue bound).
pub const LOADGEN_CONCURRENCY_MAX: usize = 10_000;
/// Payments run before the measured window (connections, caches).
const WARM_UP: u32 = 50;
/// Linux's clock ticks per second for /proc times (USER_HZ).
const TICKS_PER_S: f64 = 100.0;

#[derive(Debug, Clone, clap::Args)]
pub struct LoadgenArgs {
    /// Payments to drive (after a warm-up of 50).
    #[arg(long, default_value_t = 2_000)]
    payments: u32,
    /// Offered rate, payments per second (open loop). Without it: closed
    /// loop at --concurrency.
    #[arg(long)]
    rate: Option<f64>,
    /// Payments in flight (closed loop), or the most queued (open loop).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Payments written into the store before the run (growth).
    #[arg(long, default_value_t = 0)]
    preload: u64,
    /// Also drive GET /healthz of the same server the same way: the
    /// HTTP ceiling of this machine, measured in the same run.
    #[arg(long)]
    ceiling: bool,
    /// Also measure the floor (implies --ceiling): the signings,
    /// verifications and HTTP hops one payment must have, each timed on its
    /// own in this run, to state CPU per payment as a multiple of them.
    #[arg(long)]
    floor: bool,
    /// After the run, an overload drill: as many payments again, offered
    /// open loop at twice the rate just achieved with no bound on the
    /// generator's side, so the gateway must shed (503 with Retry-After,
    /// beyond `--in-flight-max`); every payment must get an answer and the
    /// books must balance.
    #[arg(long)]
    overload: bool,
    /// Requests of the ceiling's run.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    ceiling_requests: u32,
    /// The gateway's `http.in_flight_max` (overload drills: what it sheds
    /// is answered 503 OVERLOADED, counted under `answers`).
    #[arg(long)]
    in_flight_max: Option<usize>,
    /// Let the simulators inject latency, declines, failures and timeouts.
    #[arg(long)]
    faults: bool,
    /// The gateway's SQLite file (default unigate-loadgen.db, replaced).
    #[arg(long, conflicts_with = "url")]
    db: Option<PathBuf>,
    /// Drive a gateway running elsewhere (e.g. http://127.0.0.1:8080): the
    /// simulators start here and are onboarded there through the operator
    /// API. It must accept loopback callbacks (`allow_private_callbacks`)
    /// and hold none of the simulators' participants yet.
    #[arg(long)]
    url: Option<String>,
    /// An operator token of that gateway.
    #[arg(long, env = "UNIGATE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// That gateway's process id: its own CPU and RSS are read from
    /// /proc/PID.
    #[arg(long, requires = "url")]
    gateway_pid: Option<u32>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// One JSON object.
    #[arg(long)]
    json: bool,
}

/// A process's CPU seconds (user + system) and resident set (bytes), from
/// /proc (`self` or a pid).
fn proc_usage(pid: &str) -> (f64, u64) {
    let cpu = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // The fields after the command name (which may hold spaces).
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / TICKS_PER_S)
        })
        .unwrap_or(0.0);
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(0);
    (cpu, rss)
}

fn bar(len: u64, what: &str, hidden: bool) -> indicatif::ProgressBar {
    let b = if hidden || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(len)
    };
    b.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} {what} {{bar:40}} {{pos}}/{{len}} {{per_sec}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    b
}

/// What one payment came to: its latency and its answer's code.
fn outcome(attempt: &anyhow::Result<Attempt>) -> String {
    match attempt {
        Ok(a) if a.answer.0 == "S" => "S".into(),
        Ok(a) => format!("{} {}", a.answer.0, a.answer.1),
        Err(e) => {
            // `who METHOD path: HTTP status {problem}`: the call and the
            // problem's code, not the participant.
            let text = e.to_string();
            let call = text
                .split_once(' ')
                .map_or(text.as_str(), |(_, rest)| rest)
                .split(" {")
                .next()
                .unwrap_or("")
                .to_string();
            let code = text
                .split_once("\"code\":\"")
                .and_then(|(_, rest)| rest.split('"').next())
                .unwrap_or("");
            // A payment's own id in the path is not part of the code.
            let call: Vec<&str> = call
                .split('/')
                .map(|seg| if seg.len() > 24 { "{id}" } else { seg })
                .collect();
            format!(
                "error: {} {code}",
                call.join("/").chars().take(80).collect::<String>()
            )
            .trim_end()
            .to_string()
        }
    }
}

fn percentiles(h: &Histogram<u64>) -> Value {
    let ms = |us: u64| (us as f64) / 1000.0;
    json!({
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p99_9": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
    })
}

pub fn run(args: LoadgenArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (1..=LOADGEN_PAYMENTS_MAX).contains(&args.payments),
        "--payments is 1 to {LOADGEN_PAYMENTS_MAX}"
    );
    anyhow::ensure!(
        (1..=LOADGEN_CONCURRENCY_MAX).contains(&args.concurrency),
        "--concurrency is 1 to {LOADGEN_CONCURRENCY_MAX}"
    );
    anyhow::ensure!(
        args.preload <= LOADGEN_PRELOAD_MAX,
        "--preload is at most {LOADGEN_PRELOAD_MAX}"
    );
    if let Some(rate) = args.rate {
        anyhow::ensure!(
            rate.is_finite() && rate > 0.0 && rate <= 1_000_000.0,
            "--rate is above 0 and at most 1000000 payments/s"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(loadgen(args))
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
async fn loadgen(args: LoadgenArgs) -> anyhow::Result<ExitCode> {
    let db = args.db.clone().unwrap_or_else(|| PathBuf::from(LOADGEN_DB));
    let limits = api::HttpLimits {
        in_flight_max: args
            .in_flight_max
            .unwrap_or(api::HttpLimits::default().in_flight_max),
        ..api::HttpLimits::default()
    };
    let world = match &args.url {
        Some(url) => {
            anyhow::ensure!(
                args.preload == 0,
                "--preload writes into the gateway's store: not with --url"
            );
            anyhow::ensure!(
                args.in_flight_max.is_none(),
                "--in-flight-max is the remote gateway's own setting ([http] in_flight_max)"
            );
            let token = args
                .token
                .clone()
                .context("--url needs an operator token (--token or UNIGATE_TOKEN)")?;
            let sims =
                std::env::temp_dir().join(format!("unigate-loadgen-sims-{}", std::process::id()));
            remote_world(url, &token, &sims, args.seed, !args.faults).await?
        }
        None => start_world(&db, args.seed, !args.faults, limits).await?,
    };
    if let (Some(store), true) = (&world.store, args.preload > 0) {
        let b = bar(args.preload, "preloading payments", args.json);
        let t = Instant::now();
        store
            .preload_payments(
                &store::Preload {
                    payments: args.preload,
                    prefix: "preload-".into(),
                    // The 30 days before now.
                    start_ms: api::now_ms() - 30 * 86_400_000,
                    span_ms: 30 * 86_400_000,
                    batch: 10_000,
                },
                |n| b.set_position(n),
            )
            .await?;
        b.finish_and_clear();
        store.analyze().await?;
        if !args.json {
            eprintln!(
                "preloaded {} payments in {:.1} s",
                args.preload,
                t.elapsed().as_secs_f64()
            );
        }
    }
    let result = drive(&world, &args).await;
    world.stop().await;
    let report = result?;
    if args.json {
        println!("{report}");
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

async fn drive(world: &World, args: &LoadgenArgs) -> anyhow::Result<Value> {
    let (net, codes, seed) = (&world.net, &world.codes, args.seed);
    // Warm-up, not measured.
    futures_util::stream::iter(0..WARM_UP)
        .map(|n| one_payment(net, codes, seed, u64::from(n) + 1_000_000_000))
        .buffer_unordered(args.concurrency.min(16))
        .for_each(|_| async {})
        .await;

    let progress = bar(u64::from(args.payments), "payments", args.json);
    let hops_before = net.hops();
    let (cpu_before, _) = proc_usage("self");
    let gateway_pid = args.gateway_pid.map(|p| p.to_string());
    let gateway_before = gateway_pid.as_deref().map(proc_usage);
    let started = Instant::now();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut answers: BTreeMap<String, u64> = BTreeMap::new();
    let mut record = |due: Instant, attempt: anyhow::Result<Attempt>| {
        let us = u64::try_from(due.elapsed().as_micros()).unwrap_or(u64::MAX);
        let _ = latency.record(us.max(1));
        *answers.entry(outcome(&attempt)).or_insert(0) += 1;
        progress.inc(1);
    };
    match args.rate {
        Some(rate) => {
            open_loop(
                world,
                args,
                0,
                args.payments,
                rate,
                args.concurrency,
                &mut record,
            )
            .await;
        }
        None => {
            let mut done = futures_util::stream::iter(0..args.payments)
                .map(|n| async move {
                    let start = Instant::now();
                    (start, one_payment(net, codes, seed, u64::from(n)).await)
                })
                .buffer_unordered(args.concurrency);
            while let Some((start, a)) = done.next().await {
                record(start, a);
            }
        }
    }
    let elapsed = started.elapsed();
    let hops_after = net.hops();
    progress.finish_and_clear();
    let (cpu_after, rss) = proc_usage("self");
    let gateway = gateway_pid
        .as_deref()
        .map(proc_usage)
        .zip(gateway_before)
        .map(|((after, rss), (before, _))| (after - before, rss));
    let cpu = cpu_after - cpu_before;
    let payments = f64::from(args.payments);

    let balanced = drain_and_balance(world).await?;

    let ceiling = if args.ceiling || args.floor {
        let (self_before, _) = proc_usage("self");
        let gateway_before = gateway_pid.as_deref().map(|p| proc_usage(p).0);
        let http = &world.net.http;
        let url = format!("{}/healthz", world.net.url);
        let t = Instant::now();
        let mut h = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
        let mut failed = 0u64;
        let mut done = futures_util::stream::iter(0..args.ceiling_requests)
            .map(|_| {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let start = Instant::now();
                    let ok = http
                        .get(&url)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    (start, ok)
                }
            })
            .buffer_unordered(args.concurrency);
        while let Some((start, ok)) = done.next().await {
            let _ = h.record(
                u64::try_from(start.elapsed().as_micros())
                    .unwrap_or(1)
                    .max(1),
            );
            failed += u64::from(!ok);
        }
        let secs = t.elapsed().as_secs_f64();
        let requests = f64::from(args.ceiling_requests);
        let self_cpu = proc_usage("self").0 - self_before;
        let gateway_cpu = gateway_pid
            .as_deref()
            .map(|p| proc_usage(p).0)
            .zip(gateway_before)
            .map(|(after, before)| after - before);
        Some(json!({
            "endpoint": "GET /healthz",
            "requests": args.ceiling_requests,
            "failed": failed,
            "per_second": requests / secs,
            "latency_ms": percentiles(&h),
            // Both ends of each request (generator and server), and the
            // server's alone when it runs elsewhere.
            "cpu_us_per_request": (self_cpu + gateway_cpu.unwrap_or(0.0)) * 1e6 / requests,
            "gateway_cpu_us_per_request": gateway_cpu.map(|c| c * 1e6 / requests),
        }))
    } else {
        None
    };

    let per_second = payments / elapsed.as_secs_f64();
    let mut report = json!({
        "mode": if args.rate.is_some() { "open_loop" } else { "closed_loop" },
        "offered_per_second": args.rate,
        "concurrency": args.concurrency,
        "payments": args.payments,
        "preloaded": args.preload,
        "faults": args.faults,
        "in_flight_max": args.in_flight_max,
        "elapsed_s": elapsed.as_secs_f64(),
        "payments_per_second": per_second,
        "latency_ms": percentiles(&latency),
        "answers": answers,
        "gateway": args.url.clone().unwrap_or_else(|| "in this process".into()),
        "gateway_process": gateway.map(|(cpu, rss)| json!({
            "pid": args.gateway_pid,
            "cpu_s": cpu,
            "cpu_us_per_payment": cpu * 1e6 / payments,
            "cores_busy": cpu / elapsed.as_secs_f64(),
            "rss_mb": (rss as f64) / 1_048_576.0,
        })),
        "process": {
            "note": if args.url.is_some() {
                "the simulators and the generator (the gateway runs elsewhere)"
            } else {
                "gateway, simulators and generator share this process"
            },
            "cpu_s": cpu,
            "cpu_us_per_payment": cpu * 1e6 / payments,
            "cores_busy": cpu / elapsed.as_secs_f64(),
            "rss_mb": (rss as f64) / 1_048_576.0,
        },
        "ledger_balanced": balanced,
    });
    if args.overload {
        let drill = overload_drill(world, args, per_second).await?;
        if let Some(o) = report.as_object_mut() {
            o.insert("overload".into(), drill);
        }
    }
    if args.floor {
        let hops = (
            (hops_after.0 - hops_before.0) as f64 / payments,
            (hops_after.1 - hops_before.1) as f64 / payments,
        );
        let floor = floor(&report, ceiling.as_ref(), hops).await?;
        if let Some(o) = report.as_object_mut() {
            o.insert("floor".into(), floor);
        }
    }
    if let (Some(c), Some(o)) = (ceiling, report.as_object_mut()) {
        let ceiling_rate = c.get("per_second").and_then(Value::as_f64).unwrap_or(0.0);
        o.insert("ceiling".into(), c);
        if ceiling_rate > 0.0 {
            o.insert(
                "payments_per_ceiling_request".into(),
                json!(per_second / ceiling_rate),
            );
        }
    }
    Ok(report)
}

/// Whatever is still open (refunds, notifications) finishes; then the
/// trial balance's verdict.
async fn drain_and_balance(world: &World) -> anyhow::Result<Value> {
    let drained_by = Instant::now() + Duration::from_secs(60);
    if let Some(store) = &world.store {
        while store.audit_open_work().await? > 0 && Instant::now() < drained_by {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    } else {
        // A remote gateway's resolver and notifier: give them a moment.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let tb = world
        .net
        .op("GET", "/v1/admin/ledger/trial-balance", Value::Null)
        .await?;
    Ok(tb.pointer("/balanced").cloned().unwrap_or(Value::Null))
}

/// The overload drill: `--payments` more payments offered at twice the
/// `sustainable` rate, open loop, every one started at its due time
/// (the generator does not hold any back). What the gateway sheds it
/// answers at once with 503 OVERLOADED; everything else it answers as
/// usual; nothing is left without an answer and the books balance.
async fn overload_drill(
    world: &World,
    args: &LoadgenArgs,
    sustainable: f64,
) -> anyhow::Result<Value> {
    let offered = (sustainable * 2.0).max(1.0);
    let progress = bar(u64::from(args.payments), "overload drill", args.json);
    let mut accepted = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut answers: BTreeMap<String, u64> = BTreeMap::new();
    let started = Instant::now();
    let mut record = |due: Instant, attempt: anyhow::Result<Attempt>| {
        let answer = outcome(&attempt);
        if !answer.ends_with(" OVERLOADED") {
            let us = u64::try_from(due.elapsed().as_micros()).unwrap_or(u64::MAX);
            let _ = accepted.record(us.max(1));
        }
        *answers.entry(answer).or_insert(0) += 1;
        progress.inc(1);
    };
    let queue = usize::try_from(args.payments).unwrap_or(LOADGEN_CONCURRENCY_MAX);
    open_loop(
        world,
        args,
        3_000_000_000,
        args.payments,
        offered,
        queue,
        &mut record,
    )
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    progress.finish_and_clear();
    let shed: u64 = answers
        .iter()
        .filter(|(k, _)| k.ends_with(" OVERLOADED"))
        .map(|(_, v)| *v)
        .sum();
    // Every payment answered: made, declined or unknown by the usual
    // codes, or shed; no transport error, no time-out, no 5xx but the shed.
    let unanswered: u64 = answers
        .iter()
        .filter(|(k, _)| k.starts_with("error:") && !k.ends_with(" OVERLOADED"))
        .map(|(_, v)| *v)
        .sum();
    let balanced = drain_and_balance(world).await?;
    Ok(json!({
        "offered_per_second": offered,
        "payments": args.payments,
        "elapsed_s": elapsed,
        "answers": answers,
        "shed": shed,
        "not_answered": unanswered,
        "accepted_latency_ms": percentiles(&accepted),
        "ledger_balanced": balanced,
    }))
}

/// The open loop: payment n (numbered from `first`) is due at start + n /
/// rate and starts then, whatever the ones before it are doing; its latency
/// counts from its due time. At most `queue` are in flight; beyond that the
/// due times pass while they wait, and the latency shows it.
async fn open_loop(
    world: &World,
    args: &LoadgenArgs,
    first: u64,
    payments: u32,
    rate: f64,
    queue: usize,
    record: &mut dyn FnMut(Instant, anyhow::Result<Attempt>),
) {
    let (net, codes, seed) = (&world.net, &world.codes, args.seed);
    let started = Instant::now();
    let per = Duration::from_secs_f64(1.0 / rate);
    let mut running = futures_util::stream::FuturesUnordered::new();
    for n in 0..payments {
        let due = started + per.saturating_mul(n);
        loop {
            let wait = tokio::time::sleep_until(due.into());
            tokio::pin!(wait);
            if running.len() >= queue {
                if let Some((due, a)) = running.next().await {
                    record(due, a);
                }
                continue;
            }
            tokio::select! {
                () = &mut wait => break,
                Some((due, a)) = running.next(), if !running.is_empty() => record(due, a),
            }
        }
        let id = first + u64::from(n);
        running.push(async move { (due, one_payment(net, codes, seed, id).await) });
    }
    while let Some((due, a)) = running.next().await {
        record(due, a);
    }
}

/// Ed25519 signing and verification of one signed request, timed on one
/// thread: (sign µs, verify µs), each the median of `ROUNDS` runs of
/// `PER_ROUND`.
fn time_signatures() -> anyhow::Result<(f64, f64)> {
    const ROUNDS: usize = 5;
    const PER_ROUND: u32 = 400;
    let (key, _) = sign::PrivateKey::generate_ed25519()?;
    let keys = vec![(1, key.public_key())];
    let signer = sign::KeySigner {
        client_id: "floor".into(),
        key,
        key_version: 1,
    };
    // About the size of a pay request.
    let body = vec![b'x'; 700];
    let time = sign::now_rfc3339();
    let headers = sign::sign_with(&signer, "POST", "/v1/payments", &time, &body)?;
    let mut signs = Vec::with_capacity(ROUNDS);
    let mut verifies = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..PER_ROUND {
            std::hint::black_box(sign::sign_with(
                &signer,
                "POST",
                "/v1/payments",
                &time,
                std::hint::black_box(&body),
            )?);
        }
        signs.push(t.elapsed().as_secs_f64() * 1e6 / f64::from(PER_ROUND));
        let t = Instant::now();
        for _ in 0..PER_ROUND {
            sign::verify_message(
                &keys,
                "POST",
                "/v1/payments",
                &headers,
                std::hint::black_box(&body),
            )?;
        }
        verifies.push(t.elapsed().as_secs_f64() * 1e6 / f64::from(PER_ROUND));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    Ok((median(&mut signs), median(&mut verifies)))
}

/// The floor of one payment (docs/loadgen.md): per hop (a signed request
/// and its signed answer) one signing and one verification at each end,
/// and the HTTP exchange, all timed in this run; the hops per payment
/// counted in the measured window.
async fn floor(report: &Value, ceiling: Option<&Value>, hops: (f64, f64)) -> anyhow::Result<Value> {
    let (sign_us, verify_us) = tokio::task::spawn_blocking(time_signatures).await??;
    let f = |v: Option<&Value>, p: &str| v.and_then(|v| v.pointer(p)).and_then(Value::as_f64);
    let http_both = f(ceiling, "/cpu_us_per_request").unwrap_or(0.0);
    // The gateway's end of a hop: measured when it runs elsewhere; in this
    // process, half of both ends (the generator's client and the server).
    let (http_gateway, http_gateway_how) = match f(ceiling, "/gateway_cpu_us_per_request") {
        Some(us) => (us, "measured in the gateway's process"),
        None => (http_both / 2.0, "half of both ends (one process)"),
    };
    let hops_total = hops.0 + hops.1;
    let gateway_floor = hops_total * (sign_us + verify_us + http_gateway);
    let system_floor = hops_total * (2.0 * (sign_us + verify_us) + http_both);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let allowed = if system_floor > 0.0 {
        cores * 1e6 / system_floor
    } else {
        0.0
    };
    let achieved = f(Some(report), "/payments_per_second").unwrap_or(0.0);
    let gateway_cpu = f(Some(report), "/gateway_process/cpu_us_per_payment");
    let system_cpu =
        f(Some(report), "/process/cpu_us_per_payment").unwrap_or(0.0) + gateway_cpu.unwrap_or(0.0);
    Ok(json!({
        "ed25519_sign_us": sign_us,
        "ed25519_verify_us": verify_us,
        "http_hop_us": {
            "both_ends": http_both,
            "gateway_end": http_gateway,
            "gateway_end_from": http_gateway_how,
        },
        "hops_per_payment": {"to_gateway": hops.0, "from_gateway": hops.1},
        "gateway_us_per_payment": gateway_floor,
        "system_us_per_payment": system_floor,
        "cores": cores,
        "system_floor_allows_per_second": allowed,
        // The targets of issue 16 as ratios (docs/loadgen.md).
        "gateway_cpu_over_floor": gateway_cpu.map(|c| c / gateway_floor.max(f64::MIN_POSITIVE)),
        "system_cpu_over_floor": system_cpu / system_floor.max(f64::MIN_POSITIVE),
        "achieved_over_half_allowed": achieved / (allowed / 2.0).max(f64::MIN_POSITIVE),
    }))
}

#[allow(clippy::print_stdout)]
fn print_report(r: &Value) {
    let f = |p: &str| r.pointer(p).and_then(Value::as_f64).unwrap_or(0.0);
    println!(
        "{} payments ({}{}), {:.1} s: {:.0} payments/s",
        r["payments"],
        r["mode"].as_str().unwrap_or(""),
        r["offered_per_second"]
            .as_f64()
            .map(|o| format!(", offered {o:.0}/s"))
            .unwrap_or_default(),
        f("/elapsed_s"),
        f("/payments_per_second")
    );
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        f("/latency_ms/p50"),
        f("/latency_ms/p90"),
        f("/latency_ms/p99"),
        f("/latency_ms/p99_9"),
        f("/latency_ms/max")
    );
    if let Some(a) = r["answers"].as_object() {
        let parts: Vec<String> = a.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        println!("answers: {}", parts.join(", "));
    }
    println!(
        "this process ({}): {:.1} CPU s, {:.0} µs CPU per payment, {:.2} cores busy, RSS {:.0} MB",
        r.pointer("/process/note")
            .and_then(Value::as_str)
            .unwrap_or(""),
        f("/process/cpu_s"),
        f("/process/cpu_us_per_payment"),
        f("/process/cores_busy"),
        f("/process/rss_mb")
    );
    if r.get("gateway_process").is_some_and(|g| !g.is_null()) {
        println!(
            "gateway process {}: {:.1} CPU s, {:.0} µs CPU per payment, {:.2} cores busy, RSS {:.0} MB",
            r.pointer("/gateway_process/pid")
                .cloned()
                .unwrap_or(Value::Null),
            f("/gateway_process/cpu_s"),
            f("/gateway_process/cpu_us_per_payment"),
            f("/gateway_process/cores_busy"),
            f("/gateway_process/rss_mb")
        );
    }
    if r.get("ceiling").is_some() {
        println!(
            "ceiling GET /healthz: {:.0} requests/s (p99 {:.2} ms); payments per ceiling request {:.4}",
            f("/ceiling/per_second"),
            f("/ceiling/latency_ms/p99"),
            f("/payments_per_ceiling_request")
        );
    }
    if r.get("floor").is_some() {
        println!(
            "floor: Ed25519 sign {:.1} µs, verify {:.1} µs, HTTP hop {:.1} µs (both ends); \
             {:.1} hops to and {:.1} from the gateway per payment",
            f("/floor/ed25519_sign_us"),
            f("/floor/ed25519_verify_us"),
            f("/floor/http_hop_us/both_ends"),
            f("/floor/hops_per_payment/to_gateway"),
            f("/floor/hops_per_payment/from_gateway"),
        );
        println!(
            "floor per payment: gateway {:.0} µs, whole system {:.0} µs ({:.0} payments/s on {} cores); \
             CPU over floor: whole system {:.1}x{}; achieved over half the allowed {:.2}",
            f("/floor/gateway_us_per_payment"),
            f("/floor/system_us_per_payment"),
            f("/floor/system_floor_allows_per_second"),
            f("/floor/cores"),
            f("/floor/system_cpu_over_floor"),
            r.pointer("/floor/gateway_cpu_over_floor")
                .and_then(Value::as_f64)
                .map(|x| format!(", gateway {x:.1}x"))
                .unwrap_or_default(),
            f("/floor/achieved_over_half_allowed"),
        );
    }
    println!("ledger balanced: {}", r["ledger_balanced"]);
    if let Some(o) = r.get("overload") {
        let parts: Vec<String> = o["answers"]
            .as_object()
            .map(|a| a.iter().map(|(k, v)| format!("{k}: {v}")).collect())
            .unwrap_or_default();
        println!(
            "overload drill at {:.0}/s offered: {} shed, {} not answered, accepted p99 {:.1} ms; ledger balanced: {}",
            f("/overload/offered_per_second"),
            o["shed"],
            o["not_answered"],
            f("/overload/accepted_latency_ms/p99"),
            o["ledger_balanced"]
        );
        println!("  answers: {}", parts.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_counted_by_its_call_and_code_not_by_payment() {
        let e = anyhow::anyhow!(
            "cn-wallet POST /v1/payments/pay-01a24a68a08e738f8df089519d712efe/cancel: HTTP 503 {}",
            r#"{"code":"OVERLOADED","status":503}"#
        );
        assert_eq!(
            outcome(&Err(e)),
            "error: POST /v1/payments/{id}/cancel: HTTP 503 OVERLOADED"
        );
        let e = anyhow::anyhow!(
            "mn-acq POST /v1/payments: HTTP 503 {}",
            r#"{"code":"OVERLOADED"}"#
        );
        assert_eq!(
            outcome(&Err(e)),
            "error: POST /v1/payments: HTTP 503 OVERLOADED"
        );
    }
}

//! Unigate's decoder against peer parsers from npm, in one run, on one core:
//! payloads/s and ratios (BENCHMARKS.md). The peers run under Node from
//! `bench/node` (`npm ci` there first); without them only our figures are
//! printed.
//!
//! `cargo bench -p qr --bench compare [-- SECONDS]`
// Benchmark and tool code: indexing and printing are its job.
#![allow(clippy::indexing_slicing, clippy::print_stdout, clippy::print_stderr)]

use std::process::Command;
use std::time::{Duration, Instant};

#[path = "corpus.rs"]
mod corpus;

// The allocator the `unigate` binary uses, so the figures are the CLI's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Decodes per second of `qr::decode_bytes` over `set`, for `seconds`.
fn ours(set: &[String], seconds: f64) -> f64 {
    let options = corpus::options();
    let run = |limit: Duration| {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < limit {
            for p in set {
                std::hint::black_box(
                    qr::decode_bytes(std::hint::black_box(p.as_bytes()), &options).is_ok(),
                );
            }
            n += set.len() as u64;
        }
        n as f64 / start.elapsed().as_secs_f64()
    };
    run(Duration::from_millis(500));
    // The median of three runs.
    let mut r = [0.0; 3];
    for x in &mut r {
        *x = run(Duration::from_secs_f64(seconds / 3.0));
    }
    r.sort_by(f64::total_cmp);
    r[1]
}

/// The peer's decodes per second, or why there is none.
fn peer(name: &str, set: &[String], seconds: f64) -> Result<(f64, u64), String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/node");
    if !std::path::Path::new(dir).join("node_modules").is_dir() {
        return Err("not installed: run `npm ci` in bench/node".to_string());
    }
    let file =
        std::env::temp_dir().join(format!("unigate-bench-{name}-{}.txt", std::process::id()));
    std::fs::write(&file, set.join("\n")).map_err(|e| e.to_string())?;
    let out = Command::new("node")
        .current_dir(dir)
        .arg("bench.mjs")
        .arg(name)
        .arg(&file)
        .arg(format!("{seconds}"))
        .output()
        .map_err(|e| format!("node: {e}"))?;
    let _ = std::fs::remove_file(&file);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    Ok((
        v["per_second"].as_f64().unwrap_or(0.0),
        v["failures"].as_u64().unwrap_or(0),
    ))
}

fn main() {
    let seconds: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(6.0);
    let c = corpus::load();
    println!(
        "corpus: {} payloads ({} MPM, {} Pix); {seconds} s per measurement, one core",
        c.mixed.len(),
        c.mpm.len(),
        c.pix.len()
    );
    let mixed = ours(&c.mixed, seconds);
    let mpm = ours(&c.mpm, seconds);
    let pix = ours(&c.pix, seconds);
    println!();
    println!("| set | Unigate decodes/s | peer | peer decodes/s | ratio |");
    println!("|---|---:|---|---:|---:|");
    println!("| mixed ({}) | {mixed:.0} | — | — | — |", c.mixed.len());
    for (set, label, ours_rate, peer_name) in [
        (&c.pix, "Pix", pix, "pix-utils"),
        (&c.mpm, "MPM", mpm, "steplix-emvqr"),
    ] {
        match peer(peer_name, set, seconds) {
            Ok((rate, failures)) => {
                let note = if failures > 0 {
                    format!(" ({failures} payloads it refused)")
                } else {
                    String::new()
                };
                println!(
                    "| {label} ({}) | {ours_rate:.0} | {peer_name}{note} | {rate:.0} | {:.1}× |",
                    set.len(),
                    ours_rate / rate
                );
            }
            Err(why) => println!(
                "| {label} ({}) | {ours_rate:.0} | {peer_name}: {why} | — | — |",
                set.len()
            ),
        }
    }
}

//! The command line as a user runs it: exit codes, one JSON object per
//! payload, `--lines` order and limits.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const ABC: &str =
    "000201010211021640001234567890125204525153038405802US5911ABC Hammers6008New York6304830B";

fn unigate(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unigate runs");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("unigate exits")
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone())
        .expect("UTF-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn decode_one_valid_payload() {
    let out = unigate(&["qr", "decode", ABC], b"");
    assert!(out.status.success());
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["valid"], true);
    assert_eq!(lines[0]["merchant"]["name"], "ABC Hammers");
    assert_eq!(lines[0]["tags"]["02"], "4000123456789012");
}

#[test]
fn decode_invalid_payload_exits_non_zero_with_json() {
    let bad = ABC.replace("830B", "830C");
    let out = unigate(&["qr", "decode", &bad], b"");
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    assert_eq!(lines[0]["valid"], false);
    assert_eq!(lines[0]["error"]["code"], "crc_mismatch");
}

#[test]
fn decode_reads_stdin_when_no_payload() {
    let out = unigate(&["qr", "decode"], format!("{ABC}\n").as_bytes());
    assert!(out.status.success());
    assert_eq!(json_lines(&out)[0]["valid"], true);
}

#[test]
fn lines_mode_answers_every_line_in_order_and_exits_zero() {
    let long = "0".repeat(10_000);
    let input = format!("{ABC}\r\nnot a code\n\n{long}\n\u{00ff}\n{ABC}");
    let mut bytes = input.into_bytes();
    bytes.extend_from_slice(b"\n\xff\xfe\n");
    let out = unigate(&["qr", "decode", "--lines"], &bytes);
    assert!(out.status.success());
    let lines = json_lines(&out);
    let codes: Vec<String> = lines
        .iter()
        .map(|l| match l["valid"].as_bool() {
            Some(true) => "valid".to_string(),
            _ => l["error"]["code"].as_str().unwrap_or("?").to_string(),
        })
        .collect();
    assert_eq!(
        codes,
        [
            "valid",
            "bad_format_indicator",
            "truncated",
            "payload_too_large",
            "bad_format_indicator",
            "valid",
            "bad_value"
        ]
    );
}

#[test]
fn payload_limit_is_configurable() {
    let out = unigate(&["qr", "decode", "--payload-bytes-max", "20", ABC], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_lines(&out)[0]["error"]["code"], "payload_too_large");
}

#[test]
fn unknown_profile_is_a_one_line_error() {
    let out = unigate(&["qr", "decode", "--profile", "nope", ABC], b"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).expect("UTF-8");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("unknown profile"), "{err}");
}

/// Run `unigate loadgen ARGS --json --db DB`, which must succeed; its report.
fn loadgen_json(db: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .arg("loadgen")
        .args(args)
        .args(["--json", "--db", db.to_str().expect("a UTF-8 path")])
        .output()
        .expect("unigate runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON report")
}

#[test]
fn loadgen_drives_the_mix_and_reports_with_its_ceiling() {
    let dir = std::env::temp_dir().join(format!("unigate-loadgen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("lg.db");
    let r = loadgen_json(
        &db,
        &[
            "--payments",
            "60",
            "--concurrency",
            "8",
            "--preload",
            "500",
            "--floor",
            "--ceiling-requests",
            "200",
        ],
    );
    assert_eq!(r["payments"], 60, "{r}");
    assert_eq!(r["preloaded"], 500, "{r}");
    assert_eq!(
        r["answers"]["S"], 60,
        "without faults every payment goes through: {r}"
    );
    assert_eq!(r["ledger_balanced"], true, "{r}");
    assert!(r["payments_per_second"].as_f64().unwrap() > 0.0, "{r}");
    for p in ["p50", "p90", "p99", "p99_9", "max"] {
        assert!(r["latency_ms"][p].as_f64().unwrap() > 0.0, "{p}: {r}");
    }
    assert!(r["process"]["cpu_s"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["process"]["rss_mb"].as_f64().unwrap() > 1.0, "{r}");
    assert_eq!(r["ceiling"]["requests"], 200, "{r}");
    assert_eq!(r["ceiling"]["failed"], 0, "{r}");
    // The floor (--floor runs the ceiling too): the mix's hops per payment
    // are counted — MPM makes three calls to the gateway, CPM one, a
    // refund or a cancel one more; the gateway calls out at least for
    // the acquirer's or the wallet's callback and the notifications.
    let floor = &r["floor"];
    let to = floor["hops_per_payment"]["to_gateway"].as_f64().unwrap();
    let from = floor["hops_per_payment"]["from_gateway"].as_f64().unwrap();
    assert!((1.5..=3.5).contains(&to), "{floor}");
    assert!(from >= 2.0, "{floor}");
    for k in [
        "ed25519_sign_us",
        "ed25519_verify_us",
        "gateway_us_per_payment",
    ] {
        assert!(floor[k].as_f64().unwrap() > 0.0, "{k}: {floor}");
    }
    assert!(
        floor["http_hop_us"]["both_ends"].as_f64().unwrap() > 0.0,
        "{floor}"
    );
    // The whole system's CPU includes the floor's work and more.
    assert!(
        floor["system_cpu_over_floor"].as_f64().unwrap() > 1.0,
        "{floor}"
    );
    // Open loop at a modest rate.
    let r = loadgen_json(&db, &["--payments", "20", "--rate", "40"]);
    assert_eq!(r["mode"], "open_loop", "{r}");
    assert!(
        r["elapsed_s"].as_f64().unwrap() >= 0.45,
        "20 at 40/s take half a second: {r}"
    );
    // The overload drill: a gateway that works on four participant
    // requests at once, driven closed loop at four payments in flight
    // (nothing shed), then offered twice the rate it just sustained with
    // nothing held back: it sheds with 503 OVERLOADED, answers every
    // payment, and its books balance.
    let r = loadgen_json(
        &db,
        &[
            "--payments",
            "60",
            "--concurrency",
            "4",
            "--in-flight-max",
            "4",
            "--overload",
        ],
    );
    assert_eq!(r["answers"]["S"], 60, "four in flight fit: {r}");
    let drill = &r["overload"];
    let sustained = r["payments_per_second"].as_f64().unwrap();
    let offered = drill["offered_per_second"].as_f64().unwrap();
    assert!((offered - 2.0 * sustained).abs() < 1e-6, "{drill}");
    let answers = drill["answers"].as_object().unwrap();
    let shed: u64 = answers
        .iter()
        .filter(|(k, _)| k.ends_with("HTTP 503 OVERLOADED"))
        .map(|(_, v)| v.as_u64().unwrap())
        .sum();
    let ok = answers.get("S").and_then(|v| v.as_u64()).unwrap_or(0);
    assert!(shed > 0, "nothing was shed at twice the rate: {drill}");
    assert_eq!(drill["shed"], shed, "{drill}");
    assert_eq!(
        ok + shed,
        60,
        "every payment is either made or shed: {drill}"
    );
    assert_eq!(drill["not_answered"], 0, "{drill}");
    assert_eq!(drill["ledger_balanced"], true, "{drill}");
    // Bad arguments: one line, exit 2.
    for args in [
        &["loadgen", "--rate", "0"][..],
        &["loadgen", "--payments", "0"][..],
        &["loadgen", "--concurrency", "0"][..],
    ] {
        let out = unigate(args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim().lines().count(),
            1,
            "{args:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

const SPEC_EXAMPLE: &str = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A";

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("unigate-cli-{}-{name}", std::process::id()))
}

#[test]
fn encode_from_flags_decodes_to_the_fields() {
    let out = unigate(
        &[
            "qr",
            "encode",
            "--initiation",
            "dynamic",
            "--tag",
            "29.00=A000000677010111",
            "--tag",
            "29.01=0066812345678",
            "--currency",
            "THB",
            "--amount",
            "100.00",
            "--country",
            "TH",
        ],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let payload = String::from_utf8(out.stdout).unwrap();
    let decoded = json_lines(&unigate(&["qr", "decode", payload.trim()], b""))[0].clone();
    assert_eq!(decoded["scheme"], "promptpay");
    assert_eq!(decoded["amount"], "100.00");
    assert_eq!(decoded["accounts"][0]["named"]["proxy"], "0066812345678");
}

#[test]
fn encode_from_the_decoded_tags_gives_the_payload_back() {
    for payload in [
        SPEC_EXAMPLE,
        "hQVDUFYwMWETTwegAAAAVVVVUAhQcm9kdWN0MWETTwegAAAAZmZmUAhQcm9kdWN0MmJJWggSNFZ4kBI0WF8gDkNBUkRIT0xERVIvRU1WXy0IcnVlc2RlZW5kIZ8QBwYBCgMAAACfJghYT9OF+iNLzJ82AgABnzcEbVjvEw==",
    ] {
        let decoded = json_lines(&unigate(&["qr", "decode", payload], b""))[0].clone();
        let tags = decoded["tags"].to_string();
        let out = unigate(&["qr", "encode", "--tags", "-"], tags.as_bytes());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), payload);
    }
}

#[test]
fn encode_refuses_a_code_that_would_not_decode() {
    let out = unigate(
        &[
            "qr",
            "encode",
            "--tag",
            "26.00=com.example",
            "--country",
            "TH",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("missing"), "{err}");
    let out = unigate(&["qr", "encode", "--json", "{\"colour\": 1}"], b"");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn render_png_then_decode_the_image() {
    let png = temp("code.png");
    let out = unigate(
        &["qr", "render", SPEC_EXAMPLE, "--png", png.to_str().unwrap()],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoded = json_lines(&unigate(
        &["qr", "decode", "--image", png.to_str().unwrap()],
        b"",
    ));
    std::fs::remove_file(&png).ok();
    assert_eq!(decoded.len(), 1);
    assert_eq!(decoded[0]["merchant"]["name"], "BEST TRANSPORT");
    assert_eq!(decoded[0]["tags"]["63"], "A13A");
}

#[test]
fn render_svg_and_text() {
    let svg = temp("code.svg");
    let out = unigate(&["qr", "render", ABC, "--svg", svg.to_str().unwrap()], b"");
    assert!(out.status.success());
    let text = std::fs::read_to_string(&svg).unwrap();
    std::fs::remove_file(&svg).ok();
    assert!(text.contains("<svg"));
    let out = unigate(&["qr", "render"], ABC.as_bytes());
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().contains('█'));
}

#[test]
fn decode_image_that_is_not_an_image() {
    let file = temp("not.png");
    std::fs::write(&file, b"hello").unwrap();
    let out = unigate(&["qr", "decode", "--image", file.to_str().unwrap()], b"");
    std::fs::remove_file(&file).ok();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_lines(&out)[0]["error"]["code"], "unreadable_image");
}

#[test]
fn expired_codes_reported_or_refused() {
    // A KHQR code from the KHQR SDK tests, expired on 2024-09-25.
    let fixtures: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../qr/tests/fixtures/schemes.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let payload = fixtures
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "kh23_ts_khqr_ts_expired")
        .unwrap()["payload"]
        .as_str()
        .unwrap()
        .to_string();
    let before = json_lines(&unigate(
        &["qr", "decode", "--at", "2024-01-01T00:00:00Z", &payload],
        b"",
    ));
    assert_eq!(before[0]["expired"], false);
    let now = unigate(&["qr", "decode", &payload], b"");
    assert!(now.status.success());
    assert_eq!(json_lines(&now)[0]["expired"], true);
    let refused = unigate(&["qr", "decode", "--refuse-expired", &payload], b"");
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(json_lines(&refused)[0]["error"]["code"], "expired");
}

#[test]
fn the_demo_runs_payments_with_faults_and_the_books_agree() {
    let dir = std::env::temp_dir().join(format!("unigate-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .current_dir(&dir)
        .args(["demo", "--payments", "150", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["payments_total"], 150, "{summary}");
    assert_eq!(summary["non_final"], 0, "{summary}");
    assert_eq!(summary["ledger_balanced"], true, "{summary}");
    assert_eq!(
        summary["ledger"]["trial_balance_balanced"], true,
        "{summary}"
    );
    assert_eq!(
        summary["ledger"]["simulator_books_agree"], true,
        "{summary}"
    );
    assert!(summary["exceptions"].as_u64().unwrap() <= 1, "{summary}");
    for key in [
        "resolved_by_inquiry",
        "reversed",
        "amounts_by_currency",
        "by_status",
    ] {
        assert!(!summary[key].is_null(), "{key}: {summary}");
    }
    for mode in ["mpm", "cpm"] {
        assert!(
            summary["by_mode"][mode].as_u64().unwrap_or(0) > 0,
            "{summary}"
        );
    }
    for direction in ["inbound", "outbound", "transit"] {
        assert!(
            summary["by_direction"][direction].as_u64().unwrap_or(0) > 0,
            "{summary}"
        );
    }
    // The faults show: declines at least; and some refunds and cancels.
    assert!(
        summary["by_status"]["succeeded"].as_u64().unwrap() > 100,
        "{summary}"
    );
    assert!(summary["reversed"].as_u64().unwrap() > 0, "{summary}");
    assert!(
        summary["refunds"]["succeeded"].as_u64().unwrap_or(0) > 0,
        "{summary}"
    );
    assert!(dir.join("unigate-demo.db").exists());
    assert!(dir.join("unigate-demo.db.kek").exists());
    assert!(dir.join("unigate-demo.db-sims/cn-acq.db").exists());

    // The operator closes the demo's cycle on its database, exports it,
    // and every participant's file ties out to its instructions.
    let db = format!("sqlite://{}", dir.join("unigate-demo.db").display());
    let settle = |args: &[&str]| {
        let mut all = vec!["settle"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--db", &db]);
        Command::new(env!("CARGO_BIN_EXE_unigate"))
            .current_dir(&dir)
            .args(&all)
            .output()
            .unwrap()
    };
    let list = settle(&["list", "--json"]);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    // The demo's payments carry one clearing date (or two, across a
    // cut-off): close the last.
    let date = summary["clearing_dates"]
        .as_array()
        .and_then(|d| d.last())
        .and_then(|d| d.as_str())
        .expect("the demo's clearing date")
        .to_string();
    let refused = settle(&["close", &date]);
    assert_eq!(refused.status.code(), Some(2), "before the grace period");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("grace"));
    let unexported = settle(&["export", &date, "--out", "x"]);
    assert_eq!(unexported.status.code(), Some(2));
    let closed = settle(&["close", &date, "--early"]);
    assert!(
        closed.status.success(),
        "{}",
        String::from_utf8_lossy(&closed.stderr)
    );
    let again = settle(&["close", &date, "--early"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already"));
    let out_dir = dir.join("export");
    let exported = settle(&["export", &date, "--out", out_dir.to_str().unwrap()]);
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let instructions =
        std::fs::read_to_string(out_dir.join(format!("instructions-{date}.csv"))).unwrap();
    let mut settles: std::collections::BTreeMap<(String, String), i64> = Default::default();
    for line in instructions.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let amount: i64 = f[7].parse().unwrap();
        *settles
            .entry((f[2].to_string(), f[6].to_string()))
            .or_default() -= amount;
        *settles
            .entry((f[4].to_string(), f[6].to_string()))
            .or_default() += amount;
    }
    let sums = std::fs::read_to_string(out_dir.join("SHA256SUMS")).unwrap();
    let mut files = 0;
    for entry in std::fs::read_dir(&out_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let Some(party) = name
            .strip_prefix(&format!("reconciliation-{date}-"))
            .and_then(|n| n.strip_suffix(".csv"))
        else {
            continue;
        };
        files += 1;
        let csv = std::fs::read_to_string(&path).unwrap();
        assert!(sums.contains(&name), "{name} has a SHA-256 line");
        for line in csv.lines().filter(|l| l.starts_with("summary,rows,")) {
            let f: Vec<&str> = line.split(',').collect();
            let (amount, ccy) = (f[f.len() - 2], f[f.len() - 1]);
            let net = format!("summary,net_position,,,,,,,,,,,,,,,,,,,{amount},{ccy}");
            let ins = format!("summary,instructions,,,,,,,,,,,,,,,,,,,{amount},{ccy}");
            assert!(
                csv.contains(&net) && csv.contains(&ins),
                "{party} {ccy}: {csv}"
            );
            let settled = settles
                .get(&(party.to_string(), ccy.to_string()))
                .copied()
                .unwrap_or(0);
            assert_eq!(settled.to_string(), amount, "{party} {ccy}");
        }
    }
    assert!(files >= 13, "a file per participant: {files}");
    let settled = settle(&["mark-settled", &date]);
    assert!(
        settled.status.success(),
        "{}",
        String::from_utf8_lossy(&settled.stderr)
    );
    let twice = settle(&["mark-settled", &date]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("settled"));
    // The regulator's view of the same database (issue 15): the daily
    // report made at the close ties out; the statistics count every
    // payment the demo made.
    let report = |args: &[&str]| {
        let mut all = vec!["report"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--db", &db]);
        Command::new(env!("CARGO_BIN_EXE_unigate"))
            .current_dir(&dir)
            .args(&all)
            .output()
            .unwrap()
    };
    let daily = report(&["daily", &date, "--json"]);
    assert!(
        daily.status.success(),
        "{}",
        String::from_utf8_lossy(&daily.stderr)
    );
    let daily: serde_json::Value = serde_json::from_slice(&daily.stdout).unwrap();
    for check in [
        "payments_match_cycle",
        "refunds_match_cycle",
        "nets_sum_to_zero",
        "instructions_settle_positions",
    ] {
        assert_eq!(daily["tie_out"][check], true, "{check}: {daily}");
    }
    let listed = String::from_utf8(report(&["daily"]).stdout).unwrap();
    assert!(listed.contains(&date), "{listed}");
    let table = String::from_utf8(report(&["daily", &date]).stdout).unwrap();
    assert!(table.contains("ties out: payments true"), "{table}");
    let stats = report(&["stats", "--group-by", "status,mode", "--json"]);
    assert!(
        stats.status.success(),
        "{}",
        String::from_utf8_lossy(&stats.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    let counted: i64 = stats["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["count"].as_i64().unwrap())
        .sum();
    let made: i64 = summary["by_status"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(counted, made, "{stats}");
    let table = String::from_utf8(report(&["stats", "--group-by", "direction"]).stdout).unwrap();
    assert!(
        table.contains("inbound") && table.contains("reporting"),
        "{table}"
    );
    let bad = report(&["stats", "--group-by", "colour"]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("unknown dimension") && stderr.lines().count() == 1,
        "{stderr}"
    );
    let bad = settle(&["show", "2026-13-45"]);
    assert_eq!(bad.status.code(), Some(2));
    // Another file, no faults.
    let out = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .current_dir(&dir)
        .args([
            "demo",
            "--payments",
            "20",
            "--json",
            "--no-faults",
            "--db",
            "other.db",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Without faults every attempt is accepted at once (some are then
    // cancelled on purpose).
    assert_eq!(summary["refusals"], serde_json::json!({}), "{summary}");
    assert_eq!(summary["non_final"], 0, "{summary}");
    let ok = summary["by_status"]["succeeded"].as_u64().unwrap_or(0)
        + summary["by_status"]["cancelled"].as_u64().unwrap_or(0);
    assert_eq!(ok, 20, "{summary}");
    assert!(dir.join("other.db").exists());
    // Bad input: a one-line error, exit status 2.
    let out = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .current_dir(&dir)
        .args(["demo", "--payments", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--payments is 1 to"));
    let _ = std::fs::remove_dir_all(&dir);
}

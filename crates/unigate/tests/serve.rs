//! `unigate serve` as an operator runs it: starts on the embedded store (and
//! on PostgreSQL when `UNIGATE_TEST_POSTGRES_URL` is set), answers health,
//! readiness, problems and metrics on loopback, and stops on SIGTERM.
#![allow(clippy::indexing_slicing, clippy::print_stderr, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A GET on loopback, bounded in time: (status, body).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    get_as(port, path, None)
}

/// A GET with a bearer token.
fn get_as(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().ok()?,
        Duration::from_secs(2),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(db: &str) -> (Server, u16, u16) {
    start_node(db, "")
}

fn start_node(db: &str, node: &str) -> (Server, u16, u16) {
    let (api, metrics) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .args(["serve", "--db", db, "--listen", &format!("127.0.0.1:{api}")])
        .env("UNIGATE_METRICS_LISTEN", format!("127.0.0.1:{metrics}"))
        .env("UNIGATE_SHUTDOWN_GRACE_MS", "2000")
        .env("UNIGATE_NODE_ID", node)
        .env("UNIGATE_JOBS__LEASE_TTL_MS", "1500")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("unigate serve starts");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(api, "/healthz").is_none() {
        assert!(
            Instant::now() < deadline,
            "serve did not answer within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, api, metrics)
}

fn check(db: &str) {
    let (mut server, api, metrics) = start(db);
    assert_eq!(get(api, "/healthz").unwrap().0, 200);
    assert_eq!(get(api, "/readyz").unwrap().0, 200);
    let (status, body) = get(api, "/v1/nope").unwrap();
    assert_eq!(status, 404);
    assert!(body.contains("\"code\":\"NOT_FOUND\""), "{body}");
    let (status, body) = get(api, "/openapi.json").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"openapi\""));
    let (status, body) = get(metrics, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("unigate_http_requests_total"), "{body}");
    // SIGTERM: a graceful stop.
    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serves_on_the_embedded_store() {
    check("sqlite::memory:");
}

#[test]
fn serves_on_postgresql() {
    match std::env::var("UNIGATE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => check(&url),
        _ => eprintln!("!!! UNIGATE_TEST_POSTGRES_URL is not set: serve on PostgreSQL was SKIPPED"),
    }
}

#[test]
fn bad_configuration_is_one_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .args(["serve", "--db", "mysql://x", "--listen", "127.0.0.1:1"])
        .env(
            "UNIGATE_METRICS_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unsupported store URL"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .args(["serve", "--print-config"])
        .env("UNIGATE_HTTP__BODY_BYTES_MAX", "1234")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("1234"));
    let out = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .args(["serve", "--print-config"])
        .env("UNIGATE_HTTP__NO_SUCH_LIMIT", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "unknown keys are refused");
}

/// The housekeeping lease's holder as node `port` sees it.
fn holder(port: u16, token: &str) -> Option<String> {
    let (status, body) = get_as(port, "/v1/admin/leases", Some(token))?;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["leases"]
        .as_array()?
        .iter()
        .find(|l| l["name"] == "housekeeping")
        .and_then(|l| l["holder"].as_str())
        .map(str::to_string)
}

fn psql(url: &str, sql: &str) {
    let ok = Command::new("psql")
        .args([url, "-q", "-c", sql])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "psql {sql}");
}

/// Two gateway processes on one PostgreSQL: exactly one holds the
/// housekeeping lease, both see the same holder, and when the holder is
/// killed the other takes over within the lease's TTL.
#[test]
fn two_nodes_share_a_lease_on_postgresql() {
    let Ok(base) = std::env::var("UNIGATE_TEST_POSTGRES_URL") else {
        eprintln!(
            "!!! UNIGATE_TEST_POSTGRES_URL is not set: the two-node lease test on PostgreSQL was SKIPPED"
        );
        return;
    };
    if base.is_empty() {
        return;
    }
    let schema = format!("t_serve_lease_{}", std::process::id());
    psql(
        &base,
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"),
    );
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let out = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .args([
            "token", "create", "--role", "operator", "--label", "test", "--db", &url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let (a, port_a, _) = start_node(&url, "node-a");
    let (b, port_b, _) = start_node(&url, "node-b");
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        if let (Some(ha), Some(hb)) = (holder(port_a, &token), holder(port_b, &token)) {
            assert_eq!(ha, hb, "the nodes disagree on the holder");
            break ha;
        }
        assert!(Instant::now() < deadline, "no node took the lease");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(first == "node-a" || first == "node-b", "{first}");
    // Kill the holder without a chance to release; the other takes over.
    let (mut killed, survivor_port, survivor) = if first == "node-a" {
        (a, port_b, "node-b")
    } else {
        (b, port_a, "node-a")
    };
    killed.0.kill().unwrap();
    killed.0.wait().unwrap();
    let started = Instant::now();
    loop {
        if holder(survivor_port, &token).as_deref() == Some(survivor) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the survivor did not take over"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Within the TTL (1.5 s) plus a renewal period, give or take scheduling.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    psql(&base, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
}

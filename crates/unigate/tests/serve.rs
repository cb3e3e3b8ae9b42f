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
    let mut s = TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().ok()?,
        Duration::from_secs(2),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
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
    let (api, metrics) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .args(["serve", "--db", db, "--listen", &format!("127.0.0.1:{api}")])
        .env("UNIGATE_METRICS_LISTEN", format!("127.0.0.1:{metrics}"))
        .env("UNIGATE_SHUTDOWN_GRACE_MS", "2000")
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

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
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    http(port, "GET", path, &headers, b"")
}

/// One HTTP/1.1 exchange on loopback, bounded in time: (status, body).
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().ok()?,
        Duration::from_secs(2),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// The key-encryption key every test node shares (base64 of
/// "unigate-test-key-encryption-key!").
const TEST_KEK: &str = "dW5pZ2F0ZS10ZXN0LWtleS1lbmNyeXB0aW9uLWtleSE=";

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
    spawn(db, node, &[("UNIGATE_KEK", TEST_KEK)], Stdio::null())
}

/// `unigate serve` on `db` with `env` added; waits until it answers.
fn spawn(db: &str, node: &str, env: &[(&str, &str)], stderr: Stdio) -> (Server, u16, u16) {
    let (api, metrics) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .args(["serve", "--db", db, "--listen", &format!("127.0.0.1:{api}")])
        .env("UNIGATE_METRICS_LISTEN", format!("127.0.0.1:{metrics}"))
        .env("UNIGATE_SHUTDOWN_GRACE_MS", "2000")
        .env("UNIGATE_NODE_ID", node)
        .env("UNIGATE_JOBS__LEASE_TTL_MS", "1500")
        .env_remove("UNIGATE_KEK")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("unigate serve starts");
    let mut server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(api, "/healthz").is_none() {
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!("serve exited with {status}");
        }
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
    if db.starts_with("sqlite:") {
        // SQLite's single writer reports its commits and undone folds.
        assert!(
            body.contains("unigate_store_writer_commits_total"),
            "{body}"
        );
        assert!(
            body.contains("unigate_store_ledger_folds_undone_total"),
            "{body}"
        );
    }
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
        Ok(url) if !url.is_empty() => {
            let (scoped, schema) = pg_schema(&url, "serve");
            check(&scoped);
            psql(&url, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
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

/// A schema of its own on the test PostgreSQL: (URL scoped to it, name).
fn pg_schema(base: &str, name: &str) -> (String, String) {
    let schema = format!("t_serve_{name}_{}", std::process::id());
    psql(
        base,
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"),
    );
    let sep = if base.contains('?') { '&' } else { '?' };
    (
        format!("{base}{sep}options=-c%20search_path%3D{schema}"),
        schema,
    )
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
    let (url, schema) = pg_schema(&base, "lease");
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

/// A fresh directory under the system's temporary one.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "unigate-{name}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn unigate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_unigate"))
        .args(args)
        .env_remove("UNIGATE_KEK")
        .output()
        .unwrap()
}

fn operator_token(db: &str) -> String {
    let out = unigate(&[
        "token", "create", "--role", "operator", "--label", "test", "--db", db,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// An operator call with a JSON body: (status, JSON answer).
fn admin(port: u16, token: &str, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let auth = format!("Bearer {token}");
    let (status, text) = http(
        port,
        method,
        path,
        &[("Authorization", &auth)],
        body.as_bytes(),
    )
    .unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// Register `id` as an acquirer, give it the public key in `public`, and
/// walk it to live, as the README tells an operator to.
fn onboard(port: u16, token: &str, id: &str, public: &std::path::Path) {
    onboard_as(
        port,
        token,
        id,
        "acquirer",
        "https://acq.example.com/unigate",
        public,
    );
}

/// Register `id` with `role` and `callback`, give it the key in `public`,
/// and walk it to live.
fn onboard_as(
    port: u16,
    token: &str,
    id: &str,
    role: &str,
    callback: &str,
    public: &std::path::Path,
) {
    let (status, body) = admin(
        port,
        token,
        "POST",
        "/v1/admin/participants",
        &format!(
            r#"{{"id": "{id}", "legal_name": "{id} Ltd", "roles": ["{role}"], "country": "TH",
                "currencies": ["THB"], "settlement_currency": "THB", "settlement_account": "TH-0001",
                "callback_base_url": "{callback}"}}"#
        ),
    );
    assert_eq!(status, 201, "{body}");
    let pem = std::fs::read_to_string(public).unwrap();
    let (status, body) = admin(
        port,
        token,
        "POST",
        &format!("/v1/admin/participants/{id}/keys"),
        &serde_json::json!({"public_key_pem": pem}).to_string(),
    );
    assert_eq!(
        (status, body["key_version"].as_i64()),
        (201, Some(1)),
        "{body}"
    );
    for to in [
        "admitted",
        "joint_testing",
        "production_verification",
        "signed",
        "live",
    ] {
        let (status, body) = admin(
            port,
            token,
            "POST",
            &format!("/v1/admin/participants/{id}/stage"),
            &format!(r#"{{"to": "{to}", "reason": "checks passed"}}"#),
        );
        assert_eq!(status, 200, "{to}: {body}");
    }
}

/// The README's walk-through, as a new user runs it: a fresh database, a
/// development key-encryption key created beside it (owner-only), an
/// operator token, a participant walked to live with a key made by
/// `unigate keygen`, and signed calls with `unigate call` whose signed
/// answers verify. The gateway's logs at the most verbose level hold no
/// token, key or signature.
#[test]
fn a_new_user_onboards_a_participant_and_calls_signed() {
    let dir = temp_dir("walk");
    let db = format!("sqlite://{}", dir.join("unigate.db").display());
    let token = operator_token(&db);
    let log = dir.join("serve.log");
    let (server, port, _) = spawn(
        &db,
        "",
        &[("RUST_LOG", "trace"), ("UNIGATE_LOG_FORMAT", "json")],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    use std::os::unix::fs::PermissionsExt;
    let kek_file = dir.join("unigate.db.kek");
    let mode = std::fs::metadata(&kek_file).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the development KEK file is owner-only"
    );

    let (private, public) = (dir.join("kbank.pem"), dir.join("kbank.pub.pem"));
    let out = unigate(&[
        "keygen",
        "--private",
        private.to_str().unwrap(),
        "--public",
        public.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    onboard(port, &token, "kbank", &public);

    let gateway = format!("http://127.0.0.1:{port}");
    let call_as = |version: &str, args: &[&str]| {
        let mut all = vec![
            "call",
            "--gateway",
            &gateway,
            "--client-id",
            "kbank",
            "--key",
            private.to_str().unwrap(),
            "--key-version",
            version,
        ];
        all.extend_from_slice(args);
        unigate(&all)
    };
    let call = |args: &[&str]| call_as("1", args);
    let out = call(&["GET", "/v1/me"]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("verified"), "{stderr}");
    let me: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(me["stage"], "live");
    let merchant = r#"{"request_id": "m-1", "acquirer_merchant_id": "M1", "name": "Siam Noodle House", "mcc": "5812",
        "country": "TH", "city": "Bangkok", "time_zone": "Asia/Bangkok", "kyb_status": "verified",
        "identifiers": [{"kind": "promptpay_proxy", "value": "0066812345678"}]}"#;
    let out = call(&["--data", merchant, "POST", "/v1/merchants"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(m["id"].as_str().unwrap().starts_with("gm-"), "{m}");
    // A refusal is an answer too: signed, verified, exit 1.
    let out = call_as("2", &["GET", "/v1/me"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("KEY_UNKNOWN"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("verified"));
    // A pinned wrong gateway key: the answer does not verify, exit 3.
    let out = call(&["--gateway-key", public.to_str().unwrap(), "GET", "/v1/me"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `unigate sign` prints the three headers.
    let out = unigate(&[
        "sign",
        "--client-id",
        "kbank",
        "--key",
        private.to_str().unwrap(),
        "--key-version",
        "1",
        "--method",
        "GET",
        "--path",
        "/v1/me",
    ]);
    let headers = String::from_utf8(out.stdout).unwrap();
    assert!(
        headers.starts_with("Client-Id: kbank\nRequest-Time: "),
        "{headers}"
    );
    let signature = headers
        .lines()
        .nth(2)
        .unwrap()
        .strip_prefix("Signature: ")
        .unwrap()
        .to_string();
    let (status, _) = http(
        port,
        "GET",
        "/v1/me",
        &[
            ("Client-Id", "kbank"),
            (
                "Request-Time",
                headers
                    .lines()
                    .nth(1)
                    .unwrap()
                    .strip_prefix("Request-Time: ")
                    .unwrap(),
            ),
            ("Signature", &signature),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(status, 200);
    drop(server);

    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("signature verified"),
        "trace logs were captured"
    );
    let kek = std::fs::read_to_string(&kek_file).unwrap();
    let private_pem = std::fs::read_to_string(&private).unwrap();
    let private_body = private_pem.lines().nth(1).unwrap();
    let sig_b64 = signature.rsplit_once("signature=").unwrap().1;
    for (what, secret) in [
        ("the operator token", token.as_str()),
        ("the key-encryption key", kek.trim()),
        ("a private key", private_body),
        ("a signature", sig_b64),
        ("a private key", "PRIVATE KEY"),
    ] {
        assert!(!logs.contains(secret), "the logs hold {what}");
    }

    // Restarted on the same database and KEK file: the same gateway key.
    let keys_before = {
        let (server, port, _) = spawn(&db, "", &[], Stdio::null());
        let k = get(port, "/v1/keys").unwrap().1;
        drop(server);
        k
    };
    let (server, port, _) = spawn(&db, "", &[], Stdio::null());
    assert_eq!(get(port, "/v1/keys").unwrap().1, keys_before);
    drop(server);
    // Another KEK cannot open it: a clear refusal to start.
    let out = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .args([
            "serve",
            "--db",
            &db,
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .env(
            "UNIGATE_METRICS_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .env("UNIGATE_KEK", TEST_KEK)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("key-encryption key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn production_refuses_to_start_without_a_kek() {
    let out = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .args([
            "serve",
            "--db",
            "sqlite::memory:",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .env(
            "UNIGATE_METRICS_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .env("UNIGATE_MODE", "production")
        .env_remove("UNIGATE_KEK")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("production mode needs a key-encryption key"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .args(["serve", "--print-config"])
        .env("UNIGATE_MODE", "production")
        .env("UNIGATE_ALLOW_PRIVATE_CALLBACKS", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // The KEK is never part of the printed configuration.
    let out = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .args(["serve", "--print-config"])
        .env("UNIGATE_KEK", TEST_KEK)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains(TEST_KEK));
}

/// Two gateway processes on one PostgreSQL share the replay guard: a
/// signature accepted by one is refused by the other.
#[test]
fn two_nodes_refuse_the_same_replayed_signature_on_postgresql() {
    let Ok(base) = std::env::var("UNIGATE_TEST_POSTGRES_URL") else {
        eprintln!(
            "!!! UNIGATE_TEST_POSTGRES_URL is not set: the two-node replay test on PostgreSQL was SKIPPED"
        );
        return;
    };
    if base.is_empty() {
        return;
    }
    let (url, schema) = pg_schema(&base, "replay");
    let token = operator_token(&url);
    let (_a, port_a, _) = start_node(&url, "node-a");
    let (_b, port_b, _) = start_node(&url, "node-b");
    // Both nodes sign with the one gateway key in the store.
    assert_eq!(
        get(port_a, "/v1/keys").unwrap().1,
        get(port_b, "/v1/keys").unwrap().1
    );
    let dir = temp_dir("replay");
    let (private, public) = (dir.join("k.pem"), dir.join("k.pub.pem"));
    assert!(
        unigate(&[
            "keygen",
            "--private",
            private.to_str().unwrap(),
            "--public",
            public.to_str().unwrap()
        ])
        .status
        .success()
    );
    onboard(port_a, &token, "kbank", &public);
    let out = unigate(&[
        "sign",
        "--client-id",
        "kbank",
        "--key",
        private.to_str().unwrap(),
        "--key-version",
        "1",
        "--method",
        "GET",
        "--path",
        "/v1/me",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap()
            .to_string()
    };
    let headers = [
        ("Client-Id", value("Client-Id")),
        ("Request-Time", value("Request-Time")),
        ("Signature", value("Signature")),
    ];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let (status, body) = http(port_a, "GET", "/v1/me", &headers, b"").unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(port_b, "GET", "/v1/me", &headers, b"").unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("SIGNATURE_REPLAYED"), "{body}");
    let _ = std::fs::remove_dir_all(&dir);
    psql(&base, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
}

/// Three FX-provider simulators as processes compete for a quote over
/// their signed `fx-quote` callbacks: the narrowest spread that answers
/// wins, one that always declines and one that is gone are left out.
#[test]
fn fx_provider_simulators_compete_over_their_callbacks() {
    let dir = temp_dir("fxsim");
    let db = format!("sqlite://{}", dir.join("unigate.db").display());
    let token = operator_token(&db);
    let (_server, port, _) = spawn(
        &db,
        "",
        &[
            ("UNIGATE_KEK", TEST_KEK),
            ("UNIGATE_ALLOW_PRIVATE_CALLBACKS", "true"),
            ("UNIGATE_FX__HOUSE_BOOK", "false"),
        ],
        Stdio::null(),
    );
    let keygen = |name: &str| {
        let (private, public) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.pub.pem")),
        );
        assert!(
            unigate(&[
                "keygen",
                "--private",
                private.to_str().unwrap(),
                "--public",
                public.to_str().unwrap()
            ])
            .status
            .success()
        );
        (private, public)
    };
    let gateway = format!("http://127.0.0.1:{port}");
    let mut sims = Vec::new();
    let mut sim_ports = Vec::new();
    // (id, spread in bps, decline every n-th)
    for (id, spread, decline) in [
        ("fx-a", "100", "0"),
        ("fx-b", "20", "0"),
        ("fx-c", "5", "1"),
    ] {
        let (private, public) = keygen(id);
        let sim_port = free_port();
        onboard_as(
            port,
            &token,
            id,
            "fx_provider",
            &format!("http://127.0.0.1:{sim_port}"),
            &public,
        );
        let child = Command::new(env!("CARGO_BIN_EXE_unigate"))
            .args([
                "sim",
                "fx",
                "--gateway",
                &gateway,
                "--client-id",
                id,
                "--key",
                private.to_str().unwrap(),
                "--key-version",
                "1",
                "--listen",
                &format!("127.0.0.1:{sim_port}"),
                "--rate",
                "CNY/MNT=480",
                "--spread-bps",
                spread,
                "--decline-every",
                decline,
                "--push-every-s",
                "1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        sims.push(Server(child));
        sim_ports.push(sim_port);
    }
    let (wallet_key, wallet_pub) = keygen("hipay");
    onboard_as(
        port,
        &token,
        "hipay",
        "wallet",
        "https://hipay.example.com/cb",
        &wallet_pub,
    );
    // Wait for every simulator's rates.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, rates) = admin(port, &token, "GET", "/v1/admin/fx/rates", "");
        let n = rates["rates"].as_array().map_or(0, Vec::len);
        if n == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the simulators' rates did not arrive: {rates}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let quote = |request_id: &str| {
        let body = format!(
            r#"{{"request_id": "{request_id}", "payer": {{"id": "p-1", "name": "Bat-Erdene", "country": "MN"}},
                "merchant_id": "gm-1", "pay_currency": "MNT", "receive": {{"value": "10000", "currency": "CNY"}}}}"#
        );
        let out = unigate(&[
            "call",
            "--gateway",
            &gateway,
            "--client-id",
            "hipay",
            "--key",
            wallet_key.to_str().unwrap(),
            "--key-version",
            "1",
            "--data",
            &body,
            "POST",
            "/v1/quotes",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let first = quote("q-1");
    assert_eq!(first["provider"], "fx-b", "{first}");
    // fx-b's ask is 480 × 1.001 = 480.48 MNT per CNY: 100.00 CNY costs 48,048.00 MNT.
    assert_eq!(first["pay"]["value"], "4804800", "{first}");
    // fx-b goes away: the next quote is fx-a's; fx-c still declines.
    drop(sims.remove(1));
    let second = quote("q-2");
    assert_eq!(second["provider"], "fx-a", "{second}");
    // The first quote stands as it was locked.
    let (_, quotes) = admin(port, &token, "GET", "/v1/admin/fx/quotes", "");
    let locked = quotes
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["provider_id"] == "fx-b")
        .unwrap();
    assert_eq!(locked["pay_minor"], 4_804_800);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The fee schedule is checked when the configuration loads.
#[test]
fn a_bad_fee_schedule_is_refused_at_load() {
    let dir = temp_dir("fees");
    let rule = |acquirer: u32| {
        format!(
            r#"[[fees]]
mcc = "5812"
rate_bps = 38
min_minor = 1
cap_minor = 5000

[fees.split]
acquirer_bps = {acquirer}
wallet_bps = 3000
gateway_bps = 1000
"#
        )
    };
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, rule(5_000)).unwrap();
    let out = unigate(&["serve", "--config", bad.to_str().unwrap(), "--print-config"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("fees: rule 0: the shares add up to 9000"),
        "{err}"
    );
    let good = dir.join("good.toml");
    std::fs::write(&good, rule(6_000)).unwrap();
    let out = unigate(&[
        "serve",
        "--config",
        good.to_str().unwrap(),
        "--print-config",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"rate_bps\": 38"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `[routing]`: the home country and the route table's limit, checked when
/// the configuration loads.
#[test]
fn routing_configuration_is_checked() {
    let out = unigate(&["serve", "--print-config"]);
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("\"home_country\": \"CN\""), "{printed}");
    for (key, value, ok) in [
        ("UNIGATE_ROUTING__HOME_COUNTRY", "MN", true),
        ("UNIGATE_ROUTING__HOME_COUNTRY", "ZZ", false),
        ("UNIGATE_ROUTING__HOME_COUNTRY", "cn", false),
        ("UNIGATE_ROUTING__ROUTES_MAX", "0", false),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_unigate"))
            .args(["serve", "--print-config"])
            .env(key, value)
            .output()
            .unwrap();
        if ok {
            assert!(out.status.success(), "{key}={value}");
            assert!(String::from_utf8_lossy(&out.stdout).contains(value));
        } else {
            assert_eq!(out.status.code(), Some(2), "{key}={value}");
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("routing"),
                "{key}={value}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn settle_drives_a_running_gateway_through_its_operator_api() {
    let dir = std::env::temp_dir().join(format!("unigate-settle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}", dir.join("g.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .args([
            "token", "create", "--role", "operator", "--label", "t", "--db", &db,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let (_server, api, _) = start(&db);
    let url = format!("http://127.0.0.1:{api}");
    let settle = |args: &[&str], token: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_unigate"));
        c.arg("settle")
            .args(args)
            .args(["--url", &url])
            .env_remove("UNIGATE_TOKEN");
        if let Some(t) = token {
            c.env("UNIGATE_TOKEN", t);
        }
        c.output().unwrap()
    };
    // A past date with no payments: its grace is over, it closes empty.
    let date = "2026-01-05";
    let out = settle(&["show", date], Some(&token));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["cycle"]["state"], "cut_off", "{shown}");
    let out = settle(
        &["export", date, "--out", dir.join("x").to_str().unwrap()],
        Some(&token),
    );
    assert_eq!(out.status.code(), Some(2), "an open cycle is not exported");
    assert!(String::from_utf8_lossy(&out.stderr).contains("409"));
    let out = settle(&["close", date], Some(&token));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = settle(&["close", date], Some(&token));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already"));
    let out = settle(
        &["export", date, "--out", dir.join("x").to_str().unwrap()],
        Some(&token),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("x/SHA256SUMS").exists());
    assert!(dir.join(format!("x/instructions-{date}.csv")).exists());
    let out = settle(&["mark-settled", date], Some(&token));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = settle(&["mark-settled", date], Some(&token));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("settled"));
    let out = settle(&["list"], Some(&token));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["cycles"][0]["state"], "settled", "{list}");
    // No token, a wrong one: one-line errors.
    let out = settle(&["list"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("token"));
    let out = settle(&["list"], Some("wrong"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn loadgen_drives_a_gateway_running_elsewhere_and_reads_its_process() {
    let dir = temp_dir("loadgen-remote");
    let db = format!("sqlite://{}", dir.join("gw.db").display());
    let (server, api, _) = spawn(
        &db,
        "",
        &[
            ("UNIGATE_KEK", TEST_KEK),
            ("UNIGATE_ALLOW_PRIVATE_CALLBACKS", "true"),
        ],
        Stdio::null(),
    );
    let token = operator_token(&db);
    let pid = server.0.id().to_string();
    let url = format!("http://127.0.0.1:{api}");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_unigate"))
            .args([
                "loadgen",
                "--url",
                &url,
                "--token",
                &token,
                "--gateway-pid",
                &pid,
                "--payments",
                "30",
                "--concurrency",
                "4",
                "--floor",
                "--ceiling-requests",
                "300",
                "--json",
            ])
            .output()
            .unwrap()
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["answers"]["S"], 30, "{r}");
    assert_eq!(r["ledger_balanced"], true, "{r}");
    assert_eq!(r["gateway"], url.as_str());
    assert!(r["gateway_process"]["cpu_s"].as_f64().unwrap() > 0.0, "{r}");
    assert!(
        r["gateway_process"]["rss_mb"].as_f64().unwrap() > 1.0,
        "{r}"
    );
    // The gateway's end of an HTTP hop is read from its own process, and
    // its CPU per payment is set against its floor.
    assert_eq!(
        r["floor"]["http_hop_us"]["gateway_end_from"], "measured in the gateway's process",
        "{r}"
    );
    assert!(
        r["floor"]["gateway_cpu_over_floor"].as_f64().unwrap() > 1.0,
        "{r}"
    );
    // Its simulators are onboarded now: a second run says so, in a line.
    let again = run();
    assert_eq!(again.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("409"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

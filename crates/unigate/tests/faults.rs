//! Crash tests: a real `unigate serve` child killed with SIGKILL at each
//! named fault point (`store::faults`), then restarted on SQLite — or, on
//! PostgreSQL, replaced by a second node that takes its work over — and an
//! auditor checks that the gateway's ledger, the simulators' books and the
//! payment agree: nothing lost, nothing applied twice.
#![allow(
    clippy::indexing_slicing,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sign::{KeySigner, PrivateKey};
use sim::participant::{ParticipantSim, Role, Running, SimMerchant, SimUser};
use sim::peer::{Faults, GatewayKeys, Verifier};

/// The key-encryption key every test node shares (base64 of
/// "unigate-test-key-encryption-key!").
const TEST_KEK: &str = "dW5pZ2F0ZS10ZXN0LWtleS1lbmNyeXB0aW9uLWtleSE=";
const CN_TAG15: &str = "4802000048020000104110058120001";
const LIMIT: Duration = Duration::from_secs(40);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A gateway child: killed on drop; its stderr lines arrive on `lines`.
struct Node {
    child: Child,
    port: u16,
    lines: Receiver<String>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// `port`: the same as a dead node's, so the simulators keep fetching
    /// the gateway's keys where they did.
    fn start(db: &str, node: &str, fault: Option<&str>, port: Option<u16>) -> Node {
        // A port picked free may be taken again before the node binds it
        // (other tests run beside this one): try again on another.
        let mut last = Vec::new();
        for _ in 0..5 {
            match Node::try_start(db, node, fault, port.unwrap_or_else(free_port)) {
                Ok(n) => return n,
                Err(said) => last = said,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("serve did not start: {last:#?}");
    }

    /// Start a node on `port`; its stderr when it did not start.
    fn try_start(
        db: &str,
        node: &str,
        fault: Option<&str>,
        port: u16,
    ) -> Result<Node, Vec<String>> {
        let metrics = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_unigate"));
        cmd.args([
            "serve",
            "--db",
            db,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("UNIGATE_KEK", TEST_KEK)
        .env("UNIGATE_METRICS_LISTEN", format!("127.0.0.1:{metrics}"))
        .env("UNIGATE_NODE_ID", node)
        .env("UNIGATE_ALLOW_PRIVATE_CALLBACKS", "true")
        .env("UNIGATE_FX__FIRM_QUOTES", "rates")
        .env("UNIGATE_FX__STALENESS_S", "3600")
        .env("UNIGATE_PAYMENTS__CALLBACKS__TIMEOUT_MS", "2000")
        .env("UNIGATE_PAYMENTS__RECOVERY__INTERVAL_MS", "200")
        .env("UNIGATE_PAYMENTS__RECOVERY__MIN_AGE_MS", "500")
        .env("UNIGATE_PAYMENTS__RECOVERY__BACKOFF_BASE_MS", "100")
        .env("UNIGATE_PAYMENTS__RECOVERY__BACKOFF_MAX_MS", "400")
        .env("UNIGATE_PAYMENTS__RECOVERY__LEASE_TTL_MS", "2000")
        .env("UNIGATE_LOG_FORMAT", "text")
        .env("NO_COLOR", "1")
        .env_remove("UNIGATE_FAULT_POINT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        if let Some(f) = fault {
            cmd.env("UNIGATE_FAULT_POINT", f);
        }
        let mut child = cmd.spawn().expect("unigate serve starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut node = Node { child, port, lines };
        // Its own word that it listens (not merely something on the port).
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut said = Vec::new();
        loop {
            match node.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.contains("unigate serving") => return Ok(node),
                Ok(line) => said.push(line),
                Err(_) => {}
            }
            if node.child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                said.extend(node.lines.try_iter());
                return Err(said);
            }
        }
    }

    /// Wait for the fault point's line, then SIGKILL.
    fn kill_at(mut self, point: &str) {
        let deadline = Instant::now() + LIMIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(&format!("UNIGATE FAULT POINT {point} reached")) => break,
                Ok(line) => seen.push(line),
                Err(_) => panic!("{point} not reached; the node said: {seen:#?}"),
            }
        }
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn signer(id: &str) -> Arc<KeySigner> {
    let (key, _) = PrivateKey::generate_ed25519().unwrap();
    Arc::new(KeySigner {
        client_id: id.into(),
        key,
        key_version: 1,
    })
}

fn cn_code() -> String {
    let spec: qr::encode::MpmSpec = serde_json::from_value(json!({
        "format_indicator": "01", "initiation": "static", "accounts": {"15": CN_TAG15},
        "mcc": "5812", "currency": "CNY", "country": "CN",
        "merchant_name": "ERLIAN HOTPOT", "merchant_city": "ERENHOT",
    }))
    .unwrap();
    spec.encode(&qr::Options::default()).unwrap()
}

/// The participants as the test plays them: their simulators (which
/// outlive every gateway node) and their signed clients.
struct World {
    wallet: Arc<KeySigner>,
    acquirer: Arc<KeySigner>,
    wallet_sim: Running,
    acquirer_sim: Running,
    code: String,
    token: String,
    http: reqwest::Client,
}

async fn sim(me: &Arc<KeySigner>, role: Role, gateway_port: u16, books: &str) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    sim::participant::start(
        ParticipantSim {
            signer: me.clone(),
            role,
            faults: Faults::default(),
            // Every node of the test serves the same keys on whatever
            // port: the simulators ask the first one.
            verifier: Verifier::new(GatewayKeys::Fetch(format!(
                "http://127.0.0.1:{gateway_port}"
            ))),
        },
        listener,
        books,
    )
    .await
    .unwrap()
}

impl World {
    async fn op(&self, node: &Node, method: &str, path: &str, body: Value) -> Value {
        let req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", node.url()))
            .bearer_auth(&self.token);
        let req = if body.is_null() {
            req
        } else {
            req.header("Content-Type", "application/json")
                .body(body.to_string())
        };
        let r = req.send().await.unwrap();
        let status = r.status();
        let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v
    }

    async fn call(
        &self,
        node: &Node,
        who: &Arc<KeySigner>,
        method: &str,
        path: &str,
        body: Value,
    ) -> Value {
        let client =
            client::SignedClient::new(&node.url(), who.clone(), client::ClientLimits::default())
                .unwrap();
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let ct = (!bytes.is_empty()).then_some("application/json");
        let a = client.call(method, path, ct, bytes).await.unwrap();
        assert!(a.verified.is_ok(), "{path}: {:?}", a.verified);
        let v: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
        assert!((200..300).contains(&a.status), "{path}: {} {v}", a.status);
        v
    }

    /// Onboard both participants, the merchant, routes, the cap and rates.
    async fn onboard(&self, node: &Node) {
        for (id, role, cc, ccy, sim, key) in [
            (
                "mn-wallet",
                "wallet",
                "MN",
                "MNT",
                &self.wallet_sim,
                &self.wallet,
            ),
            (
                "cn-acq",
                "acquirer",
                "CN",
                "CNY",
                &self.acquirer_sim,
                &self.acquirer,
            ),
        ] {
            self.op(
                node,
                "POST",
                "/v1/admin/participants",
                json!({
                    "id": id, "legal_name": id, "roles": [role], "country": cc, "currencies": [ccy],
                    "settlement_currency": ccy, "settlement_account": format!("{cc}-1"),
                    "callback_base_url": format!("http://{}", sim.addr),
                }),
            )
            .await;
            self.op(
                node,
                "POST",
                &format!("/v1/admin/participants/{id}/keys"),
                json!({"public_key_pem": key.key.public_key().to_pem().unwrap()}),
            )
            .await;
            for to in [
                "admitted",
                "joint_testing",
                "production_verification",
                "signed",
                "live",
            ] {
                self.op(
                    node,
                    "POST",
                    &format!("/v1/admin/participants/{id}/stage"),
                    json!({"to": to, "reason": "crash test"}),
                )
                .await;
            }
        }
        self.call(node, &self.acquirer, "POST", "/v1/merchants", json!({
            "request_id": "m-1", "acquirer_merchant_id": "cn-m1", "name": "ERLIAN HOTPOT",
            "mcc": "5812", "country": "CN", "city": "ERENHOT", "time_zone": "Asia/Shanghai",
            "kyb_status": "verified", "identifiers": [{"kind": "unionpay_id", "value": CN_TAG15}],
        }))
        .await;
        self.op(node, "POST", "/v1/admin/routes",
            json!({"side": "merchant", "kind": "account", "value": "15:48020000", "participant_id": "cn-acq"}))
            .await;
        self.op(node, "PUT", "/v1/admin/ledger/limits",
            json!({"participant": "mn-wallet", "currency": "MNT", "kind": "net_debit_cap", "amount": "900000000000"}))
            .await;
        self.op(
            node,
            "PUT",
            "/v1/admin/fx/rates",
            json!({"rates": [
                {"base": "CNY", "quote": "MNT", "bid": "478", "ask": "482", "source": "test"},
            ]}),
        )
        .await;
    }

    /// Consult and quote for `value` CNY fen; the pay body.
    async fn prepare(&self, node: &Node, rid: &str, value: i64) -> Value {
        let payer = json!({"id": "u-mn", "name": "Bat-Erdene Dorj", "country": "MN"});
        let consult = self
            .call(
                node,
                &self.wallet,
                "POST",
                "/v1/mpm/consult",
                json!({"code": self.code, "payer": payer, "pay_currency": "MNT"}),
            )
            .await;
        let amount = json!({"value": value.to_string(), "currency": "CNY"});
        let quote = self
            .call(
                node,
                &self.wallet,
                "POST",
                "/v1/quotes",
                json!({
                    "request_id": format!("{rid}-q"), "payer": payer,
                    "merchant_id": consult["merchant"]["gateway_merchant_id"],
                    "pay_currency": "MNT", "receive": amount,
                }),
            )
            .await;
        json!({"request_id": rid, "mode": "mpm", "code": self.code, "amount": amount,
               "payer": payer, "quote_id": quote["quote_id"]})
    }
}

/// What the auditor expects of the payment after the crash.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Nothing reached the acquirer: failed, reservation voided.
    Failed,
    /// The acquirer credited the merchant: succeeded, by inquiry or as stored.
    Succeeded,
}

/// An operator token, a node that stops at `point`, the simulators (their
/// books in a directory of their own) and everything onboarded.
async fn setup(db: &str, point: &str, second_node: bool) -> (std::path::PathBuf, Node, World) {
    let dir = std::env::temp_dir().join(format!(
        "unigate-crash-{point}-{}-{second_node}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_unigate"))
        .args([
            "token", "create", "--role", "operator", "--label", "crash", "--db", db,
        ])
        .env("UNIGATE_KEK", TEST_KEK)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let node = Node::start(db, "node-a", Some(point), None);
    let (wallet, acquirer) = (signer("mn-wallet"), signer("cn-acq"));
    let code = cn_code();
    let books = |name: &str| format!("sqlite://{}?mode=rwc", dir.join(name).display());
    let mnt = money::Currency::parse("MNT").unwrap();
    let world = World {
        wallet_sim: sim(
            &wallet,
            Role::Wallet {
                users: vec![SimUser {
                    id: "u-mn".into(),
                    name: "Bat-Erdene Dorj".into(),
                    country: "MN".into(),
                    balance: money::Money::new(1_000_000_000, mnt),
                }],
            },
            node.port,
            &books("wallet.db"),
        )
        .await,
        acquirer_sim: sim(
            &acquirer,
            Role::Acquirer {
                merchants: vec![SimMerchant {
                    merchant_id: "cn-m1".into(),
                    name: "ERLIAN HOTPOT".into(),
                    mcc: "5812".into(),
                    city: "ERENHOT".into(),
                    country: "CN".into(),
                    currency: money::Currency::parse("CNY").unwrap(),
                    codes: vec![code.clone()],
                }],
            },
            node.port,
            &books("acquirer.db"),
        )
        .await,
        wallet,
        acquirer,
        code,
        token,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
    };
    world.onboard(&node).await;
    (dir, node, world)
}

async fn crash_at(point: &str, expect: Expect, db: &str, second_node: bool) {
    let (dir, node, world) = setup(db, point, second_node).await;
    let port = node.port;
    let body = world.prepare(&node, "crash-1", 12_345).await;
    // The payment runs into the fault point: its request never answers.
    let client = client::SignedClient::new(
        &node.url(),
        world.wallet.clone(),
        client::ClientLimits::default(),
    )
    .unwrap();
    let pay = tokio::spawn(async move {
        client
            .call(
                "POST",
                "/v1/payments",
                Some("application/json"),
                body.to_string().into_bytes(),
            )
            .await
    });
    let point_owned = point.to_string();
    tokio::task::spawn_blocking(move || node.kill_at(&point_owned))
        .await
        .unwrap();
    let _ = pay.await;

    // Restart (SQLite), or a second node takes over (PostgreSQL).
    let survivor = Node::start(
        db,
        if second_node { "node-b" } else { "node-a" },
        None,
        Some(port),
    );
    let store = store::Store::open(db, store::StoreOptions::default())
        .await
        .unwrap();
    let deadline = Instant::now() + LIMIT;
    let record = loop {
        let r = store
            .payment_by_request("mn-wallet", "crash-1")
            .await
            .unwrap();
        let pending = store
            .notifications_list(Some(store::NotificationStatus::Pending), None, 100)
            .await
            .unwrap();
        if let Some(r) = r.filter(|r| r.state.is_final())
            && pending.is_empty()
        {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "{point}: not finished within {LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let id = record.payment.id.clone();
    let history: Vec<String> = store
        .payment_history(&id)
        .await
        .unwrap()
        .iter()
        .map(|h| {
            format!(
                "{:?} -{:?}-> {} ({}, {})",
                h.from, h.event, h.to, h.detail, h.node
            )
        })
        .collect();

    // The auditor.
    let merchant_credit = world.acquirer_sim.balance("cn-m1").await.unwrap();
    let entries = world.acquirer_sim.entries().await.unwrap();
    let pays: Vec<_> = entries
        .iter()
        .filter(|e| e.call == "pay" && e.status == "S")
        .collect();
    let transfers = store.ledger_transfers(&id).await.unwrap();
    assert!(
        transfers.iter().all(|t| !t.open),
        "{point}: a reservation is still open: {transfers:#?}"
    );
    match expect {
        Expect::Failed => {
            assert_eq!(
                record.state,
                payment::State::Failed,
                "{point}: {history:#?}"
            );
            assert_eq!(merchant_credit, 0, "{point}: the merchant was credited");
            assert!(pays.is_empty(), "{point}: {pays:?}");
            assert!(
                transfers
                    .iter()
                    .all(|t| t.phase != "post" && t.phase != "single"),
                "{point}: {transfers:#?}"
            );
        }
        Expect::Succeeded => {
            assert_eq!(
                record.state,
                payment::State::Succeeded,
                "{point}: {history:#?}"
            );
            // Applied once on each side.
            assert_eq!(pays.len(), 1, "{point}: {entries:?}");
            assert_eq!(merchant_credit, record.payment.merchant_amount.minor);
            let posted: i64 = transfers
                .iter()
                .filter(|t| t.phase == "post" && t.credit == "cn-acq:settlement:CNY")
                .map(|t| t.amount)
                .sum();
            assert_eq!(
                posted, record.payment.merchant_amount.minor,
                "{point}: {transfers:#?}"
            );
        }
    }
    let trial = store.ledger_trial_balance().await.unwrap();
    assert!(trial.iter().all(|(_, d, c)| d == c), "{point}: {trial:?}");
    // Every notification sent, and booked once by its participant.
    let notes = store
        .notifications_list(None, Some(&id), 100)
        .await
        .unwrap();
    assert!(!notes.is_empty(), "{point}: no notification");
    for n in &notes {
        assert_eq!(n.status, store::NotificationStatus::Sent, "{point}: {n:?}");
        let sim = if n.participant == "cn-acq" {
            &world.acquirer_sim
        } else {
            &world.wallet_sim
        };
        let booked = sim
            .entries()
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.call == "notify" && e.request_id == n.id)
            .count();
        assert_eq!(
            booked, 1,
            "{point}: notification {} booked {booked} times",
            n.id
        );
    }
    if point == "after_send" {
        assert!(
            history.iter().any(|h| h.contains("inquiry: S")),
            "{point}: {history:#?}"
        );
    }
    if second_node && point != "after_success" {
        // The payment was finished by the node that took over.
        assert!(
            history.iter().any(|h| h.contains("node-b")),
            "node-b took over: {history:#?}"
        );
    }

    // The surviving node pays normally.
    let body = world.prepare(&survivor, "crash-2", 2_000).await;
    let r = world
        .call(&survivor, &world.wallet, "POST", "/v1/payments", body)
        .await;
    assert_eq!(r["result"]["status"], "S", "{r}");
    store.close().await;
    drop(survivor);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Killed in the middle of a cycle's close: the cycle is as it was; the
/// next close closes it.
async fn crash_mid_close(db: &str, second_node: bool) {
    let (dir, node, world) = setup(db, "mid_close", second_node).await;
    let port = node.port;
    let body = world.prepare(&node, "close-1", 5_000).await;
    let paid = world
        .call(&node, &world.wallet, "POST", "/v1/payments", body)
        .await;
    assert_eq!(paid["result"]["status"], "S", "{paid}");
    let date = paid["payment"]["clearing_date"]
        .as_str()
        .unwrap()
        .to_string();
    let (http, url, token) = (world.http.clone(), node.url(), world.token.clone());
    let path = format!("/v1/admin/cycles/{date}/close");
    let close = tokio::spawn(async move {
        http.post(format!("{url}{path}"))
            .bearer_auth(token)
            .header("Content-Type", "application/json")
            .body(r#"{"early": true}"#)
            .send()
            .await
    });
    tokio::task::spawn_blocking(move || node.kill_at("mid_close"))
        .await
        .unwrap();
    let _ = close.await;
    let store = store::Store::open(db, store::StoreOptions::default())
        .await
        .unwrap();
    let cycle = store.cycle_get(&date).await.unwrap().unwrap();
    assert!(
        ["open", "cut_off"].contains(&cycle.state.as_str()),
        "{cycle:?}"
    );
    assert!(store.cycle_positions(&date).await.unwrap().is_empty());
    assert!(store.cycle_instructions(&date).await.unwrap().is_empty());
    let survivor = Node::start(
        db,
        if second_node { "node-b" } else { "node-a" },
        None,
        Some(port),
    );
    let closed = world
        .op(
            &survivor,
            "POST",
            &format!("/v1/admin/cycles/{date}/close"),
            json!({"early": true}),
        )
        .await;
    assert_eq!(closed["outcome"], "closed", "{closed}");
    let positions = store.cycle_positions(&date).await.unwrap();
    assert!(!positions.is_empty());
    let mut per_ccy = std::collections::BTreeMap::<String, i64>::new();
    for p in &positions {
        *per_ccy.entry(p.currency.clone()).or_default() += p.net;
    }
    assert!(per_ccy.values().all(|v| *v == 0), "{positions:?}");
    store.close().await;
    drop(survivor);
    let _ = std::fs::remove_dir_all(&dir);
}

fn sqlite_db(point: &str) -> String {
    let dir = std::env::temp_dir().join(format!("unigate-crashdb-{point}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    format!("sqlite://{}", dir.join("gateway.db").display())
}

fn postgres_db(point: &str) -> Option<String> {
    let base = match std::env::var("UNIGATE_TEST_POSTGRES_URL") {
        Ok(b) if !b.is_empty() => b,
        _ => {
            eprintln!(
                "!!! UNIGATE_TEST_POSTGRES_URL is not set: the PostgreSQL crash test at {point} was SKIPPED"
            );
            return None;
        }
    };
    let schema = format!("t_crash_{point}_{}", std::process::id());
    let ok = Command::new("psql")
        .args([
            &base,
            "-q",
            "-c",
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"),
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "creating schema {schema}");
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

/// Remove a SQLite test database's directory.
fn drop_sqlite(db: &str) {
    if let Some(dir) = db
        .strip_prefix("sqlite://")
        .and_then(|f| std::path::Path::new(f).parent())
    {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn drop_schema(db: &str) {
    if let Some((base, schema)) = db.split_once("?options=-c%20search_path%3D") {
        let _ = Command::new("psql")
            .args([
                base,
                "-q",
                "-c",
                &format!(
                    "SET client_min_messages = warning; DROP SCHEMA IF EXISTS {schema} CASCADE"
                ),
            ])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_in_the_middle_of_a_close_the_cycle_is_as_it_was() {
    let db = sqlite_db("mid_close");
    tokio::time::timeout(2 * LIMIT, crash_mid_close(&db, false))
        .await
        .expect("mid_close on SQLite in time");
    drop_sqlite(&db);
    if let Some(db) = postgres_db("mid_close") {
        tokio::time::timeout(2 * LIMIT, crash_mid_close(&db, true))
            .await
            .expect("mid_close on PostgreSQL in time");
        drop_schema(&db);
    }
}

async fn both(point: &str, expect: Expect) {
    let db = sqlite_db(point);
    tokio::time::timeout(2 * LIMIT, crash_at(point, expect, &db, false))
        .await
        .unwrap_or_else(|_| panic!("{point} on SQLite: over {:?}", 2 * LIMIT));
    drop_sqlite(&db);
    if let Some(db) = postgres_db(point) {
        tokio::time::timeout(2 * LIMIT, crash_at(point, expect, &db, true))
            .await
            .unwrap_or_else(|_| panic!("{point} on PostgreSQL: over {:?}", 2 * LIMIT));
        drop_schema(&db);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_reservation_the_payment_fails_and_the_reservation_is_released() {
    both("after_reserve", Expect::Failed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_acquirer_answered_the_payment_is_found_out_by_inquiry() {
    both("after_send", Expect::Succeeded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_success_was_stored_the_notifications_still_go_out_once() {
    both("after_success", Expect::Succeeded).await;
}

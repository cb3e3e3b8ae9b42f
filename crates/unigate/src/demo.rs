//! `unigate demo`: the gateway, seven wallets, six acquirers and an FX
//! provider, simulated, in one process over real signed HTTP on loopback,
//! on embedded SQLite. The participants are onboarded through the
//! operator API and walked to `live`; then a seeded mix of MPM and CPM
//! payments runs in every direction, some refunded and some cancelled,
//! while the simulators add latency, declines, failures and timeouts. The
//! gateway's resolver finishes what those leave open, and the summary
//! checks the ledger against itself and against the simulators' books.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures_util::StreamExt;
use payment::State as PayState;
use serde_json::{Value, json};
use sign::{KeySigner, PrivateKey};
use sim::participant::{ParticipantSim, Role, Running, SimMerchant, SimUser};
use sim::peer::{Faults, GatewayKeys, Verifier};

/// The database the demo writes by default, replaced on each run and kept
/// afterwards.
pub const DEMO_DB: &str = "unigate-demo.db";
/// The most payments one demo runs.
pub const DEMO_PAYMENTS_MAX: u32 = 20_000;
/// Payments in flight at once.
const IN_FLIGHT: usize = 8;
/// How long the demo waits for the resolver to finish what is open.
const DRAIN_LIMIT: Duration = Duration::from_secs(180);

/// One country of the demo: its currency, what 100 CNY is worth in its
/// minor units (to size amounts alike everywhere), its wallet's payment
/// code prefix, and its acquirer's merchant code, if it has one.
struct Country {
    cc: &'static str,
    ccy: &'static str,
    per_100_cny: i64,
    code_prefix: &'static str,
    merchant: Option<MerchantCode>,
}

/// A merchant's static code and what routes it to its acquirer.
struct MerchantCode {
    name: &'static str,
    city: &'static str,
    time_zone: &'static str,
    /// The route: kind and value.
    route: (&'static str, &'static str),
    code: CodeSource,
}

enum CodeSource {
    /// Encoded here from an `MpmSpec`.
    Spec(fn() -> Value),
    /// A published static code, used as is.
    Published(&'static str),
}

const COUNTRIES: [Country; 7] = [
    Country {
        cc: "CN",
        ccy: "CNY",
        per_100_cny: 10_000,
        code_prefix: "1391",
        merchant: Some(MerchantCode {
            name: "ERLIAN HOTPOT",
            city: "ERENHOT",
            time_zone: "Asia/Shanghai",
            route: ("account", "15:48020000"),
            code: CodeSource::Spec(|| {
                json!({
                    "format_indicator": "01", "initiation": "static",
                    "accounts": {"15": "4802000048020000104110058120001"},
                    "mcc": "5812", "currency": "CNY", "country": "CN",
                    "merchant_name": "ERLIAN HOTPOT", "merchant_city": "ERENHOT",
                })
            }),
        }),
    },
    Country {
        cc: "MN",
        ccy: "MNT",
        per_100_cny: 4_800_000,
        code_prefix: "1397",
        merchant: None,
    },
    Country {
        cc: "TH",
        ccy: "THB",
        per_100_cny: 49_000,
        code_prefix: "1392",
        merchant: Some(MerchantCode {
            name: "SOM TAM HOUSE",
            city: "BANGKOK",
            time_zone: "Asia/Bangkok",
            route: ("account", "A000000677010111"),
            code: CodeSource::Spec(|| {
                json!({
                    "format_indicator": "01", "initiation": "static",
                    "accounts": {"29": {"00": "A000000677010111", "01": "0066812345678"}},
                    "mcc": "5812", "currency": "THB", "country": "TH",
                    "merchant_name": "SOM TAM HOUSE", "merchant_city": "BANGKOK",
                })
            }),
        }),
    },
    Country {
        cc: "SG",
        ccy: "SGD",
        per_100_cny: 1_800,
        code_prefix: "1393",
        merchant: Some(MerchantCode {
            name: "HAWKER CORNER",
            city: "SINGAPORE",
            time_zone: "Asia/Singapore",
            route: ("account", "SG.PAYNOW"),
            // A published PayNow static code (mobile proxy, editable
            // amount): crates/qr/tests/fixtures/schemes.json,
            // "paynow_mobile_6584554295_editable_no_amount".
            code: CodeSource::Published(
                "00020101021126380009SG.PAYNOW010100211+6584554295030115204000053037025802SG5902NA6009SINGAPORE630416D8",
            ),
        }),
    },
    Country {
        cc: "HK",
        ccy: "HKD",
        per_100_cny: 10_800,
        code_prefix: "1394",
        merchant: Some(MerchantCode {
            name: "DIM SUM PLACE",
            city: "HONG KONG",
            time_zone: "Asia/Hong_Kong",
            route: ("account", "hk.com.hkicl"),
            code: CodeSource::Spec(|| {
                json!({
                    "format_indicator": "01", "initiation": "static",
                    "accounts": {"26": {"00": "hk.com.hkicl", "02": "9999999"}},
                    "mcc": "5812", "currency": "HKD", "country": "HK",
                    "merchant_name": "DIM SUM PLACE", "merchant_city": "HONG KONG",
                })
            }),
        }),
    },
    Country {
        cc: "VN",
        ccy: "VND",
        per_100_cny: 350_000,
        code_prefix: "1395",
        merchant: Some(MerchantCode {
            name: "PHO HANOI",
            city: "HANOI",
            time_zone: "Asia/Ho_Chi_Minh",
            route: ("account", "A000000727"),
            // A published VietQR static code: crates/qr/tests/fixtures/
            // schemes.json, "vn2_subiz_test_static".
            code: CodeSource::Published(
                "00020101021138540010A00000072701240006970423011000999999990208QRIBFTTA53037045802VN6304CBB4",
            ),
        }),
    },
    Country {
        cc: "MY",
        ccy: "MYR",
        per_100_cny: 6_200,
        code_prefix: "1396",
        merchant: Some(MerchantCode {
            name: "NASI LEMAK STALL",
            city: "KUALA LUMPUR",
            time_zone: "Asia/Kuala_Lumpur",
            route: ("account", "A0000006150001"),
            code: CodeSource::Spec(|| {
                json!({
                    "format_indicator": "01", "initiation": "static",
                    "accounts": {"26": {"00": "A0000006150001", "01": "890053", "02": "DEMO0001"}},
                    "mcc": "5812", "currency": "MYR", "country": "MY",
                    "merchant_name": "NASI LEMAK STALL", "merchant_city": "KUALA LUMPUR",
                })
            }),
        }),
    },
];

/// What the demo is asked to do.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub payments: u32,
    pub json: bool,
    /// The gateway's SQLite file (default [`DEMO_DB`]).
    pub db: Option<PathBuf>,
    pub seed: u64,
    /// Simulators without latency, declines, failures or timeouts.
    pub no_faults: bool,
}

/// The value at a JSON pointer, or null.
fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    v.pointer(pointer).unwrap_or(&Value::Null)
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    at(v, pointer).as_str().unwrap_or("")
}

fn currency(code: &str) -> anyhow::Result<money::Currency> {
    money::Currency::parse(code).map_err(anyhow::Error::msg)
}

/// A seeded draw in `0..n` (splitmix64): the same seed, the same mix.
fn draw(seed: u64, n: u64, salt: u64) -> u64 {
    let mut z = seed
        .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(salt.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The item a draw falls on.
fn pick<T>(items: &[T], draw: u64) -> anyhow::Result<&T> {
    let n = u64::try_from(items.len()).unwrap_or(1).max(1);
    items
        .get(usize::try_from(draw % n).unwrap_or(0))
        .context("nothing to pick from")
}

pub(crate) struct Party {
    id: String,
    client: client::SignedClient,
}

/// The gateway as the demo's operator and participants see it.
pub(crate) struct Net {
    pub(crate) url: String,
    pub(crate) http: reqwest::Client,
    op_token: String,
    wallets: BTreeMap<&'static str, (Party, Running)>,
    acquirers: BTreeMap<&'static str, (Party, Running, String)>,
    /// Quote requests the FX simulator has answered.
    fx_requests: Arc<std::sync::atomic::AtomicU64>,
}

impl Net {
    /// The hops so far: signed requests the participants sent the gateway,
    /// and calls the gateway made to the simulators (callbacks,
    /// notifications, FX quotes).
    pub(crate) fn hops(&self) -> (u64, u64) {
        let wallets = self.wallets.values().map(|(p, r)| (p, r));
        let acquirers = self.acquirers.values().map(|(p, r, _)| (p, r));
        let (mut inbound, mut outbound) = (0, 0);
        for (party, running) in wallets.chain(acquirers) {
            inbound += party.client.requests_sent();
            outbound += running.requests();
        }
        (
            inbound,
            outbound + self.fx_requests.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    fn wallet(&self, cc: &str) -> anyhow::Result<&(Party, Running)> {
        self.wallets
            .get(cc)
            .with_context(|| format!("no {cc} wallet"))
    }

    fn acquirer(&self, cc: &str) -> anyhow::Result<&(Party, Running, String)> {
        self.acquirers
            .get(cc)
            .with_context(|| format!("no {cc} acquirer"))
    }

    pub(crate) async fn op(&self, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        let req = self
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes())?,
                format!("{}{path}", self.url),
            )
            .bearer_auth(&self.op_token);
        let req = if body.is_null() {
            req
        } else {
            req.header("Content-Type", "application/json")
                .body(body.to_string())
        };
        let answer = req.send().await?;
        let status = answer.status();
        let json: Value = serde_json::from_slice(&answer.bytes().await?).unwrap_or(Value::Null);
        ensure!(status.is_success(), "{method} {path}: {status} {json}");
        Ok(json)
    }
}

async fn call(p: &Party, method: &str, target: &str, body: Value) -> anyhow::Result<Value> {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let ct = (!bytes.is_empty()).then_some("application/json");
    let answer = p.client.call(method, target, ct, bytes).await?;
    if let Err(why) = &answer.verified {
        bail!(
            "{} {method} {target}: the gateway's answer does not verify: {why}",
            p.id
        );
    }
    let json: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    ensure!(
        (200..300).contains(&answer.status),
        "{} {method} {target}: HTTP {} {json}",
        p.id,
        answer.status
    );
    Ok(json)
}

fn signer(id: &str) -> anyhow::Result<Arc<KeySigner>> {
    let (key, _) = PrivateKey::generate_ed25519()?;
    Ok(Arc::new(KeySigner {
        client_id: id.into(),
        key,
        key_version: 1,
    }))
}

/// The simulators' faults: slow, and now and then a decline, a failure
/// (HTTP 500, nothing done) or a timeout (done, answered too late).
fn faults(seed: u64, none: bool) -> Faults {
    if none {
        return Faults {
            seed,
            ..Faults::default()
        };
    }
    Faults {
        latency_ms: 2,
        decline_rate: 0.02,
        failure_rate: 0.01,
        timeout_rate: 0.005,
        hang_ms: 1_500,
        bad_signature_rate: 0.0,
        seed,
    }
}

pub fn run(options: DemoOptions) -> anyhow::Result<ExitCode> {
    ensure!(
        (1..=DEMO_PAYMENTS_MAX).contains(&options.payments),
        "--payments is 1 to {DEMO_PAYMENTS_MAX}"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(demo(options))
}

/// An empty directory at `dir` (what was there is removed).
fn fresh_dir(dir: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Remove a database file and its SQLite companions.
fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// One payment attempt and what became of it.
pub(crate) struct Attempt {
    pub(crate) mode: &'static str,
    /// The payment id, when the gateway made a payment.
    pub(crate) payment: Option<String>,
    /// The first answer's status and code.
    pub(crate) answer: (String, String),
}

// The demo's output is its summary on stdout and its progress on stderr.
/// The gateway and its simulated participants, onboarded and live, with
/// the FX provider's first rates in: what the demo and the load generator
/// drive.
pub(crate) struct World {
    /// The gateway's store when it runs here (not when driven remotely).
    pub(crate) store: Option<store::Store>,
    pub(crate) net: Net,
    pub(crate) codes: BTreeMap<&'static str, String>,
    pub(crate) db_text: String,
    pub(crate) sims_dir: PathBuf,
    resolver: Option<tokio::task::JoinHandle<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    fx_task: tokio::task::JoinHandle<Result<(), sim::fx::SimError>>,
}

impl World {
    /// Stop the background work (the resolver first).
    pub(crate) fn stop_resolver(&self) {
        if let Some(r) = &self.resolver {
            r.abort();
        }
    }

    pub(crate) async fn stop(self) {
        self.stop_resolver();
        if let Some(s) = &self.server {
            s.abort();
        }
        self.fx_task.abort();
        if let Some(store) = &self.store {
            store.close().await;
        }
    }
}

/// The world around a gateway running elsewhere (`url`, an operator
/// token): the simulators start here, with their books in `sims_dir`,
/// and are onboarded there. Its store is not ours to read.
pub(crate) async fn remote_world(
    url: &str,
    op_token: &str,
    sims_dir: &Path,
    seed: u64,
    no_faults: bool,
) -> anyhow::Result<World> {
    fresh_dir(sims_dir)?;
    let (net, codes, fx_task) = populate(url, op_token, sims_dir, seed, no_faults).await?;
    Ok(World {
        store: None,
        net,
        codes,
        db_text: url.to_string(),
        sims_dir: sims_dir.to_path_buf(),
        resolver: None,
        server: None,
        fx_task,
    })
}

/// Start the world on a fresh SQLite file `db` (removed first).
pub(crate) async fn start_world(
    db: &Path,
    seed: u64,
    no_faults: bool,
    limits: api::HttpLimits,
) -> anyhow::Result<World> {
    let db_text = db.to_string_lossy().to_string();
    remove_db(db);
    let sims_dir = PathBuf::from(format!("{db_text}-sims"));
    fresh_dir(&sims_dir)?;
    let store = store::Store::open(
        &format!("sqlite://{db_text}"),
        store::StoreOptions::default(),
    )
    .await
    .with_context(|| format!("opening {db_text}"))?;
    // The key-encryption key beside the database, where `unigate serve`
    // looks for it in development: the demo's database opens there later.
    let kek = crate::kek::replace_beside_database(&format!("sqlite://{db_text}"))?;
    let keys =
        Arc::new(keyring::GatewayKeys::load_or_create(store.clone(), kek, api::now_ms()).await?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let callbacks = api::payments::CallbackLimits {
        timeout_ms: 1_000,
        ..api::payments::CallbackLimits::default()
    };
    let payments_config = api::payments::PaymentsConfig {
        callbacks,
        // Fast enough for a demo: a request gets 2.5 s before the
        // resolver may take its payment up.
        recovery: api::recovery::RecoveryConfig {
            interval_ms: 250,
            min_age_ms: 2_500,
            backoff_base_ms: 500,
            backoff_max_ms: 2_000,
            inquiry_budget: 4,
            cancel_budget: 4,
            lease_ttl_ms: 10_000,
            notify_attempts: 8,
            ..api::recovery::RecoveryConfig::default()
        },
        ..api::payments::PaymentsConfig::default()
    };
    let fee_rule: ledger::fees::FeeRule = serde_json::from_value(json!({
        "rate_bps": 60, "min_minor": 1,
        "split": {"acquirer_bps": 6000, "wallet_bps": 3000, "gateway_bps": 1000}
    }))?;
    let state = api::AppState {
        connectors: api::payments::connectors(keys.clone(), store.clone(), &callbacks, true)
            .map_err(anyhow::Error::msg)?,
        payments: payments_config,
        risk: Arc::new(api::payments::ApproveAll),
        risk_rules: Arc::default(),
        store: store.clone(),
        limits,
        node_id: "demo".into(),
        // The simulators answer on loopback.
        allow_private_callbacks: true,
        keys,
        signing: api::signed::SigningConfig::default(),
        policy: participant::StagePolicy::default(),
        idempotency_retention_ms: api::IDEMPOTENCY_RETENTION_MS_DEFAULT,
        fees: Arc::new(
            ledger::fees::Schedule::load(vec![fee_rule]).map_err(|e| anyhow::anyhow!("{e}"))?,
        ),
        routing: api::routes::RoutingConfig::default(),
        fx: api::fx::FxConfig {
            firm_quotes: "callback".into(),
            house_book: false,
            staleness_s: 3_600,
            ..api::fx::FxConfig::default()
        },
    };
    let resolver = api::recovery::spawn(state.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, api::router(state)).await;
    });
    let (_, op_token) = store.token_create(store::Role::Operator, "demo", 1).await?;
    let (net, codes, fx_task) = populate(&url, &op_token, &sims_dir, seed, no_faults).await?;
    Ok(World {
        store: Some(store),
        net,
        codes,
        db_text,
        sims_dir,
        resolver: Some(resolver),
        server: Some(server),
        fx_task,
    })
}

/// Start the simulated participants and onboard them, live, on the
/// gateway at `url` through its operator API (`op_token`): what a drill
/// against a gateway running elsewhere does too. Their books go in
/// `sims_dir`.
pub(crate) async fn populate(
    url: &str,
    op_token: &str,
    sims_dir: &Path,
    seed: u64,
    no_faults: bool,
) -> anyhow::Result<(
    Net,
    BTreeMap<&'static str, String>,
    tokio::task::JoinHandle<Result<(), sim::fx::SimError>>,
)> {
    let url = url.to_string();
    let op_token = op_token.to_string();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;

    // The simulators, each with its own books beside the database.
    let mut signers: BTreeMap<String, Arc<KeySigner>> = BTreeMap::new();
    let mut wallets = BTreeMap::new();
    let mut acquirers = BTreeMap::new();
    let mut codes: BTreeMap<&str, String> = BTreeMap::new();
    for (i, c) in COUNTRIES.iter().enumerate() {
        let salt = u64::try_from(i).unwrap_or(0);
        let id = format!("{}-wallet", c.cc.to_lowercase());
        let me = signer(&id)?;
        let users = vec![SimUser {
            id: format!("u-{}", c.cc.to_lowercase()),
            name: format!("Demo payer {}", c.cc),
            country: c.cc.into(),
            balance: money::Money::new(c.per_100_cny.saturating_mul(10_000_000), currency(c.ccy)?),
        }];
        let sim = start_sim(
            &me,
            &url,
            Role::Wallet { users },
            sims_dir,
            &id,
            faults(seed ^ salt, no_faults),
        )
        .await?;
        signers.insert(id.clone(), me.clone());
        wallets.insert(c.cc, (party(&url, &id, &me)?, sim));
        if let Some(m) = &c.merchant {
            let code = match &m.code {
                CodeSource::Spec(spec) => {
                    let spec: qr::encode::MpmSpec = serde_json::from_value(spec())?;
                    spec.encode(&qr::Options::default())
                        .map_err(|e| anyhow::anyhow!("encoding the {} code: {e}", c.cc))?
                }
                CodeSource::Published(text) => (*text).to_string(),
            };
            let id = format!("{}-acq", c.cc.to_lowercase());
            let me = signer(&id)?;
            let merchant_id = format!("{}-m1", c.cc.to_lowercase());
            let merchants = vec![SimMerchant {
                merchant_id: merchant_id.clone(),
                name: m.name.into(),
                mcc: "5812".into(),
                city: m.city.into(),
                country: c.cc.into(),
                currency: currency(c.ccy)?,
                codes: vec![code.clone()],
            }];
            let sim = start_sim(
                &me,
                &url,
                Role::Acquirer { merchants },
                sims_dir,
                &id,
                faults(seed ^ (salt + 100), no_faults),
            )
            .await?;
            signers.insert(id.clone(), me.clone());
            acquirers.insert(c.cc, (party(&url, &id, &me)?, sim, merchant_id));
            codes.insert(c.cc, code);
        }
    }
    let fx_id = "fx-provider";
    let fx_signer = signer(fx_id)?;
    signers.insert(fx_id.into(), fx_signer.clone());
    let fx_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let fx_addr = fx_listener.local_addr()?;
    let net = Net {
        url: url.clone(),
        http,
        op_token,
        wallets,
        acquirers,
        fx_requests: Arc::new(std::sync::atomic::AtomicU64::new(0)),
    };

    // Onboarding through the operator API, as an operator would.
    let mut onboard: Vec<(String, &str, &str, &str, String)> = Vec::new();
    for c in &COUNTRIES {
        let (p, sim) = net.wallet(c.cc)?;
        onboard.push((
            p.id.clone(),
            "wallet",
            c.cc,
            c.ccy,
            format!("http://{}", sim.addr),
        ));
        if let Some((p, sim, _)) = net.acquirers.get(c.cc) {
            onboard.push((
                p.id.clone(),
                "acquirer",
                c.cc,
                c.ccy,
                format!("http://{}", sim.addr),
            ));
        }
    }
    onboard.push((
        fx_id.into(),
        "fx_provider",
        "SG",
        "CNY",
        format!("http://{fx_addr}"),
    ));
    let all_ccys: Vec<&str> = COUNTRIES.iter().map(|c| c.ccy).collect();
    for (id, role, cc, ccy, callback) in &onboard {
        let currencies: Vec<&str> = if *role == "fx_provider" {
            all_ccys.clone()
        } else {
            vec![*ccy]
        };
        net.op(
            "POST",
            "/v1/admin/participants",
            json!({
                "id": id, "legal_name": format!("{id} (simulated)"), "roles": [role],
                "country": cc, "currencies": currencies, "settlement_currency": ccy,
                "settlement_account": format!("{cc}-SETTLE-{id}"),
                "callback_base_url": callback,
            }),
        )
        .await?;
        let key = signers.get(id).context("a participant without a key")?;
        net.op(
            "POST",
            &format!("/v1/admin/participants/{id}/keys"),
            json!({"public_key_pem": key.key.public_key().to_pem()?}),
        )
        .await?;
        for to in [
            "admitted",
            "joint_testing",
            "production_verification",
            "signed",
            "live",
        ] {
            net.op(
                "POST",
                &format!("/v1/admin/participants/{id}/stage"),
                json!({"to": to, "reason": "demo"}),
            )
            .await?;
        }
    }
    // The FX provider prices every pair from its mids, pushed as rates.
    let mut mids = Vec::new();
    for (i, a) in COUNTRIES.iter().enumerate() {
        for b in COUNTRIES.iter().skip(i + 1) {
            // Units of b per unit of a, from their values of 100 CNY.
            let mid = rust_decimal_mid(a, b)?;
            mids.push((currency(a.ccy)?, currency(b.ccy)?, mid));
        }
    }
    let fx_sim = sim::fx::FxSim {
        gateway: url.clone(),
        signer: fx_signer,
        mids,
        spread_bps: 40,
        latency_ms: if no_faults { 0 } else { 2 },
        decline_every: 0,
        // A quarter of the gateway's default staleness window (60 s), so a
        // late push never leaves the book without rates.
        push_every_ms: 15_000,
        quote_slack_s: 30,
        gateway_keys: None,
    };
    let fx_task = tokio::spawn(sim::fx::run_counted(
        fx_sim,
        fx_listener,
        net.fx_requests.clone(),
    ));

    for c in &COUNTRIES {
        let Some(m) = &c.merchant else { continue };
        let (acq, _, merchant_id) = net.acquirer(c.cc)?;
        call(
            acq,
            "POST",
            "/v1/merchants",
            json!({
                "request_id": format!("m-{merchant_id}"), "acquirer_merchant_id": merchant_id,
                "name": m.name, "mcc": "5812", "country": c.cc, "city": m.city,
                "time_zone": m.time_zone, "kyb_status": "verified",
                "identifiers": [{"kind": "emvco_account", "value": format!("DEMO:{merchant_id}")}],
            }),
        )
        .await?;
        net.op(
            "POST",
            "/v1/admin/routes",
            json!({"side": "merchant", "kind": m.route.0, "value": m.route.1, "participant_id": acq.id}),
        )
        .await?;
        net.op(
            "PUT",
            "/v1/admin/ledger/limits",
            json!({"participant": acq.id, "currency": c.ccy, "kind": "refund_allowance", "amount": "9000000000000"}),
        )
        .await?;
    }
    for c in &COUNTRIES {
        let (w, _) = net.wallet(c.cc)?;
        net.op(
            "POST",
            "/v1/admin/routes",
            json!({"side": "wallet", "kind": "payment_code_prefix", "value": c.code_prefix, "participant_id": w.id}),
        )
        .await?;
        net.op(
            "PUT",
            "/v1/admin/ledger/limits",
            json!({"participant": w.id, "currency": c.ccy, "kind": "net_debit_cap", "amount": "9000000000000"}),
        )
        .await?;
    }
    // Wait until the provider's first rates are in.
    let rates_by = Instant::now() + Duration::from_secs(10);
    loop {
        let rates = net.op("GET", "/v1/admin/fx/rates", Value::Null).await?;
        if at(&rates, "/rates")
            .as_array()
            .is_some_and(|r| !r.is_empty())
        {
            break;
        }
        ensure!(
            Instant::now() < rates_by,
            "the FX simulator pushed no rates"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    Ok((net, codes, fx_task))
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
async fn demo(options: DemoOptions) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let db = options.db.clone().unwrap_or_else(|| PathBuf::from(DEMO_DB));
    let world = start_world(
        &db,
        options.seed,
        options.no_faults,
        api::HttpLimits::default(),
    )
    .await?;
    let World {
        store,
        net,
        codes,
        db_text,
        sims_dir,
        ..
    } = &world;
    let store = store
        .as_ref()
        .context("the demo's gateway runs in this process")?;
    // The payments.
    let progress = if options.json || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(u64::from(options.payments))
    };
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} payments {bar:40} {pos}/{len} {per_sec} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let net_ref = net;
    let codes_ref = codes;
    let progress_ref = &progress;
    let seed = options.seed;
    let attempts: Vec<anyhow::Result<Attempt>> = futures_util::stream::iter(0..options.payments)
        .map(|n| async move {
            let a = one_payment(net_ref, codes_ref, seed, u64::from(n)).await;
            progress_ref.inc(1);
            a
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    progress.finish_and_clear();
    let attempts: Vec<Attempt> = attempts.into_iter().collect::<anyhow::Result<_>>()?;

    // The resolver finishes what the faults left open.
    let drain = if options.json || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new_spinner()
    };
    let drained_by = Instant::now() + DRAIN_LIMIT;
    loop {
        let open = store.audit_open_work().await?;
        if open == 0 || Instant::now() > drained_by {
            break;
        }
        drain.set_message(format!(
            "the resolver is finishing {open} open payments, refunds and notifications"
        ));
        drain.tick();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drain.finish_and_clear();
    world.stop_resolver();

    let summary = summarise(store, net, &attempts, db_text, sims_dir).await?;
    world.stop().await;
    let ok = summary.non_final == 0 && summary.ledger_balanced;
    let mut out = summary.json;
    if let Some(o) = out.as_object_mut() {
        o.insert(
            "elapsed_ms".into(),
            json!(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)),
        );
    }
    if options.json {
        println!("{out}");
    } else {
        print_summary(&out, started.elapsed());
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Units of `b` per unit of `a`, to 8 significant digits.
fn rust_decimal_mid(a: &Country, b: &Country) -> anyhow::Result<money::Rate> {
    // (b per 100 CNY / 10^eb) / (a per 100 CNY / 10^ea)
    let (ea, eb) = (currency(a.ccy)?.exponent(), currency(b.ccy)?.exponent());
    let num = i128::from(b.per_100_cny) * 10i128.pow(ea);
    let den = i128::from(a.per_100_cny) * 10i128.pow(eb);
    // Scale to 8 significant digits.
    let mut scale = 0u32;
    while num * 10i128.pow(scale) / den < 10_000_000 && scale < 18 {
        scale += 1;
    }
    let digits = num * 10i128.pow(scale) / den;
    let text = if scale == 0 {
        digits.to_string()
    } else {
        let s = format!(
            "{digits:0>width$}",
            width = usize::try_from(scale).unwrap_or(0) + 1
        );
        let (int, frac) = s.split_at(s.len() - usize::try_from(scale).unwrap_or(0));
        format!("{int}.{frac}")
    };
    money::Rate::parse(&text).map_err(|e| anyhow::anyhow!("rate {text}: {e}"))
}

fn party(url: &str, id: &str, me: &Arc<KeySigner>) -> anyhow::Result<Party> {
    Ok(Party {
        id: id.into(),
        client: client::SignedClient::new(url, me.clone(), client::ClientLimits::default())?,
    })
}

async fn start_sim(
    me: &Arc<KeySigner>,
    gateway: &str,
    role: Role,
    dir: &Path,
    id: &str,
    faults: Faults,
) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let books = dir.join(format!("{id}.db"));
    Ok(sim::participant::start(
        ParticipantSim {
            signer: me.clone(),
            role,
            faults,
            verifier: Verifier::new(GatewayKeys::Fetch(gateway.to_string())),
        },
        listener,
        &format!("sqlite://{}?mode=rwc", books.display()),
    )
    .await?)
}

/// One payment of the mix: MPM or CPM, between a wallet and an acquirer of
/// different countries, then perhaps a refund or a cancel.
pub(crate) async fn one_payment(
    net: &Net,
    codes: &BTreeMap<&str, String>,
    seed: u64,
    n: u64,
) -> anyhow::Result<Attempt> {
    let acquirer_ccs: Vec<&str> = net.acquirers.keys().copied().collect();
    let a_cc = *pick(&acquirer_ccs, draw(seed, n, 1))?;
    let others: Vec<&Country> = COUNTRIES.iter().filter(|c| c.cc != a_cc).collect();
    let w = *pick(&others, draw(seed, n, 2))?;
    let m = COUNTRIES
        .iter()
        .find(|c| c.cc == a_cc)
        .context("an acquirer without a country")?;
    let (wallet, wallet_sim) = net.wallet(w.cc)?;
    let (acq, _, merchant_id) = net.acquirer(a_cc)?;
    // 5 to 500 CNY's worth, in the merchant's currency.
    let cny_minor = 500 + i64::try_from(draw(seed, n, 3) % 49_500).unwrap_or(0);
    let value = (cny_minor * m.per_100_cny / 10_000).max(1);
    let amount = json!({"value": value.to_string(), "currency": m.ccy});
    let rid = format!("demo-{n}");
    let payer = json!({"id": format!("u-{}", w.cc.to_lowercase()), "name": format!("Demo payer {}", w.cc), "country": w.cc});
    let cpm = draw(seed, n, 4) % 2 == 1;
    let answer = if cpm {
        let code = wallet_sim.issue_code(&format!("u-{}", w.cc.to_lowercase()), w.code_prefix);
        call(
            acq,
            "POST",
            "/v1/payments",
            json!({
                "request_id": rid, "mode": "cpm", "payment_code": code, "amount": amount,
                "merchant_id": merchant_id, "order_id": format!("pos-{n}"),
            }),
        )
        .await?
    } else {
        let code = codes.get(a_cc).context("an acquirer without a code")?;
        let consult = call(
            wallet,
            "POST",
            "/v1/mpm/consult",
            json!({"code": code, "payer": payer, "pay_currency": w.ccy}),
        )
        .await?;
        if str_at(&consult, "/result/status") != "S" {
            return Ok(Attempt {
                mode: "mpm",
                payment: None,
                answer: (
                    str_at(&consult, "/result/status").into(),
                    str_at(&consult, "/result/code").into(),
                ),
            });
        }
        let quote = call(
            wallet,
            "POST",
            "/v1/quotes",
            json!({
                "request_id": format!("{rid}-q"), "payer": payer,
                "merchant_id": at(&consult, "/merchant/gateway_merchant_id"),
                "pay_currency": w.ccy, "receive": amount,
            }),
        )
        .await?;
        if str_at(&quote, "/result/status") != "S" {
            return Ok(Attempt {
                mode: "mpm",
                payment: None,
                answer: (
                    str_at(&quote, "/result/status").into(),
                    str_at(&quote, "/result/code").into(),
                ),
            });
        }
        call(
            wallet,
            "POST",
            "/v1/payments",
            json!({
                "request_id": rid, "mode": "mpm", "code": code, "amount": amount,
                "payer": payer, "quote_id": at(&quote, "/quote_id"),
            }),
        )
        .await?
    };
    let attempt = Attempt {
        mode: if cpm { "cpm" } else { "mpm" },
        payment: at(&answer, "/payment/id").as_str().map(str::to_string),
        answer: (
            str_at(&answer, "/result/status").into(),
            str_at(&answer, "/result/code").into(),
        ),
    };
    // A tenth of the successful payments are refunded (half of them in
    // part), one in twenty-five cancelled by the party that started it.
    if attempt.answer.0 == "S"
        && let Some(id) = &attempt.payment
    {
        let roll = draw(seed, n, 5) % 100;
        if roll < 10 {
            let part = if roll < 5 { value } else { (value / 2).max(1) };
            call(
                acq,
                "POST",
                "/v1/refunds",
                json!({
                    "request_id": format!("{rid}-r"), "payment_id": id,
                    "amount": {"value": part.to_string(), "currency": m.ccy},
                }),
            )
            .await?;
        } else if roll < 14 {
            let initiator = if cpm { acq } else { wallet };
            call(
                initiator,
                "POST",
                &format!("/v1/payments/{id}/cancel"),
                json!({"request_id": format!("{rid}-c"), "reason": "demo"}),
            )
            .await?;
        }
    }
    Ok(attempt)
}

struct Summary {
    json: Value,
    non_final: i64,
    ledger_balanced: bool,
}

/// Count, sum and check: the gateway's payments and ledger, and each
/// simulator's books against them.
async fn summarise(
    store: &store::Store,
    net: &Net,
    attempts: &[Attempt],
    db: &str,
    sims_dir: &Path,
) -> anyhow::Result<Summary> {
    let rows = store.audit_payments().await?;
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_mode: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_direction: BTreeMap<String, u64> = BTreeMap::new();
    let mut amounts: BTreeMap<String, i64> = BTreeMap::new();
    let mut non_final = 0i64;
    let mut exceptions = 0u64;
    let mut reversed = 0u64;
    for p in &rows {
        *by_mode.entry(p.mode.clone()).or_default() += 1;
        *by_direction.entry(p.direction.clone()).or_default() += 1;
        *by_status.entry(p.state.clone()).or_default() += 1;
        let st = PayState::parse(&p.state).context("a payment in an unknown state")?;
        match st {
            PayState::Succeeded => {
                *amounts.entry(p.merchant_currency.clone()).or_default() += p.merchant_amount
            }
            PayState::Cancelled => reversed += 1,
            PayState::Exception => exceptions += 1,
            PayState::Failed => {}
            _ => non_final += 1,
        }
    }
    let refused = attempts.iter().filter(|a| a.payment.is_none()).count();
    if refused > 0 {
        by_status.insert("refused".into(), u64::try_from(refused).unwrap_or(0));
    }
    let mut refusals: BTreeMap<String, u64> = BTreeMap::new();
    for a in attempts.iter().filter(|a| a.answer.0 != "S") {
        *refusals
            .entry(format!("{} {}", a.answer.0, a.answer.1))
            .or_default() += 1;
    }
    let attempts_by_mode = attempts
        .iter()
        .fold(BTreeMap::<&str, u64>::new(), |mut m, a| {
            *m.entry(a.mode).or_default() += 1;
            m
        });
    let resolved_by_inquiry = store.audit_resolved_by_inquiry().await?;
    let refunds = store.audit_refunds().await?;
    let mut refunds_by_state: BTreeMap<String, u64> = BTreeMap::new();
    for r in &refunds {
        *refunds_by_state.entry(r.state.clone()).or_default() += 1;
    }
    let notifications = store.audit_notifications().await?;

    // The ledger: balanced from its transfers, nothing left reserved but
    // what an exception holds.
    let trial = store.ledger_trial_balance().await?;
    let trial_ok = trial.iter().all(|(_, debits, credits)| debits == credits);
    let open_reservations = store.audit_open_reservations().await?;

    // The simulators' books against the payments (exceptions aside: the
    // operator decides them).
    let mut books = Vec::new();
    // A succeeded refund of a payment of `mode` paid by `wallet`.
    let refund_of = |r: &store::RefundOutline, mode: &str, wallet: &str| {
        r.state == "succeeded"
            && r.mode == mode
            && rows
                .iter()
                .any(|p| p.id == r.payment_id && p.wallet == wallet)
    };
    for (cc, (acq, sim, merchant_id)) in &net.acquirers {
        let credited = sim.balance(merchant_id).await?;
        let expected: i64 = rows
            .iter()
            .filter(|r| r.mode == "mpm" && r.state == "succeeded" && r.acquirer == acq.id)
            .map(|r| r.merchant_amount)
            .sum();
        let held: bool = rows
            .iter()
            .any(|r| r.mode == "mpm" && r.state == "exception" && r.acquirer == acq.id);
        books.push((
            format!("{} merchant credits ({cc})", acq.id),
            credited,
            expected,
            held,
        ));
    }
    for c in &COUNTRIES {
        let (w, sim) = net.wallet(c.cc)?;
        let user = format!("u-{}", c.cc.to_lowercase());
        let opening = c.per_100_cny.saturating_mul(10_000_000);
        let debited = opening - sim.balance(&user).await?;
        let paid: i64 = rows
            .iter()
            .filter(|r| r.mode == "cpm" && r.state == "succeeded" && r.wallet == w.id)
            .map(|r| r.payer_amount.unwrap_or(0))
            .sum();
        let refunded_cpm: i64 = refunds
            .iter()
            .filter(|r| refund_of(r, "cpm", &w.id))
            .map(|r| r.payer_minor)
            .sum();
        let held = rows
            .iter()
            .any(|r| r.mode == "cpm" && r.state == "exception" && r.wallet == w.id);
        books.push((
            format!("{} user debits less refunds ({})", w.id, c.ccy),
            debited,
            paid - refunded_cpm,
            held,
        ));
        let mpm_refunds: i64 = sim
            .entries()
            .await?
            .iter()
            .filter(|e| e.status == "S" && e.call == "refund" && e.account.starts_with("mpm:"))
            .map(|e| e.amount)
            .sum();
        let expected: i64 = refunds
            .iter()
            .filter(|r| refund_of(r, "mpm", &w.id))
            .map(|r| r.payer_minor)
            .sum();
        books.push((
            format!("{} MPM refunds credited ({})", w.id, c.ccy),
            mpm_refunds,
            expected,
            false,
        ));
    }
    let books_agree = books.iter().all(|(_, sim, gw, held)| *held || sim == gw);
    let ledger_balanced = trial_ok && open_reservations == 0 && books_agree;
    let count = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    let json = json!({
        "payments_total": attempts.len(),
        "payments_made": rows.len(),
        "by_status": by_status,
        "by_mode": by_mode,
        "by_direction": by_direction,
        "attempts_by_mode": attempts_by_mode,
        "refusals": refusals,
        "amounts_by_currency": amounts,
        "resolved_by_inquiry": resolved_by_inquiry,
        "reversed": reversed,
        "exceptions": exceptions,
        "non_final": non_final,
        "refunds": refunds_by_state,
        "notifications": notifications.into_iter().collect::<BTreeMap<String, i64>>(),
        "ledger_balanced": ledger_balanced,
        "ledger": {
            "trial_balance_balanced": trial_ok,
            "open_reservations": open_reservations,
            "simulator_books_agree": books_agree,
            "books": books.iter().map(|(what, sim, gw, held)| json!({
                "what": what, "simulator": sim, "gateway": gw, "held_by_exception": held,
            })).collect::<Vec<_>>(),
        },
        "succeeded": count(&by_status, "succeeded"),
        "clearing_dates": rows
            .iter()
            .filter_map(|r| r.clearing_date.clone())
            .collect::<std::collections::BTreeSet<String>>(),
        "database": db,
        "simulator_books": sims_dir.display().to_string(),
    });
    Ok(Summary {
        json,
        non_final,
        ledger_balanced,
    })
}

#[allow(clippy::print_stdout)]
fn print_summary(s: &Value, elapsed: Duration) {
    let map = |p: &str| -> Vec<(String, String)> {
        at(s, p)
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.to_string())).collect())
            .unwrap_or_default()
    };
    println!(
        "Unigate demo: {} payment attempts through the gateway, 7 wallets, 6 acquirers and an FX provider (simulated)",
        at(s, "/payments_total")
    );
    println!();
    println!("  by status");
    for (k, v) in map("/by_status") {
        println!("    {k:<26} {v:>8}");
    }
    println!("  by mode");
    for (k, v) in map("/by_mode") {
        println!("    {:<26} {v:>8}", k.to_uppercase());
    }
    println!("  by direction");
    for (k, v) in map("/by_direction") {
        println!("    {k:<26} {v:>8}");
    }
    println!("  succeeded, merchant amounts (minor units)");
    for (k, v) in map("/amounts_by_currency") {
        println!("    {k:<26} {v:>14}");
    }
    println!("  not accepted or not at once");
    for (k, v) in map("/refusals") {
        println!("    {k:<36} {v:>8}");
    }
    println!();
    println!(
        "  resolved by inquiry          {:>8}",
        at(s, "/resolved_by_inquiry")
    );
    println!("  reversed (cancelled)         {:>8}", at(s, "/reversed"));
    println!("  exceptions                   {:>8}", at(s, "/exceptions"));
    println!("  still open                   {:>8}", at(s, "/non_final"));
    println!("  refunds                      {}", at(s, "/refunds"));
    println!("  notifications                {}", at(s, "/notifications"));
    println!();
    if let Some(books) = at(s, "/ledger/books").as_array() {
        for b in books {
            let agree = at(b, "/simulator") == at(b, "/gateway");
            println!(
                "  {:<44} simulator {:>14}  gateway {:>14}  {}",
                str_at(b, "/what"),
                at(b, "/simulator"),
                at(b, "/gateway"),
                if agree {
                    "agree"
                } else if at(b, "/held_by_exception") == true {
                    "held by an exception"
                } else {
                    "DIFFER"
                }
            );
        }
    }
    println!(
        "  ledger trial balance: {}; open reservations: {}",
        if at(s, "/ledger/trial_balance_balanced") == true {
            "balanced in every currency"
        } else {
            "NOT BALANCED"
        },
        at(s, "/ledger/open_reservations")
    );
    println!();
    println!(
        "  {} in {:.1} s. The database is {} (simulators' books in {}); open it with:",
        if at(s, "/ledger_balanced") == true {
            "all books agree"
        } else {
            "BOOKS DISAGREE"
        },
        elapsed.as_secs_f64(),
        str_at(s, "/database"),
        str_at(s, "/simulator_books"),
    );
    println!(
        "    UNIGATE_DB=sqlite://{} unigate serve",
        str_at(s, "/database")
    );
}

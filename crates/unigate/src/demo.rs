//! `unigate demo`: the gateway and four simulated participants on embedded
//! SQLite, in one process, over real signed HTTP on loopback. A Mongolian
//! wallet (MNT), a Chinese wallet (CNY), a Chinese acquirer (CNY) and a
//! Thai PromptPay acquirer (THB) are onboarded through the operator API;
//! then payments run in every direction and mode, and the summary shows
//! what happened and that the gateway's ledger and the simulators' books
//! agree to the minor unit.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use sign::{KeySigner, PrivateKey};
use sim::participant::{ParticipantSim, Role, Running, SimMerchant, SimUser};
use sim::peer::{Faults, GatewayKeys, Verifier};

/// The database the demo writes, replaced on each run and kept afterwards.
pub const DEMO_DB: &str = "unigate-demo.db";

const CN_TAG15: &str = "4802000048020000104110058120001";
const PROMPTPAY: &str = "A000000677010111";
const TH_PROXY: &str = "0066812345678";
const MN_CODE_PREFIX: &str = "1397";
/// The most payments one demo runs.
pub const DEMO_PAYMENTS_MAX: u32 = 10_000;

fn currency(code: &str) -> anyhow::Result<money::Currency> {
    money::Currency::parse(code).map_err(anyhow::Error::msg)
}

/// The value at a JSON pointer, or null.
fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    v.pointer(pointer).unwrap_or(&Value::Null)
}

fn mpm(spec: Value) -> anyhow::Result<String> {
    let spec: qr::encode::MpmSpec = serde_json::from_value(spec)?;
    spec.encode(&qr::Options::default())
        .map_err(|e| anyhow::anyhow!("encoding a demo code: {e}"))
}

struct Party {
    id: String,
    client: client::SignedClient,
}

struct Demo {
    url: String,
    http: reqwest::Client,
    op_token: String,
}

impl Demo {
    async fn op(&self, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
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

async fn start_sim(me: &Arc<KeySigner>, gateway: &str, role: Role) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    Ok(sim::participant::start(
        ParticipantSim {
            signer: me.clone(),
            role,
            faults: Faults::default(),
            verifier: Verifier::new(GatewayKeys::Fetch(gateway.to_string())),
        },
        listener,
        "sqlite::memory:",
    )
    .await?)
}

/// One payment's outcome, as the summary counts it.
struct Done {
    kind: &'static str,
    direction: String,
    status: String,
    code: String,
    payment: Value,
}

pub fn run(payments: u32, json_out: bool) -> anyhow::Result<ExitCode> {
    ensure!(
        (1..=DEMO_PAYMENTS_MAX).contains(&payments),
        "--payments is 1 to {DEMO_PAYMENTS_MAX}"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(demo(payments, json_out))
}

// The demo's output is its summary on stdout and its progress on stderr.
#[allow(clippy::print_stdout, clippy::print_stderr)]
async fn demo(payments: u32, json_out: bool) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{DEMO_DB}{suffix}"));
    }
    let store = store::Store::open(
        &format!("sqlite://{DEMO_DB}"),
        store::StoreOptions::default(),
    )
    .await
    .with_context(|| format!("opening {DEMO_DB}"))?;
    let (kek, _) = sign::kek::LocalKek::generate()?;
    let keys = Arc::new(
        keyring::GatewayKeys::load_or_create(store.clone(), Arc::new(kek), api::now_ms()).await?,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let payments_config = api::payments::PaymentsConfig::default();
    let fee_rule: ledger::fees::FeeRule = serde_json::from_value(json!({
        "rate_bps": 60, "min_minor": 1,
        "split": {"acquirer_bps": 6000, "wallet_bps": 3000, "gateway_bps": 1000}
    }))?;
    let state = api::AppState {
        connectors: api::payments::connectors(
            keys.clone(),
            store.clone(),
            &payments_config.callbacks,
            true,
        )
        .map_err(anyhow::Error::msg)?,
        payments: payments_config,
        risk: Arc::new(api::payments::ApproveAll),
        store: store.clone(),
        limits: api::HttpLimits::default(),
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
            firm_quotes: "rates".into(),
            staleness_s: 3_600,
            ..api::fx::FxConfig::default()
        },
    };
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, api::router(state)).await;
    });
    let (_, op_token) = store.token_create(store::Role::Operator, "demo", 1).await?;
    let demo = Demo {
        url: url.clone(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        op_token,
    };

    // The merchants' codes, and the simulators.
    let cn_code = mpm(json!({
        "format_indicator": "01", "initiation": "static", "accounts": {"15": CN_TAG15},
        "mcc": "5812", "currency": "CNY", "country": "CN",
        "merchant_name": "ERLIAN HOTPOT", "merchant_city": "ERENHOT",
    }))?;
    let th_code = mpm(json!({
        "format_indicator": "01", "initiation": "static",
        "accounts": {"29": {"00": PROMPTPAY, "01": TH_PROXY}},
        "mcc": "5812", "currency": "THB", "country": "TH",
        "merchant_name": "SOM TAM HOUSE", "merchant_city": "BANGKOK",
    }))?;
    let ids = ["mn-wallet", "cn-wallet", "cn-acq", "th-acq"];
    let signers: BTreeMap<&str, Arc<KeySigner>> = ids
        .iter()
        .map(|id| signer(id).map(|s| (*id, s)))
        .collect::<anyhow::Result<_>>()?;
    let key_of = |id: &str| -> anyhow::Result<Arc<KeySigner>> {
        signers
            .get(id)
            .cloned()
            .context("a demo participant without a key")
    };
    let users = vec![SimUser {
        id: "u-mn-1".into(),
        name: "Bat-Erdene Dorj".into(),
        country: "MN".into(),
        balance: money::Money::new(10_000_000_000, currency("MNT")?),
    }];
    let merchant = |id: &str,
                    name: &str,
                    country: &str,
                    ccy: &str,
                    code: &str|
     -> anyhow::Result<SimMerchant> {
        Ok(SimMerchant {
            merchant_id: id.into(),
            name: name.into(),
            mcc: "5812".into(),
            city: if country == "CN" {
                "ERENHOT"
            } else {
                "BANGKOK"
            }
            .into(),
            country: country.into(),
            currency: currency(ccy)?,
            codes: vec![code.to_string()],
        })
    };
    let mn_sim = start_sim(
        &key_of("mn-wallet")?,
        &url,
        Role::Wallet {
            users: users.clone(),
        },
    )
    .await?;
    let cn_wallet_sim = start_sim(
        &key_of("cn-wallet")?,
        &url,
        Role::Wallet { users: Vec::new() },
    )
    .await?;
    let cn_acq_sim = start_sim(
        &key_of("cn-acq")?,
        &url,
        Role::Acquirer {
            merchants: vec![merchant("cn-m1", "ERLIAN HOTPOT", "CN", "CNY", &cn_code)?],
        },
    )
    .await?;
    let th_acq_sim = start_sim(
        &key_of("th-acq")?,
        &url,
        Role::Acquirer {
            merchants: vec![merchant("th-m1", "SOM TAM HOUSE", "TH", "THB", &th_code)?],
        },
    )
    .await?;

    // Onboarding through the operator API, as an operator would.
    for (id, role, country, ccy, sim) in [
        ("mn-wallet", "wallet", "MN", "MNT", &mn_sim),
        ("cn-wallet", "wallet", "CN", "CNY", &cn_wallet_sim),
        ("cn-acq", "acquirer", "CN", "CNY", &cn_acq_sim),
        ("th-acq", "acquirer", "TH", "THB", &th_acq_sim),
    ] {
        demo.op(
            "POST",
            "/v1/admin/participants",
            json!({
                "id": id, "legal_name": format!("{id} (simulated)"), "roles": [role],
                "country": country, "currencies": [ccy], "settlement_currency": ccy,
                "settlement_account": format!("{country}-SETTLE-1"),
                "callback_base_url": format!("http://{}", sim.addr),
            }),
        )
        .await?;
        demo.op(
            "POST",
            &format!("/v1/admin/participants/{id}/keys"),
            json!({"public_key_pem": key_of(id)?.key.public_key().to_pem()?}),
        )
        .await?;
        for to in [
            "admitted",
            "joint_testing",
            "production_verification",
            "signed",
            "live",
        ] {
            demo.op(
                "POST",
                &format!("/v1/admin/participants/{id}/stage"),
                json!({"to": to, "reason": "demo"}),
            )
            .await?;
        }
    }
    let party = |id: &str| -> anyhow::Result<Party> {
        Ok(Party {
            id: id.into(),
            client: client::SignedClient::new(&url, key_of(id)?, client::ClientLimits::default())?,
        })
    };
    let (mn, cn, cn_acq, th_acq) = (
        party("mn-wallet")?,
        party("cn-wallet")?,
        party("cn-acq")?,
        party("th-acq")?,
    );
    for (acq, id, name, country, tz, identifier) in [
        (
            &cn_acq,
            "cn-m1",
            "ERLIAN HOTPOT",
            "CN",
            "Asia/Shanghai",
            ("unionpay_id", CN_TAG15),
        ),
        (
            &th_acq,
            "th-m1",
            "SOM TAM HOUSE",
            "TH",
            "Asia/Bangkok",
            ("promptpay_proxy", TH_PROXY),
        ),
    ] {
        call(
            acq,
            "POST",
            "/v1/merchants",
            json!({
                "request_id": format!("m-{id}"), "acquirer_merchant_id": id, "name": name, "mcc": "5812",
                "country": country, "city": if country == "CN" { "ERENHOT" } else { "BANGKOK" },
                "time_zone": tz, "kyb_status": "verified",
                "identifiers": [{"kind": identifier.0, "value": identifier.1}],
            }),
        )
        .await?;
    }
    for (side, kind, value, to) in [
        ("merchant", "account", PROMPTPAY.to_string(), "th-acq"),
        (
            "merchant",
            "account",
            format!("15:{}", CN_TAG15.get(..8).unwrap_or(CN_TAG15)),
            "cn-acq",
        ),
        (
            "wallet",
            "payment_code_prefix",
            MN_CODE_PREFIX.to_string(),
            "mn-wallet",
        ),
    ] {
        demo.op(
            "POST",
            "/v1/admin/routes",
            json!({"side": side, "kind": kind, "value": value, "participant_id": to}),
        )
        .await?;
    }
    for (who, ccy) in [("mn-wallet", "MNT"), ("cn-wallet", "CNY")] {
        demo.op(
            "PUT",
            "/v1/admin/ledger/limits",
            json!({"participant": who, "currency": ccy, "kind": "net_debit_cap", "amount": "9000000000000"}),
        )
        .await?;
    }
    demo.op(
        "PUT",
        "/v1/admin/fx/rates",
        json!({"rates": [
            {"base": "CNY", "quote": "MNT", "bid": "478", "ask": "482", "source": "demo"},
            {"base": "CNY", "quote": "THB", "bid": "4.90", "ask": "4.95", "source": "demo"},
            {"base": "THB", "quote": "MNT", "bid": "96", "ask": "98", "source": "demo"},
        ]}),
    )
    .await?;

    // The payments: MPM inbound, outbound and transit, and CPM inbound.
    let progress = !json_out && std::io::stderr().is_terminal();
    let mut done: Vec<Done> = Vec::new();
    let mn_payer = json!({"id": "u-mn-1", "name": "Bat-Erdene Dorj", "country": "MN"});
    let cn_payer = json!({"id": "u-cn-1", "name": "Li Wei", "country": "CN"});
    for n in 0..payments {
        let value = 500 + i64::from(n.wrapping_mul(7_919) % 20_000);
        let rid = format!("demo-{n}");
        let (kind, answer) = match n % 4 {
            0 => (
                "mpm",
                mpm_pay(&mn, &rid, &cn_code, &mn_payer, "MNT", value, "CNY").await?,
            ),
            1 => (
                "mpm",
                mpm_pay(&cn, &rid, &th_code, &cn_payer, "CNY", value, "THB").await?,
            ),
            2 => (
                "mpm",
                mpm_pay(&mn, &rid, &th_code, &mn_payer, "MNT", value, "THB").await?,
            ),
            _ => {
                let code = mn_sim.issue_code("u-mn-1", MN_CODE_PREFIX);
                let body = json!({
                    "request_id": rid, "mode": "cpm", "payment_code": code,
                    "amount": {"value": value.to_string(), "currency": "CNY"},
                    "merchant_id": "cn-m1", "order_id": format!("pos-{n}"),
                });
                ("cpm", call(&cn_acq, "POST", "/v1/payments", body).await?)
            }
        };
        done.push(Done {
            kind,
            direction: at(&answer, "/payment/direction")
                .as_str()
                .unwrap_or("-")
                .to_string(),
            status: at(&answer, "/result/status")
                .as_str()
                .unwrap_or("?")
                .to_string(),
            code: at(&answer, "/result/code")
                .as_str()
                .unwrap_or("?")
                .to_string(),
            payment: at(&answer, "/payment").clone(),
        });
        if progress && (n + 1) % 10 == 0 {
            eprint!("\r{} of {payments} payments", n + 1);
        }
    }
    if progress {
        eprintln!("\r{payments} of {payments} payments");
    }

    // Reconcile: the acquirers' and the wallet's own books against the
    // payments; the gateway's ledger against itself.
    let minor = |v: &Value| {
        at(v, "/value")
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let ok: Vec<&Done> = done.iter().filter(|d| d.status == "S").collect();
    let sum = |f: &dyn Fn(&&Done) -> bool, field: &str| -> i64 {
        ok.iter()
            .filter(|d| f(d))
            .map(|d| minor(at(&d.payment, &format!("/amounts/{field}"))))
            .sum()
    };
    let cn_credited = cn_acq_sim.balance("cn-m1").await?;
    let th_credited = th_acq_sim.balance("th-m1").await?;
    let opening: i64 = users.iter().map(|u| u.balance.minor).sum();
    let mn_debited = opening - mn_sim.balance("u-mn-1").await?;
    let books = [
        (
            "cn-acq merchant credits (CNY)",
            cn_credited,
            sum(
                &|d| d.kind == "mpm" && at(&d.payment, "/acquirer") == "cn-acq",
                "merchant",
            ),
        ),
        (
            "th-acq merchant credits (THB)",
            th_credited,
            sum(
                &|d| d.kind == "mpm" && at(&d.payment, "/acquirer") == "th-acq",
                "merchant",
            ),
        ),
        (
            "mn-wallet user debits (MNT)",
            mn_debited,
            sum(&|d| d.kind == "cpm", "payer"),
        ),
    ];
    let trial = demo
        .op("GET", "/v1/admin/ledger/trial-balance", Value::Null)
        .await?;
    let balanced = at(&trial, "/balanced") == true;
    let reconciled = books.iter().all(|(_, sim, gw)| sim == gw);
    server.abort();
    store.close().await;

    let mut by_direction: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_mode: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_result: BTreeMap<String, usize> = BTreeMap::new();
    let mut volume: BTreeMap<String, i64> = BTreeMap::new();
    for d in &done {
        *by_result
            .entry(format!("{} {}", d.status, d.code))
            .or_default() += 1;
        if d.status == "S" {
            *by_direction.entry(d.direction.clone()).or_default() += 1;
            *by_mode.entry(d.kind).or_default() += 1;
            let m = at(&d.payment, "/amounts/merchant");
            *volume
                .entry(at(m, "/currency").as_str().unwrap_or("?").to_string())
                .or_default() += minor(m);
        }
    }
    let elapsed = started.elapsed();
    let summary = json!({
        "payments": payments,
        "succeeded": ok.len(),
        "results": by_result,
        "by_direction": by_direction,
        "by_mode": by_mode,
        "merchant_volume_minor": volume,
        "ledger_balanced": balanced,
        "books_reconciled": reconciled,
        "reconciliation": books.iter().map(|(what, sim, gw)| json!({"what": what, "simulator": sim, "gateway": gw})).collect::<Vec<_>>(),
        "database": DEMO_DB,
        "elapsed_ms": u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
    });
    if json_out {
        println!("{summary}");
    } else {
        println!(
            "Unigate demo: {payments} payments through the gateway and four simulated participants"
        );
        println!(
            "  (a Mongolian and a Chinese wallet, a Chinese and a Thai PromptPay acquirer), SQLite {DEMO_DB}"
        );
        println!();
        for (result, count) in &by_result {
            println!("  {result:<28} {count:>6}");
        }
        println!();
        for (direction, count) in &by_direction {
            println!("  {direction:<28} {count:>6} succeeded");
        }
        for (mode, count) in &by_mode {
            println!("  {:<28} {count:>6} succeeded", mode.to_uppercase());
        }
        for (ccy, minor) in &volume {
            println!("  merchant volume {ccy:<12} {minor:>14} minor units");
        }
        println!();
        for (what, sim, gw) in &books {
            println!(
                "  {what:<34} simulator {sim:>14}  gateway {gw:>14}  {}",
                if sim == gw { "agree" } else { "DIFFER" }
            );
        }
        println!(
            "  ledger trial balance              {}",
            if balanced {
                "balanced in every currency"
            } else {
                "NOT BALANCED"
            }
        );
        println!();
        println!(
            "  {} in {:.1} s; inspect it with: sqlite3 {DEMO_DB}",
            if reconciled && balanced {
                "all books agree"
            } else {
                "BOOKS DISAGREE"
            },
            elapsed.as_secs_f64()
        );
    }
    Ok(if reconciled && balanced {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Consult, quote (when the currencies differ) and pay a merchant's code.
async fn mpm_pay(
    wallet: &Party,
    rid: &str,
    code: &str,
    payer: &Value,
    pay_ccy: &str,
    value: i64,
    ccy: &str,
) -> anyhow::Result<Value> {
    let consult = call(
        wallet,
        "POST",
        "/v1/mpm/consult",
        json!({"code": code, "payer": payer, "pay_currency": pay_ccy}),
    )
    .await?;
    ensure!(at(&consult, "/result/status") == "S", "consult: {consult}");
    let amount = json!({"value": value.to_string(), "currency": ccy});
    let quote_id = if pay_ccy == ccy {
        Value::Null
    } else {
        let quote = call(
            wallet,
            "POST",
            "/v1/quotes",
            json!({
                "request_id": format!("{rid}-q"), "payer": payer,
                "merchant_id": at(&consult, "/merchant/gateway_merchant_id"),
                "pay_currency": pay_ccy, "receive": amount,
            }),
        )
        .await?;
        at(&quote, "/quote_id").clone()
    };
    let mut body =
        json!({"request_id": rid, "mode": "mpm", "code": code, "amount": amount, "payer": payer});
    if !quote_id.is_null()
        && let Some(o) = body.as_object_mut()
    {
        o.insert("quote_id".into(), quote_id);
    }
    call(wallet, "POST", "/v1/payments", body).await
}

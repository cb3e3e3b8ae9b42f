//! The payment flows end to end (SPEC §2.6, §4.4, §6): a gateway served
//! over real HTTP on each store engine, participants onboarded through the
//! operator API, simulated wallets and acquirers answering the gateway's
//! signed callbacks, and every answer's signature checked both ways.
//!
//! - MPM inbound, outbound and transit, and CPM inbound, with the inquiry
//!   by id and by request id;
//! - refusals, each with its code and the books untouched;
//! - reconciliation to the minor unit: the simulators' books, the
//!   gateway's trial balance and each participant's settlement position
//!   against the payments.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use api::{AppState, HttpLimits};
use money::{Currency, Money};
use serde_json::{Value, json};
use sign::{KeySigner, PrivateKey};
use sim::participant::{ParticipantSim, Role, Running, SimMerchant, SimUser};
use sim::peer::{Faults, GatewayKeys, Verifier};
use store::Store;

/// Each engine's run is bounded well under nextest's 120 s.
const RUN_LIMIT: Duration = Duration::from_secs(50);

/// The MN wallet's CPM payment codes start with this (routed to it by a
/// `payment_code_prefix` route). The codec knows 18-digit payment codes
/// only by the CN wallets' prefixes (10-15, 25-30, 62), so an overseas
/// wallet's codes have to wear one of those shapes: a narrow prefix that
/// no CN wallet's route covers.
const MN_CODE_PREFIX: &str = "1397";

/// UnionPay tag 15 of the CN merchant: acquirer IIN, forwarding IIN,
/// merchant id (31 digits); routed to cn-acq by `15:48020000` and by the
/// merchant registry.
const CN_TAG15: &str = "4802000048020000104110058120001";
const CN_IIN: &str = "48020000";
const PROMPTPAY: &str = "A000000677010111";
const TH_PROXY: &str = "0066812345678";
const DOWN_PROXY: &str = "0066899999999";

/// The MN wallet's net debit cap, MNT minor units.
const MN_CAP: i64 = 80_000_000;

/// The fee rule every payment here falls under.
const FEE_BPS: i64 = 60;
const FEE_SPLIT: (i64, i64, i64) = (6_000, 3_000, 1_000);

// ---------------------------------------------------------------------
// Small JSON helpers.

fn money(minor: i64, currency: &str) -> Value {
    json!({"value": minor.to_string(), "currency": currency})
}

/// The minor units of a Money value.
fn minor(v: &Value) -> i64 {
    v["value"]
        .as_str()
        .unwrap_or_else(|| panic!("not Money: {v}"))
        .parse()
        .unwrap_or_else(|_| panic!("not Money: {v}"))
}

fn currency(v: &Value) -> &str {
    v["currency"].as_str().unwrap_or("")
}

fn cur(code: &str) -> Currency {
    Currency::parse(code).unwrap()
}

fn payer(id: &str, name: &str, country: &str) -> Value {
    json!({"id": id, "name": name, "country": country})
}

fn mn_payer() -> Value {
    payer("u-mn-1", "Bat-Erdene Dorj", "MN")
}

fn cn_payer() -> Value {
    payer("u-cn-1", "Li Wei", "CN")
}

/// An EMVCo MPM payload from its fields (`qr::encode::MpmSpec` in JSON).
fn mpm(spec: Value) -> String {
    let spec: qr::encode::MpmSpec = serde_json::from_value(spec).unwrap();
    spec.encode(&qr::Options::default()).unwrap()
}

fn cn_code(amount: Option<&str>, bill: Option<&str>) -> String {
    let mut spec = json!({
        "format_indicator": "01",
        "initiation": if amount.is_some() { "dynamic" } else { "static" },
        "accounts": {"15": CN_TAG15},
        "mcc": "5812", "currency": "CNY", "country": "CN",
        "merchant_name": "ERLIAN HOTPOT", "merchant_city": "ERENHOT",
    });
    if let Some(a) = amount {
        spec["amount"] = json!(a);
    }
    if let Some(b) = bill {
        spec["additional"] = json!({"01": b});
    }
    mpm(spec)
}

fn promptpay_code(proxy: &str, name: &str) -> String {
    mpm(json!({
        "format_indicator": "01", "initiation": "static",
        "accounts": {"29": {"00": PROMPTPAY, "01": proxy}},
        "mcc": "5812", "currency": "THB", "country": "TH",
        "merchant_name": name, "merchant_city": "BANGKOK",
    }))
}

/// A code whose only account is a GUID no route or merchant knows.
fn unrouted_code() -> String {
    mpm(json!({
        "format_indicator": "01", "initiation": "static",
        "accounts": {"26": {"00": "A000000999000001", "01": "0012345678"}},
        "mcc": "5812", "currency": "THB", "country": "TH",
        "merchant_name": "NOWHERE SHOP", "merchant_city": "BANGKOK",
    }))
}

/// `n / d` rounded half to even (d > 0).
fn div_half_even(n: i128, d: i128) -> i64 {
    let (q, r) = (n.div_euclid(d), n.rem_euclid(d));
    let q = if 2 * r > d || (2 * r == d && q % 2 == 1) {
        q + 1
    } else {
        q
    };
    i64::try_from(q).unwrap()
}

/// The fee under the test's one rule: half-even rate, floor shares, the
/// gateway the remainder: (total, acquirer, wallet, gateway).
fn expected_fee(merchant_minor: i64) -> (i64, i64, i64, i64) {
    let total = div_half_even(i128::from(merchant_minor) * i128::from(FEE_BPS), 10_000).max(1);
    let acq = total * FEE_SPLIT.0 / 10_000;
    let wal = total * FEE_SPLIT.1 / 10_000;
    (total, acq, wal, total - acq - wal)
}

// ---------------------------------------------------------------------
// The gateway and its participants.

/// An answer: HTTP status and JSON body.
#[derive(Debug)]
struct Reply {
    status: u16,
    json: Value,
}

impl Reply {
    fn result(&self) -> (&str, &str) {
        (
            self.json["result"]["status"].as_str().unwrap_or(""),
            self.json["result"]["code"].as_str().unwrap_or(""),
        )
    }

    /// 200 with result `S`.
    fn ok(&self, what: &str) -> &Value {
        assert_eq!(self.status, 200, "{what}: {}", self.json);
        assert_eq!(self.result().0, "S", "{what}: {}", self.json);
        &self.json
    }

    fn payment(&self) -> &Value {
        &self.json["payment"]
    }
}

/// A participant as the test drives it: its signed client of the gateway.
struct Party {
    id: String,
    client: client::SignedClient,
}

impl std::fmt::Debug for Party {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Party").field("id", &self.id).finish()
    }
}

/// Identifiers the scenarios use.
#[derive(Debug)]
struct Codes {
    cn_static: String,
    th_static: String,
    down_static: String,
    unrouted: String,
    /// Gateway merchant ids (`gm-…`).
    cn_gm: String,
    th_gm: String,
    down_gm: String,
}

/// A gateway served over HTTP, its participants (clients and simulators)
/// and the codes and merchants the scenarios pay.
struct Gateway {
    url: String,
    http: reqwest::Client,
    op_token: String,
    mn_wallet: Party,
    cn_wallet: Party,
    cn_acq: Party,
    th_acq: Party,
    mn_sim: Running,
    cn_acq_sim: Running,
    th_acq_sim: Running,
    users: Vec<SimUser>,
    acq_merchants: BTreeMap<String, Vec<String>>,
    codes: Codes,
    store: Store,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn new_signer(id: &str) -> Arc<KeySigner> {
    let (key, _) = PrivateKey::generate_ed25519().unwrap();
    Arc::new(KeySigner {
        client_id: id.into(),
        key,
        key_version: 1,
    })
}

async fn start_sim(signer: &Arc<KeySigner>, gateway_url: &str, role: Role) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    sim::participant::start(
        ParticipantSim {
            signer: signer.clone(),
            role,
            faults: Faults::default(),
            verifier: Verifier::new(GatewayKeys::Fetch(gateway_url.to_string())),
        },
        listener,
        "sqlite::memory:",
    )
    .await
    .unwrap()
}

/// The participant the test registers, as the operator's body has it.
struct Registration<'a> {
    id: &'a str,
    role: &'a str,
    country: &'a str,
    currency: &'a str,
    callback: String,
}

fn sim_merchant(id: &str, name: &str, country: &str, ccy: &str, codes: Vec<String>) -> SimMerchant {
    SimMerchant {
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
        currency: cur(ccy),
        codes,
    }
}

impl Gateway {
    /// A gateway over `store` on a free port, its simulators, and the
    /// participants, merchants, routes, caps and rates of the scenarios.
    async fn start(store: Store) -> Gateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let keys = common::keys(store.clone()).await;
        let callbacks = api::payments::CallbackLimits {
            timeout_ms: 1_500,
            retries_max: 1,
            backoff_base_ms: 10,
            backoff_max_ms: 50,
            breaker_failures: 100,
            ..Default::default()
        };
        // The resolver runs only when a test asks (`sweep`), and then at
        // once: no age, no backoff to wait out.
        let payments = api::payments::PaymentsConfig {
            callbacks,
            recovery: api::recovery::RecoveryConfig {
                min_age_ms: 0,
                backoff_base_ms: 1,
                backoff_max_ms: 1,
                inquiry_budget: 2,
                cancel_budget: 2,
                notify_attempts: 2,
                ..Default::default()
            },
            ..Default::default()
        };
        let connectors =
            api::payments::connectors(keys.clone(), store.clone(), &callbacks, true).unwrap();
        let fee_rule: ledger::fees::FeeRule = serde_json::from_value(json!({
            "rate_bps": FEE_BPS, "min_minor": 1,
            "split": {"acquirer_bps": FEE_SPLIT.0, "wallet_bps": FEE_SPLIT.1, "gateway_bps": FEE_SPLIT.2}
        }))
        .unwrap();
        let state = AppState {
            payments,
            connectors,
            risk: Arc::new(DeclineAmount(RISKY_MINOR)),
            risk_rules: Arc::default(),
            store: store.clone(),
            limits: HttpLimits::default(),
            node_id: "flows-node".into(),
            allow_private_callbacks: true,
            keys,
            signing: api::signed::SigningConfig::default(),
            policy: participant::StagePolicy::default(),
            idempotency_retention_ms: api::IDEMPOTENCY_RETENTION_MS_DEFAULT,
            fees: Arc::new(ledger::fees::Schedule::load(vec![fee_rule]).unwrap()),
            routing: api::routes::RoutingConfig::default(),
            fx: api::fx::FxConfig {
                firm_quotes: "rates".into(),
                // The house rates are set once per run.
                staleness_s: 3_600,
                ..api::fx::FxConfig::default()
            },
        };
        let server = tokio::spawn(async move {
            axum::serve(listener, api::router(state)).await.unwrap();
        });
        let (_, op_token) = store
            .token_create(store::Role::Operator, "ops", 1)
            .await
            .unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();

        // The codes and the simulators, started before their participants
        // are registered so their ports are known.
        let cn_static = cn_code(None, None);
        let th_static = promptpay_code(TH_PROXY, "SOM TAM HOUSE");
        let down_static = promptpay_code(DOWN_PROXY, "GONE NOODLES");
        let mut cn_codes = vec![cn_static.clone()];
        cn_codes.extend(dynamic_codes());
        let signers: BTreeMap<&str, Arc<KeySigner>> =
            ["mn-wallet", "cn-wallet", "cn-acq", "th-acq", "down-acq"]
                .into_iter()
                .map(|id| (id, new_signer(id)))
                .collect();
        let users = vec![
            SimUser {
                id: "u-mn-1".into(),
                name: "Bat-Erdene Dorj".into(),
                country: "MN".into(),
                balance: Money::new(200_000_000, cur("MNT")),
            },
            SimUser {
                id: "u-mn-2".into(),
                name: "Oyuun Bold".into(),
                country: "MN".into(),
                balance: Money::new(50_000_000, cur("MNT")),
            },
        ];
        let mn_sim = start_sim(
            &signers["mn-wallet"],
            &url,
            Role::Wallet {
                users: users.clone(),
            },
        )
        .await;
        let cn_wallet_sim = start_sim(
            &signers["cn-wallet"],
            &url,
            Role::Wallet {
                users: vec![SimUser {
                    id: "u-cn-1".into(),
                    name: "Li Wei".into(),
                    country: "CN".into(),
                    balance: Money::new(10_000_000, cur("CNY")),
                }],
            },
        )
        .await;
        let cn_acq_sim = start_sim(
            &signers["cn-acq"],
            &url,
            Role::Acquirer {
                merchants: vec![sim_merchant(
                    "cn-m1",
                    "ERLIAN HOTPOT",
                    "CN",
                    "CNY",
                    cn_codes,
                )],
            },
        )
        .await;
        let th_acq_sim = start_sim(
            &signers["th-acq"],
            &url,
            Role::Acquirer {
                merchants: vec![sim_merchant(
                    "th-m1",
                    "SOM TAM HOUSE",
                    "TH",
                    "THB",
                    vec![th_static.clone()],
                )],
            },
        )
        .await;
        // An acquirer whose callback port is closed.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };

        let mut gw = Gateway {
            url: url.clone(),
            http,
            op_token,
            mn_wallet: party(&url, &signers["mn-wallet"]),
            cn_wallet: party(&url, &signers["cn-wallet"]),
            cn_acq: party(&url, &signers["cn-acq"]),
            th_acq: party(&url, &signers["th-acq"]),
            mn_sim,
            cn_acq_sim,
            th_acq_sim,
            users,
            acq_merchants: BTreeMap::from([
                ("cn-acq".to_string(), vec!["cn-m1".to_string()]),
                ("th-acq".to_string(), vec!["th-m1".to_string()]),
            ]),
            codes: Codes {
                cn_static,
                th_static,
                down_static,
                unrouted: unrouted_code(),
                cn_gm: String::new(),
                th_gm: String::new(),
                down_gm: String::new(),
            },
            store: store.clone(),
            server,
        };

        // Onboarding through the operator API.
        let sim_url = |r: &Running| format!("http://{}", r.addr);
        for (reg, signer) in [
            (
                Registration {
                    id: "mn-wallet",
                    role: "wallet",
                    country: "MN",
                    currency: "MNT",
                    callback: sim_url(&gw.mn_sim),
                },
                &signers["mn-wallet"],
            ),
            (
                Registration {
                    id: "cn-wallet",
                    role: "wallet",
                    country: "CN",
                    currency: "CNY",
                    callback: sim_url(&cn_wallet_sim),
                },
                &signers["cn-wallet"],
            ),
            (
                Registration {
                    id: "cn-acq",
                    role: "acquirer",
                    country: "CN",
                    currency: "CNY",
                    callback: sim_url(&gw.cn_acq_sim),
                },
                &signers["cn-acq"],
            ),
            (
                Registration {
                    id: "th-acq",
                    role: "acquirer",
                    country: "TH",
                    currency: "THB",
                    callback: sim_url(&gw.th_acq_sim),
                },
                &signers["th-acq"],
            ),
            (
                Registration {
                    id: "down-acq",
                    role: "acquirer",
                    country: "TH",
                    currency: "THB",
                    callback: format!("http://{closed}"),
                },
                &signers["down-acq"],
            ),
        ] {
            gw.onboard(&reg, signer).await;
        }
        // The cn-wallet's simulator keeps serving (it is asked nothing
        // in these MPM-only flows but notifications).
        drop(cn_wallet_sim);

        // Merchants in the registry, each under its acquirer.
        gw.codes.cn_gm = gw
            .register_merchant(
                &gw.cn_acq,
                "cn-m1",
                "ERLIAN HOTPOT",
                "CN",
                "ERENHOT",
                "Asia/Shanghai",
                ("unionpay_id", CN_TAG15),
            )
            .await;
        gw.codes.th_gm = gw
            .register_merchant(
                &gw.th_acq,
                "th-m1",
                "SOM TAM HOUSE",
                "TH",
                "BANGKOK",
                "Asia/Bangkok",
                ("promptpay_proxy", TH_PROXY),
            )
            .await;
        let down = party(&url, &signers["down-acq"]);
        gw.codes.down_gm = gw
            .register_merchant(
                &down,
                "down-m1",
                "GONE NOODLES",
                "TH",
                "BANGKOK",
                "Asia/Bangkok",
                ("promptpay_proxy", DOWN_PROXY),
            )
            .await;

        // Routes.
        for (side, kind, value, to) in [
            ("merchant", "account", PROMPTPAY, "th-acq"),
            (
                "merchant",
                "account",
                &format!("15:{CN_IIN}") as &str,
                "cn-acq",
            ),
            ("wallet", "payment_code_prefix", MN_CODE_PREFIX, "mn-wallet"),
        ] {
            let r = gw
                .op(
                    "POST",
                    "/v1/admin/routes",
                    Some(json!({"side": side, "kind": kind, "value": value, "participant_id": to})),
                )
                .await;
            assert_eq!(r.status, 201, "route {value}: {}", r.json);
        }
        // The harness's own check: the codes go where the scenarios expect.
        for (code, to) in [
            (gw.codes.cn_static.clone(), "cn-acq"),
            (gw.codes.th_static.clone(), "th-acq"),
            (gw.codes.down_static.clone(), "down-acq"),
            (gw.mn_sim.issue_code("u-mn-2", MN_CODE_PREFIX), "mn-wallet"),
        ] {
            let r = gw
                .op(
                    "POST",
                    "/v1/admin/routes/resolve",
                    Some(json!({"code": code, "payer_country": "MN"})),
                )
                .await;
            assert_eq!(r.status, 200, "resolve: {}", r.json);
            assert_eq!(r.json["matched"]["participant_id"], to, "{}", r.json);
        }

        // Net debit caps of the wallets, in their settlement currencies.
        for (who, ccy, cap) in [
            ("mn-wallet", "MNT", MN_CAP.to_string()),
            ("cn-wallet", "CNY", "10000000".to_string()),
        ] {
            let r = gw
                .op(
                    "PUT",
                    "/v1/admin/ledger/limits",
                    Some(json!({"participant": who, "currency": ccy, "kind": "net_debit_cap", "amount": cap})),
                )
                .await;
            assert_eq!(r.status, 200, "limit {who}: {}", r.json);
        }

        // The house book: 1 CNY ≈ 480 MNT, 1 CNY ≈ 4.9 THB, 1 THB ≈ 97 MNT.
        let r = gw
            .op(
                "PUT",
                "/v1/admin/fx/rates",
                Some(json!({"rates": [
                    {"base": "CNY", "quote": "MNT", "bid": "478", "ask": "482", "source": "test"},
                    {"base": "CNY", "quote": "THB", "bid": "4.90", "ask": "4.95", "source": "test"},
                    {"base": "THB", "quote": "MNT", "bid": "96", "ask": "98", "source": "test"},
                ]})),
            )
            .await;
        assert_eq!(r.status, 200, "rates: {}", r.json);
        assert_eq!(r.json["accepted"], 3, "{}", r.json);
        gw
    }

    async fn onboard(&self, reg: &Registration<'_>, signer: &Arc<KeySigner>) {
        let r = self
            .op(
                "POST",
                "/v1/admin/participants",
                Some(json!({
                    "id": reg.id, "legal_name": format!("{} Ltd", reg.id), "roles": [reg.role],
                    "country": reg.country, "currencies": [reg.currency],
                    "settlement_currency": reg.currency,
                    "settlement_account": format!("{}-SETTLE-1", reg.country),
                    "callback_base_url": reg.callback,
                })),
            )
            .await;
        assert_eq!(r.status, 201, "register {}: {}", reg.id, r.json);
        let r = self
            .op(
                "POST",
                &format!("/v1/admin/participants/{}/keys", reg.id),
                Some(json!({"public_key_pem": signer.key.public_key().to_pem().unwrap()})),
            )
            .await;
        assert_eq!(r.status, 201, "key {}: {}", reg.id, r.json);
        assert_eq!(r.json["key_version"], 1, "{}", r.json);
        for to in [
            "admitted",
            "joint_testing",
            "production_verification",
            "signed",
            "live",
        ] {
            let r = self
                .op(
                    "POST",
                    &format!("/v1/admin/participants/{}/stage", reg.id),
                    Some(json!({"to": to, "reason": "flows test"})),
                )
                .await;
            assert_eq!(r.status, 200, "{} to {to}: {}", reg.id, r.json);
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn register_merchant(
        &self,
        acquirer: &Party,
        id: &str,
        name: &str,
        country: &str,
        city: &str,
        tz: &str,
        (kind, value): (&str, &str),
    ) -> String {
        let r = self
            .call(
                acquirer,
                "POST",
                "/v1/merchants",
                Some(json!({
                    "request_id": format!("m-{id}"), "acquirer_merchant_id": id, "name": name,
                    "mcc": "5812", "country": country, "city": city, "time_zone": tz,
                    "kyb_status": "verified", "identifiers": [{"kind": kind, "value": value}],
                })),
            )
            .await;
        assert_eq!(r.status, 201, "merchant {id}: {}", r.json);
        r.json["id"].as_str().unwrap().to_string()
    }

    // -----------------------------------------------------------------
    // Calls.

    /// An operator call with the bearer token.
    async fn op(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let mut req = self
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", self.url),
            )
            .bearer_auth(&self.op_token);
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let answer = req.send().await.unwrap();
        let status = answer.status().as_u16();
        let bytes = answer.bytes().await.unwrap();
        Reply {
            status,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// A GET with another bearer token.
    async fn get_as(&self, token: &str, path: &str) -> Reply {
        let answer = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let bytes = answer.bytes().await.unwrap();
        Reply {
            status,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// Issue 15's tie-out of a closed cycle: the daily report, its
    /// settlement section and the statistics agree exactly; the regulator
    /// reads reports and nothing else.
    async fn check_daily_report(&self, date: &str, positions: &[Value], instructions: &[Value]) {
        let (_, regulator) = self
            .store
            .token_create(store::Role::Regulator, "pboc", 1)
            .await
            .unwrap();
        let list = self.get_as(&regulator, "/v1/reports/daily").await;
        assert_eq!(list.status, 200, "{}", list.json);
        assert_eq!(
            list.json["reports"][0]["clearing_date"], date,
            "{}",
            list.json
        );
        let report = self
            .get_as(&regulator, &format!("/v1/reports/daily/{date}"))
            .await;
        assert_eq!(report.status, 200, "{}", report.json);
        let r = &report.json;
        assert_eq!(
            r["tie_out"],
            json!({"payments_match_cycle": true, "refunds_match_cycle": true,
                   "nets_sum_to_zero": true, "instructions_settle_positions": true}),
            "{r}"
        );
        // Its settlement section is the cycle's.
        let settlement: Vec<(String, String, i64)> = r["settlement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["party"].as_str().unwrap().to_string(),
                    p["currency"].as_str().unwrap().to_string(),
                    p["net"].as_i64().unwrap(),
                )
            })
            .collect();
        let cycle: Vec<(String, String, i64)> = positions
            .iter()
            .map(|p| {
                (
                    p["party"].as_str().unwrap().to_string(),
                    p["currency"].as_str().unwrap().to_string(),
                    p["net"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(settlement, cycle);
        let instructed: i64 = instructions
            .iter()
            .map(|i| i["amount"].as_i64().unwrap())
            .sum();
        let paid: i64 = r["settlement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["instructed"].as_i64().unwrap().max(0))
            .sum();
        assert_eq!(paid, instructed);
        // 6 payments: 5 went through (one cancelled); 2 refunds.
        let by_status: BTreeMap<String, i64> = r["by_status"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g["key"]["status"].as_str().unwrap().to_string(),
                    g["count"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(by_status.values().sum::<i64>(), 6, "{r}");
        assert_eq!(
            r["cancelled"],
            by_status.get("cancelled").copied().unwrap_or(0)
        );
        let refunds: i64 = r["refunds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["count"].as_i64().unwrap())
            .sum();
        assert_eq!(refunds, 2, "{r}");
        assert!(!r["largest"].as_array().unwrap().is_empty(), "{r}");
        assert!(
            r["balance_of_payments"]
                .as_array()
                .unwrap()
                .iter()
                .all(|g| g["key"]["purpose"] == "GDDS"),
            "{r}"
        );
        // The statistics of the same cycle, by the regulator and the
        // operator, agree with the report exactly.
        for (section, group_by) in [
            ("by_participant", "participant"),
            ("by_direction_corridor", "direction,corridor"),
            (
                "balance_of_payments",
                "purpose,payer_residency,merchant_residency",
            ),
        ] {
            let path = format!(
                "/stats?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&clearing_date={date}&status=succeeded&group_by={group_by}"
            );
            let reg = self.get_as(&regulator, &format!("/v1/reports{path}")).await;
            assert_eq!(
                reg.status, 400,
                "a window over a year is refused: {}",
                reg.json
            );
            // A week around the date holds every payment of its cycle.
            let day: jiff::civil::Date = date.parse().unwrap();
            let path = path
                .replace("2000-01-01", &(day - jiff::ToSpan::days(3)).to_string())
                .replace("2100-01-01", &(day + jiff::ToSpan::days(3)).to_string());
            let reg = self.get_as(&regulator, &format!("/v1/reports{path}")).await;
            assert_eq!(reg.status, 200, "{}", reg.json);
            let op = self.op("GET", &format!("/v1/admin{path}"), None).await;
            assert_eq!(op.json, reg.json);
            assert_eq!(
                reg.json["groups"], r[section],
                "{section}: {} vs {}",
                reg.json, r[section]
            );
        }
        // The CSV, with its SHA-256.
        let answer = self
            .http
            .get(format!("{}/v1/reports/daily/{date}/csv", self.url))
            .bearer_auth(&regulator)
            .send()
            .await
            .unwrap();
        let sha = answer.headers()["x-content-sha256"]
            .to_str()
            .unwrap()
            .to_string();
        let csv = answer.text().await.unwrap();
        assert!(csv.starts_with(api::reports::REPORT_CSV_HEADER), "{csv}");
        use sha2::Digest;
        let digest: String = sha2::Sha256::digest(csv.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sha, digest);
        assert_eq!(list.json["reports"][0]["csv_sha256"], sha.as_str());
        assert!(csv.contains("tie_out,nets_sum_to_zero,,1,0,0"), "{csv}");
        // The regulator reads reports and nothing else.
        for path in [
            "/v1/admin/stats".to_string(),
            "/v1/admin/cycles".into(),
            format!("/v1/admin/cycles/{date}"),
            "/v1/admin/participants".into(),
        ] {
            let r = self.get_as(&regulator, &path).await;
            assert_eq!(r.status, 403, "{path}: {}", r.json);
        }
        let make = self
            .http
            .post(format!("{}/v1/admin/reports/daily/{date}", self.url))
            .bearer_auth(&regulator)
            .send()
            .await
            .unwrap();
        assert_eq!(make.status().as_u16(), 403);
    }

    /// A participant's signed call; the answer's signature must verify
    /// against the gateway's published keys.
    async fn call(&self, who: &Party, method: &str, target: &str, body: Option<Value>) -> Reply {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let ct = (!bytes.is_empty()).then_some("application/json");
        let answer = who.client.call(method, target, ct, bytes).await.unwrap();
        let json = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        assert!(
            answer.verified.is_ok(),
            "{} {method} {target}: HTTP {} {json}: the answer's signature does not verify: {:?}",
            who.id,
            answer.status,
            answer.verified
        );
        Reply {
            status: answer.status,
            json,
        }
    }

    async fn consult(&self, wallet: &Party, code: &str, payer: &Value, pay_ccy: &str) -> Reply {
        self.call(
            wallet,
            "POST",
            "/v1/mpm/consult",
            Some(json!({"code": code, "payer": payer, "pay_currency": pay_ccy})),
        )
        .await
    }

    /// A firm quote, which must be given.
    async fn quote(
        &self,
        wallet: &Party,
        request_id: &str,
        payer: &Value,
        bound_to: (&str, &str),
        pay_ccy: &str,
        receive: &Value,
    ) -> Value {
        let mut body = json!({"request_id": request_id, "payer": payer,
            "pay_currency": pay_ccy, "receive": receive});
        body[bound_to.0] = json!(bound_to.1);
        let r = self.call(wallet, "POST", "/v1/quotes", Some(body)).await;
        r.ok("quote").clone()
    }

    async fn pay_mpm(
        &self,
        wallet: &Party,
        request_id: &str,
        code: &str,
        amount: &Value,
        quote_id: Option<&str>,
        payer: &Value,
    ) -> Reply {
        self.call(
            wallet,
            "POST",
            "/v1/payments",
            Some(mpm_body(request_id, code, amount, quote_id, payer)),
        )
        .await
    }

    /// A quote for the MN payer in MNT, bound to a merchant (`gm-…`) or
    /// an order.
    async fn mn_quote(&self, rid: &str, bound_to: (&str, &str), receive: &Value) -> Value {
        self.quote(&self.mn_wallet, rid, &mn_payer(), bound_to, "MNT", receive)
            .await
    }

    /// The MN payer pays `code` through mn-wallet (MPM) by `quote`.
    async fn mn_pays(&self, rid: &str, code: &str, amount: &Value, quote: Option<&Value>) -> Reply {
        let quote_id = quote.and_then(|q| q["quote_id"].as_str());
        self.pay_mpm(&self.mn_wallet, rid, code, amount, quote_id, &mn_payer())
            .await
    }

    /// The simulators' merchants' and the MN user's balances.
    async fn sim_balances(&self) -> (i64, i64, i64) {
        (
            self.cn_acq_sim.balance("cn-m1").await.unwrap(),
            self.th_acq_sim.balance("th-m1").await.unwrap(),
            self.mn_sim.balance("u-mn-1").await.unwrap(),
        )
    }

    async fn pay_cpm(
        &self,
        acquirer: &Party,
        request_id: &str,
        payment_code: &str,
        amount: &Value,
        merchant_id: &str,
        order_id: &str,
    ) -> Reply {
        self.call(
            acquirer,
            "POST",
            "/v1/payments",
            Some(json!({
                "request_id": request_id, "mode": "cpm", "payment_code": payment_code,
                "amount": amount, "merchant_id": merchant_id, "order_id": order_id,
            })),
        )
        .await
    }

    /// The details of a payment's history, oldest first.
    async fn store_history(&self, id: &str) -> Vec<String> {
        self.store
            .payment_history(id)
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.detail)
            .collect()
    }

    /// An operator GET answered as text: (status, body, X-Content-SHA256).
    async fn op_text(&self, path: &str) -> (u16, String, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.op_token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let sha = r
            .headers()
            .get("x-content-sha256")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (status, r.text().await.unwrap(), sha)
    }

    /// One recovery sweep now (resolver, refunds, notifier).
    async fn sweep(&self) -> Value {
        let r = self.op("POST", "/v1/admin/recovery/sweep", None).await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.json["errors"], 0, "{}", r.json);
        r.json
    }

    /// The notifications of one payment, from the operator API.
    async fn notifications_of(&self, payment: &str) -> Vec<Value> {
        let r = self
            .op(
                "GET",
                &format!("/v1/admin/notifications?payment_id={payment}"),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        r.json["notifications"].as_array().unwrap().clone()
    }

    async fn by_id(&self, who: &Party, id: &str) -> Reply {
        self.call(who, "GET", &format!("/v1/payments/{id}"), None)
            .await
    }

    async fn by_request(&self, who: &Party, request_id: &str) -> Reply {
        self.call(
            who,
            "GET",
            &format!("/v1/payments?request_id={request_id}"),
            None,
        )
        .await
    }

    /// Every account's four sums, accounts with none left out.
    async fn balances(&self) -> BTreeMap<String, [i64; 4]> {
        let r = self.op("GET", "/v1/admin/ledger/accounts", None).await;
        assert_eq!(r.status, 200, "{}", r.json);
        r.json["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let n = |k: &str| a[k].as_i64().unwrap();
                (
                    a["id"].as_str().unwrap().to_string(),
                    [
                        n("debits_pending"),
                        n("debits_posted"),
                        n("credits_pending"),
                        n("credits_posted"),
                    ],
                )
            })
            .filter(|(_, sums)| sums.iter().any(|s| *s != 0))
            .collect()
    }

    /// Posted net (credits less debits) of each participant's settlement
    /// accounts, by (owner, currency).
    async fn settlement_positions(&self) -> BTreeMap<(String, String), i64> {
        let r = self.op("GET", "/v1/admin/ledger/accounts", None).await;
        assert_eq!(r.status, 200, "{}", r.json);
        r.json["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == "settlement" && a["owner"] != "unigate")
            .map(|a| {
                (
                    (
                        a["owner"].as_str().unwrap().to_string(),
                        a["currency"].as_str().unwrap().to_string(),
                    ),
                    a["net_posted"].as_str().unwrap().parse::<i64>().unwrap(),
                )
            })
            .filter(|(_, v)| *v != 0)
            .collect()
    }

    // -----------------------------------------------------------------
    // The flows as a wallet runs them.

    /// Consult, quote (when the currencies differ), pay; the payment must
    /// succeed. Returns the pay answer's payment and the quote.
    #[allow(clippy::too_many_arguments)]
    async fn mpm_paid(
        &self,
        wallet: &Party,
        rid: &str,
        code: &str,
        payer: &Value,
        pay_ccy: &str,
        amount: &Value,
    ) -> (Value, Option<Value>) {
        let consult = self.consult(wallet, code, payer, pay_ccy).await;
        let c = consult.ok(&format!("consult for {rid}"));
        let quote = if currency(amount) == pay_ccy {
            None
        } else {
            let bound = match c["order_id"].as_str() {
                Some(o) => ("order_id", o.to_string()),
                None => (
                    "merchant_id",
                    c["merchant"]["gateway_merchant_id"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                ),
            };
            Some(
                self.quote(
                    wallet,
                    &format!("{rid}-q"),
                    payer,
                    (bound.0, bound.1.as_str()),
                    pay_ccy,
                    amount,
                )
                .await,
            )
        };
        let quote_id = quote.as_ref().map(|q| q["quote_id"].as_str().unwrap());
        let r = self
            .pay_mpm(wallet, rid, code, amount, quote_id, payer)
            .await;
        r.ok(&format!("pay {rid}"));
        (r.payment().clone(), quote)
    }

    /// The inquiry by id from both parties and by request id from the
    /// initiator each give the payment as the pay answer did; a third
    /// participant does not see it.
    async fn check_inquiries(&self, payment: &Value, parties: [&Party; 2], outsider: &Party) {
        let id = payment["id"].as_str().unwrap();
        let rid = payment["request_id"].as_str().unwrap();
        for who in parties {
            let r = self.by_id(who, id).await;
            r.ok(&format!("inquiry by id as {}", who.id));
            assert_eq!(r.payment(), payment, "inquiry by id as {}", who.id);
        }
        let initiator = parties
            .iter()
            .find(|p| payment["initiator"] == p.id.as_str())
            .expect("the initiator is a party");
        let r = self.by_request(initiator, rid).await;
        r.ok("inquiry by request id");
        assert_eq!(r.payment(), payment, "inquiry by request id");
        // Request ids are the caller's own (SPEC §4.3: the key is
        // participant, operation, request id): the other party's are not
        // found under its name.
        let other = parties
            .iter()
            .find(|p| payment["initiator"] != p.id.as_str())
            .expect("the other party");
        let r = self.by_request(other, rid).await;
        assert_eq!(
            r.status, 404,
            "{} asks by {}'s request id: {}",
            other.id, initiator.id, r.json
        );
        let r = self.by_id(outsider, id).await;
        assert_eq!(
            r.status, 404,
            "{} is not a party of {id}: {}",
            outsider.id, r.json
        );
    }

    // -----------------------------------------------------------------
    // Reconciliation.

    /// Every payment the scenarios made, by id, as inquired now.
    async fn payments(&self, ids: &[(String, &Party)]) -> Vec<Value> {
        let mut out = Vec::new();
        for (id, who) in ids {
            let r = self.by_id(who, id).await;
            assert_eq!(r.status, 200, "inquiry of {id}: {}", r.json);
            assert!(r.payment().is_object(), "inquiry of {id}: {}", r.json);
            out.push(r.payment().clone());
        }
        out
    }

    /// The books of the simulators, the gateway's trial balance and the
    /// settlement positions against the payments, to the minor unit.
    async fn reconcile(&self, payments: &[Value]) {
        let succeeded: Vec<&Value> = payments
            .iter()
            .filter(|p| p["state"] == "succeeded")
            .collect();
        // Each acquirer's merchants were credited (pay) what its succeeded
        // MPM payments say; CPM payments the acquirer collected itself.
        for (acq, sim) in [("cn-acq", &self.cn_acq_sim), ("th-acq", &self.th_acq_sim)] {
            let mut credited = 0;
            for m in &self.acq_merchants[acq] {
                credited += sim.balance(m).await.unwrap();
            }
            let expected: i64 = succeeded
                .iter()
                .filter(|p| p["acquirer"] == acq && p["mode"] == "mpm")
                .map(|p| minor(&p["amounts"]["merchant"]))
                .sum();
            assert_eq!(credited, expected, "{acq}'s merchants against its payments");
        }
        // The MN wallet's users were debited (authorize) what its CPM
        // payments say they paid.
        let mut debited = 0;
        for u in &self.users {
            debited += u.balance.minor - self.mn_sim.balance(&u.id).await.unwrap();
        }
        let expected: i64 = succeeded
            .iter()
            .filter(|p| p["wallet"] == "mn-wallet" && p["mode"] == "cpm")
            .map(|p| minor(&p["amounts"]["payer"]))
            .sum();
        assert_eq!(
            debited, expected,
            "mn-wallet's users against its CPM payments"
        );

        // The gateway's books balance per currency, nothing left pending.
        let tb = self.op("GET", "/v1/admin/ledger/trial-balance", None).await;
        assert_eq!(tb.status, 200, "{}", tb.json);
        assert_eq!(tb.json["balanced"], true, "{}", tb.json);
        for c in tb.json["currencies"].as_array().unwrap() {
            assert_eq!(
                (c["posted_net"].as_i64(), c["pending_net"].as_i64()),
                (Some(0), Some(0)),
                "{c}"
            );
        }

        // Each participant's settlement position against its payments.
        let expected = expected_positions(&succeeded);
        assert!(
            !succeeded.is_empty() && !expected.is_empty(),
            "nothing to reconcile"
        );
        let actual = self.settlement_positions().await;
        assert_eq!(
            actual, expected,
            "settlement positions (owner, currency) → net posted"
        );
    }
}

fn party(url: &str, signer: &Arc<KeySigner>) -> Party {
    let limits = client::ClientLimits {
        timeout: Duration::from_secs(10),
        ..client::ClientLimits::default()
    };
    Party {
        id: signer.client_id.clone(),
        client: client::SignedClient::new(url, signer.clone(), limits).unwrap(),
    }
}

fn mpm_body(
    request_id: &str,
    code: &str,
    amount: &Value,
    quote_id: Option<&str>,
    payer: &Value,
) -> Value {
    let mut body = json!({"request_id": request_id, "mode": "mpm", "code": code,
        "amount": amount, "payer": payer});
    if let Some(q) = quote_id {
        body["quote_id"] = json!(q);
    }
    body
}

/// Dynamic CN codes (single use): (bill number, amount) each.
const DYNAMIC: [(&str, &str); 3] = [
    ("INV-0001", "88.00"),
    ("INV-0002", "66.00"),
    ("INV-0003", "12.34"),
];

fn dynamic_codes() -> Vec<String> {
    DYNAMIC
        .iter()
        .map(|(bill, amount)| cn_code(Some(amount), Some(bill)))
        .collect()
}

/// What the succeeded payments should have done to each participant's
/// settlement accounts, by (owner, currency), posted net (credits less
/// debits): the wallet is debited what its payer paid (in its settlement
/// currency); the acquirer is credited the merchant's amount less the fee,
/// plus its share of the fee; the wallet is credited its share of the fee
/// (in the fee's currency). The gateway's share, the markup and the
/// rounding stay on the gateway's own accounts. One place to change if
/// the ledger's shape changes.
fn expected_positions(succeeded: &[&Value]) -> BTreeMap<(String, String), i64> {
    let mut pos: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut add = |owner: &Value, m: &Value, delta: i64| {
        *pos.entry((owner.as_str().unwrap().to_string(), currency(m).to_string()))
            .or_default() += delta;
    };
    for p in succeeded {
        let a = &p["amounts"];
        add(
            &p["wallet"],
            &a["wallet_settlement"],
            -minor(&a["wallet_settlement"]),
        );
        add(&p["acquirer"], &a["merchant"], minor(&a["merchant"]));
        if let Some(f) = p["fees"].as_object() {
            add(&p["acquirer"], &f["total"], -minor(&f["total"]));
            add(&p["acquirer"], &f["acquirer"], minor(&f["acquirer"]));
            add(&p["wallet"], &f["wallet"], minor(&f["wallet"]));
        }
    }
    pos.retain(|_, v| *v != 0);
    pos
}

// ---------------------------------------------------------------------
// Checks of one payment.

/// What a succeeded payment must say.
struct Expect<'a> {
    request_id: &'a str,
    initiator: &'a str,
    mode: &'a str,
    direction: &'a str,
    wallet: &'a str,
    acquirer: &'a str,
    /// Gateway merchant id, and the acquirer's own id for it.
    merchant: (&'a str, &'a str),
    order_id: Option<&'a str>,
    merchant_amount: Value,
    payer_currency: &'a str,
    /// The firm quote the payer paid by (MPM), when there was one.
    quote: Option<&'a Value>,
}

fn check_payment(p: &Value, e: &Expect<'_>) {
    let ctx = p.to_string();
    assert!(p["id"].as_str().is_some_and(|s| !s.is_empty()), "id: {ctx}");
    for (field, want) in [
        ("request_id", e.request_id),
        ("initiator", e.initiator),
        ("mode", e.mode),
        ("state", "succeeded"),
        ("direction", e.direction),
        ("wallet", e.wallet),
        ("acquirer", e.acquirer),
    ] {
        assert_eq!(p[field], want, "{field}: {ctx}");
    }
    // The contract leaves open whether the payment names the merchant by
    // the gateway's id or the acquirer's; docs/payments.md stores the
    // gateway's.
    assert!(
        p["merchant_id"] == e.merchant.0 || p["merchant_id"] == e.merchant.1,
        "merchant_id: {ctx}"
    );
    match e.order_id {
        Some(o) => assert_eq!(p["order_id"], o, "order_id: {ctx}"),
        None => assert!(p["order_id"].is_null(), "order_id: {ctx}"),
    }
    let a = &p["amounts"];
    assert_eq!(a["merchant"], e.merchant_amount, "amounts.merchant: {ctx}");
    assert_eq!(
        currency(&a["payer"]),
        e.payer_currency,
        "amounts.payer: {ctx}"
    );
    assert!(minor(&a["payer"]) > 0, "amounts.payer: {ctx}");
    // Here every participant settles in the currency it pays or collects:
    // the wallet settles what its payer paid, the acquirer the merchant's
    // amount less the fee, plus its share of the fee.
    assert_eq!(
        a["wallet_settlement"], a["payer"],
        "wallet_settlement: {ctx}"
    );
    let (total, acq, _, _) = expected_fee(minor(&e.merchant_amount));
    assert_eq!(
        a["acquirer_settlement"],
        money(
            minor(&e.merchant_amount) - total + acq,
            currency(&e.merchant_amount)
        ),
        "acquirer_settlement: {ctx}"
    );
    // The reporting amount: in CNY at the book's mid rate, half-even.
    let reporting = match currency(&e.merchant_amount) {
        "CNY" => minor(&e.merchant_amount),
        // CNY/THB mid 4.925: THB minor × 1000 / 4925.
        "THB" => div_half_even(i128::from(minor(&e.merchant_amount)) * 1_000, 4_925),
        other => panic!("no reporting rate for {other} in this test"),
    };
    assert_eq!(
        a["reporting"],
        money(reporting, "CNY"),
        "amounts.reporting: {ctx}"
    );
    // FX: the quote's, when the currencies differ.
    let cross = currency(&e.merchant_amount) != e.payer_currency;
    if cross {
        let fx = &p["fx"];
        assert!(fx.is_object(), "fx: {ctx}");
        assert_eq!(fx["provider"], "unigate", "fx.provider: {ctx}");
        assert!(fx["quote_id"].as_str().is_some(), "fx.quote_id: {ctx}");
        assert!(fx["rate"].as_str().is_some(), "fx.rate: {ctx}");
        assert!(fx["markup_bps"].as_u64().is_some(), "fx.markup_bps: {ctx}");
        if let Some(q) = e.quote {
            assert_eq!(fx["quote_id"], q["quote_id"], "fx.quote_id: {ctx}");
            assert_eq!(fx["rate"], q["rate"], "fx.rate: {ctx}");
            assert_eq!(fx["markup_bps"], q["markup_bps"], "fx.markup_bps: {ctx}");
            assert_eq!(
                a["payer"], q["pay"],
                "amounts.payer is the quote's pay: {ctx}"
            );
        }
    } else {
        assert!(p["fx"].is_null(), "fx: {ctx}");
        assert_eq!(a["payer"], e.merchant_amount, "amounts.payer: {ctx}");
    }
    // Fees under the one rule, in the merchant's currency.
    let (total, acq, wal, gw) = expected_fee(minor(&e.merchant_amount));
    let ccy = currency(&e.merchant_amount);
    let f = &p["fees"];
    for (part, want) in [
        ("total", total),
        ("acquirer", acq),
        ("wallet", wal),
        ("gateway", gw),
    ] {
        assert_eq!(f[part], money(want, ccy), "fees.{part}: {ctx}");
    }
    // The clearing date: a calendar date near today (cut-off in
    // Asia/Shanghai), and the creation time.
    let date: jiff::civil::Date = p["clearing_date"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("clearing_date: {ctx}"));
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let days = (date - today).get_days();
    assert!(
        (0..=2).contains(&days),
        "clearing_date {date} vs {today}: {ctx}"
    );
    assert!(
        p["created_at"]
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .is_some(),
        "created_at: {ctx}"
    );
}

/// A simulator that declines every payment.
fn declining() -> Faults {
    Faults {
        decline_rate: 1.0,
        ..Faults::default()
    }
}

/// An `F` answer with `code`; when a payment was created for it, it failed.
fn assert_refused(r: &Reply, code: &str) {
    assert_eq!(r.status, 200, "{code}: {}", r.json);
    assert_eq!(r.result(), ("F", code), "{}", r.json);
    if !r.payment().is_null() {
        assert_eq!(r.payment()["state"], "failed", "{}", r.json);
    }
}

/// A merchant amount the test risk rule declines.
const RISKY_MINOR: i64 = 66_666;

/// The risk port with one rule: decline payments of exactly this amount.
#[derive(Debug)]
struct DeclineAmount(i64);

impl api::payments::RiskCheck for DeclineAmount {
    fn decide(&self, facts: &api::payments::RiskFacts<'_>) -> api::payments::RiskDecision {
        if facts.merchant_amount.minor == self.0 {
            api::payments::RiskDecision::Decline {
                rules: vec!["test_amount".into()],
            }
        } else {
            api::payments::RiskDecision::Approve
        }
    }
}

/// Run `scenario` against a fresh gateway on each store engine, bounded.
async fn on_each_engine<F, Fut>(test: &str, scenario: F)
where
    F: Fn(Gateway) -> Fut,
    Fut: Future<Output = ()>,
{
    // The gateway's errors show in a failing test's output (`RUST_LOG`
    // for more).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    for store in store::testing::engines(test).await {
        let engine = format!("{:?}", store.engine());
        let run = async {
            let gw = Gateway::start(store).await;
            scenario(gw).await;
        };
        tokio::time::timeout(RUN_LIMIT, run)
            .await
            .unwrap_or_else(|_| panic!("{test} on {engine}: over {RUN_LIMIT:?}"));
    }
}

// ---------------------------------------------------------------------
// The scenarios.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpm_and_cpm_inbound_outbound_and_transit() {
    on_each_engine("flows_ok", |gw| async move {
        let mut made: Vec<(String, &Party)> = Vec::new();

        // MPM inbound: mn-wallet pays the CN merchant (MNT → CNY).
        let consult = gw
            .consult(&gw.mn_wallet, &gw.codes.cn_static, &mn_payer(), "MNT")
            .await;
        let c = consult.ok("consult");
        assert_eq!(c["acquirer"], "cn-acq", "{c}");
        assert_eq!(c["currency"], "CNY", "{c}");
        assert_eq!(c["direction"], "inbound", "{c}");
        assert!(c["amount"].is_null(), "a static code has no amount: {c}");
        assert!(c["order_id"].is_null(), "a static code has no order: {c}");
        let m = &c["merchant"];
        assert_eq!(m["merchant_id"], "cn-m1", "{c}");
        assert_eq!(m["gateway_merchant_id"], gw.codes.cn_gm.as_str(), "{c}");
        assert_eq!(m["name"], "ERLIAN HOTPOT", "{c}");
        assert_eq!(m["mcc"], "5812", "{c}");
        assert_eq!(m["city"], "ERENHOT", "{c}");
        assert_eq!(m["country"], "CN", "{c}");
        let ind = &c["indicative"];
        assert!(
            ind["rate"].as_str().is_some_and(|r| !r.is_empty()),
            "indicative: {c}"
        );
        if !ind["pay"].is_null() {
            assert_eq!(currency(&ind["pay"]), "MNT", "indicative: {c}");
        }

        let amount = money(12_850, "CNY");
        let quote = gw
            .quote(
                &gw.mn_wallet,
                "in-1-q",
                &mn_payer(),
                ("merchant_id", gw.codes.cn_gm.as_str()),
                "MNT",
                &amount,
            )
            .await;
        assert_eq!(quote["receive"], amount, "{quote}");
        assert_eq!(currency(&quote["pay"]), "MNT", "{quote}");
        // About 482 MNT a yuan, less nothing: the payer pays at least that.
        assert!(minor(&quote["pay"]) >= 12_850 * 478, "{quote}");
        let qid = quote["quote_id"].as_str().unwrap();
        let body = mpm_body("in-1", &gw.codes.cn_static, &amount, Some(qid), &mn_payer());
        let r = gw
            .call(&gw.mn_wallet, "POST", "/v1/payments", Some(body.clone()))
            .await;
        r.ok("MPM inbound");
        let inbound = r.payment().clone();
        check_payment(
            &inbound,
            &Expect {
                request_id: "in-1",
                initiator: "mn-wallet",
                mode: "mpm",
                direction: "inbound",
                wallet: "mn-wallet",
                acquirer: "cn-acq",
                merchant: (gw.codes.cn_gm.as_str(), "cn-m1"),
                order_id: None,
                merchant_amount: amount.clone(),
                payer_currency: "MNT",
                quote: Some(&quote),
            },
        );
        gw.check_inquiries(&inbound, [&gw.mn_wallet, &gw.cn_acq], &gw.th_acq)
            .await;
        // The same request again: the same answer, nothing paid twice.
        let again = gw
            .call(&gw.mn_wallet, "POST", "/v1/payments", Some(body.clone()))
            .await;
        assert_eq!(again.status, 200);
        assert_eq!(again.json, r.json, "a repeat gets the first answer");
        // The same request id with other content: refused.
        let mut other = body.clone();
        other["amount"] = money(12_851, "CNY");
        let refused = gw
            .call(&gw.mn_wallet, "POST", "/v1/payments", Some(other))
            .await;
        assert_eq!(refused.status, 409, "{}", refused.json);
        assert_eq!(
            refused.json["code"], "REPEAT_REQ_INCONSISTENT",
            "{}",
            refused.json
        );
        assert_eq!(gw.cn_acq_sim.balance("cn-m1").await.unwrap(), 12_850);
        made.push((inbound["id"].as_str().unwrap().into(), &gw.mn_wallet));

        // MPM outbound: cn-wallet pays the TH PromptPay merchant (CNY → THB).
        let consult = gw
            .consult(&gw.cn_wallet, &gw.codes.th_static, &cn_payer(), "CNY")
            .await;
        let c = consult.ok("consult TH");
        assert_eq!(
            (&c["acquirer"], &c["currency"], &c["direction"]),
            (&json!("th-acq"), &json!("THB"), &json!("outbound")),
            "{c}"
        );
        assert_eq!(
            c["merchant"]["gateway_merchant_id"],
            gw.codes.th_gm.as_str(),
            "{c}"
        );
        assert_eq!(c["merchant"]["country"], "TH", "{c}");
        let amount = money(35_000, "THB");
        let (outbound, quote) = gw
            .mpm_paid(
                &gw.cn_wallet,
                "out-1",
                &gw.codes.th_static,
                &cn_payer(),
                "CNY",
                &amount,
            )
            .await;
        check_payment(
            &outbound,
            &Expect {
                request_id: "out-1",
                initiator: "cn-wallet",
                mode: "mpm",
                direction: "outbound",
                wallet: "cn-wallet",
                acquirer: "th-acq",
                merchant: (gw.codes.th_gm.as_str(), "th-m1"),
                order_id: None,
                merchant_amount: amount.clone(),
                payer_currency: "CNY",
                quote: quote.as_ref(),
            },
        );
        gw.check_inquiries(&outbound, [&gw.cn_wallet, &gw.th_acq], &gw.mn_wallet)
            .await;
        made.push((outbound["id"].as_str().unwrap().into(), &gw.cn_wallet));

        // MPM transit: mn-wallet pays the TH merchant (MNT → THB).
        let consult = gw
            .consult(&gw.mn_wallet, &gw.codes.th_static, &mn_payer(), "MNT")
            .await;
        assert_eq!(consult.ok("consult transit")["direction"], "transit");
        let amount = money(20_025, "THB");
        let (transit, quote) = gw
            .mpm_paid(
                &gw.mn_wallet,
                "tr-1",
                &gw.codes.th_static,
                &mn_payer(),
                "MNT",
                &amount,
            )
            .await;
        check_payment(
            &transit,
            &Expect {
                request_id: "tr-1",
                initiator: "mn-wallet",
                mode: "mpm",
                direction: "transit",
                wallet: "mn-wallet",
                acquirer: "th-acq",
                merchant: (gw.codes.th_gm.as_str(), "th-m1"),
                order_id: None,
                merchant_amount: amount.clone(),
                payer_currency: "MNT",
                quote: quote.as_ref(),
            },
        );
        gw.check_inquiries(&transit, [&gw.mn_wallet, &gw.th_acq], &gw.cn_wallet)
            .await;
        made.push((transit["id"].as_str().unwrap().into(), &gw.mn_wallet));

        // MPM of a dynamic code: the amount and the order come from the code.
        let (bill, _) = DYNAMIC[0];
        let code = &dynamic_codes()[0];
        let consult = gw.consult(&gw.mn_wallet, code, &mn_payer(), "MNT").await;
        let c = consult.ok("consult dynamic");
        assert_eq!(c["amount"], money(8_800, "CNY"), "{c}");
        let order = c["order_id"]
            .as_str()
            .expect("a dynamic code's order")
            .to_string();
        assert!(
            order.contains(bill),
            "the order is the code's bill number: {c}"
        );
        let (dynamic, quote) = gw
            .mpm_paid(
                &gw.mn_wallet,
                "dyn-1",
                code,
                &mn_payer(),
                "MNT",
                &money(8_800, "CNY"),
            )
            .await;
        check_payment(
            &dynamic,
            &Expect {
                request_id: "dyn-1",
                initiator: "mn-wallet",
                mode: "mpm",
                direction: "inbound",
                wallet: "mn-wallet",
                acquirer: "cn-acq",
                merchant: (gw.codes.cn_gm.as_str(), "cn-m1"),
                order_id: Some(&order),
                merchant_amount: money(8_800, "CNY"),
                payer_currency: "MNT",
                quote: quote.as_ref(),
            },
        );
        made.push((dynamic["id"].as_str().unwrap().into(), &gw.mn_wallet));

        // CPM inbound: cn-acq charges an mn-wallet user's payment code.
        let before = gw.mn_sim.balance("u-mn-1").await.unwrap();
        let payment_code = gw.mn_sim.issue_code("u-mn-1", MN_CODE_PREFIX);
        let amount = money(4_200, "CNY");
        let r = gw
            .pay_cpm(
                &gw.cn_acq,
                "cpm-1",
                &payment_code,
                &amount,
                "cn-m1",
                "pos-0001",
            )
            .await;
        r.ok("CPM inbound");
        let cpm = r.payment().clone();
        check_payment(
            &cpm,
            &Expect {
                request_id: "cpm-1",
                initiator: "cn-acq",
                mode: "cpm",
                direction: "inbound",
                wallet: "mn-wallet",
                acquirer: "cn-acq",
                merchant: (gw.codes.cn_gm.as_str(), "cn-m1"),
                order_id: Some("pos-0001"),
                merchant_amount: amount.clone(),
                payer_currency: "MNT",
                quote: None,
            },
        );
        // The gateway quoted the CPM itself from the house book: 482 MNT a
        // yuan (the ask), less its markup, the payer's amount rounded up.
        let bps = i128::from(cpm["fx"]["markup_bps"].as_i64().unwrap());
        let exact = (i128::from(minor(&amount)) * 482 * 10_000, 10_000 - bps);
        let payer_minor = i64::try_from((exact.0 + exact.1 - 1) / exact.1).unwrap();
        assert_eq!(cpm["amounts"]["payer"], money(payer_minor, "MNT"), "{cpm}");
        // The wallet debited its user exactly the payer amount.
        assert_eq!(
            before - gw.mn_sim.balance("u-mn-1").await.unwrap(),
            minor(&cpm["amounts"]["payer"]),
            "{cpm}"
        );
        // The payment code is a secret: never answered.
        assert!(!r.json.to_string().contains(&payment_code), "{}", r.json);
        gw.check_inquiries(&cpm, [&gw.cn_acq, &gw.mn_wallet], &gw.th_acq)
            .await;
        made.push((cpm["id"].as_str().unwrap().into(), &gw.cn_acq));

        let all = gw.payments(&made).await;
        gw.reconcile(&all).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_leave_the_books_untouched() {
    on_each_engine("flows_refused", |gw| async move {
        let mut made: Vec<(String, &Party)> = Vec::new();
        let cn = |v: i64| money(v, "CNY");
        let cn_static = gw.codes.cn_static.as_str();
        let at_cn = ("merchant_id", gw.codes.cn_gm.as_str());

        // Two successes the refusals below build on: a static payment and
        // the first payment of dynamic order INV-0001.
        let used = gw.mn_quote("ok-1-q", at_cn, &cn(5_000)).await;
        let r = gw.mn_pays("ok-1", cn_static, &cn(5_000), Some(&used)).await;
        made.push((
            r.ok("static")["payment"]["id"].as_str().unwrap().into(),
            &gw.mn_wallet,
        ));
        let dyn_code = &dynamic_codes()[0];
        let (paid, _) = gw
            .mpm_paid(
                &gw.mn_wallet,
                "ok-2",
                dyn_code,
                &mn_payer(),
                "MNT",
                &cn(8_800),
            )
            .await;
        made.push((paid["id"].as_str().unwrap().into(), &gw.mn_wallet));
        let order = paid["order_id"].as_str().unwrap().to_string();

        // Each refusal: its code, and not a minor unit moved anywhere.
        let books = gw.balances().await;
        let sims = gw.sim_balances().await;
        let untouched = |what: &'static str| {
            let (gw, books) = (&gw, &books);
            async move {
                assert_eq!(
                    &gw.balances().await,
                    books,
                    "{what}: the gateway's books moved"
                );
                assert_eq!(
                    gw.sim_balances().await,
                    sims,
                    "{what}: a simulator's books moved"
                );
            }
        };

        // No route: a code whose GUID nobody serves.
        let r = gw
            .consult(&gw.mn_wallet, &gw.codes.unrouted, &mn_payer(), "MNT")
            .await;
        assert_refused(&r, "ROUTE_NOT_FOUND");
        assert!(r.json["merchant"].is_null(), "{}", r.json);
        let thb = money(1_000, "THB");
        let q = gw
            .mn_quote("nr-q", ("merchant_id", "gm-nobody"), &thb)
            .await;
        let r = gw.mn_pays("nr-1", &gw.codes.unrouted, &thb, Some(&q)).await;
        assert_refused(&r, "ROUTE_NOT_FOUND");
        untouched("no route").await;

        // The risk step declines before any money moves.
        let q = gw.mn_quote("risk-q", at_cn, &cn(RISKY_MINOR)).await;
        let r = gw
            .mn_pays("risk-1", cn_static, &cn(RISKY_MINOR), Some(&q))
            .await;
        assert_refused(&r, "RISK_DECLINED");
        assert!(
            r.json["result"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("test_amount")),
            "{}",
            r.json
        );
        untouched("risk").await;

        // A code past its own expiry (a published KHQR whose tag 99 expiry
        // is 2024-09-25; crates/qr/tests/fixtures/schemes.json
        // `kh23_ts_khqr_ts_expired`), at consult and at pay.
        let expired = "00020101021229180014vandoeurn@devb52045999530384054031015802KH5909Vandoeurn6010Phnom Penh9934001317272493649740113172724948497463047BD0";
        let r = gw.consult(&gw.mn_wallet, expired, &mn_payer(), "MNT").await;
        assert_refused(&r, "CODE_EXPIRED");
        let r = gw
            .mn_pays("exp-1", expired, &money(1_000, "USD"), None)
            .await;
        assert_refused(&r, "CODE_EXPIRED");
        // Not a code at all: a protocol fault naming the field.
        let r = gw
            .mn_pays("bad-1", "not a QR code", &cn(100), None)
            .await;
        assert_eq!((r.status, r.json["code"].as_str()), (422, Some("CODE_INVALID")), "{}", r.json);
        assert_eq!(r.json["field"], "code", "{}", r.json);
        // The wrong currency for the merchant.
        let r = gw
            .mn_pays("ccy-1", cn_static, &money(1_000, "THB"), None)
            .await;
        assert_refused(&r, "CURRENCY_MISMATCH");
        // CPM for a merchant the acquirer never registered.
        let code = gw.mn_sim.issue_code("u-mn-1", MN_CODE_PREFIX);
        let r = gw
            .pay_cpm(&gw.cn_acq, "nm-1", &code, &cn(500), "nobody", "pos-nm-1")
            .await;
        assert_refused(&r, "MERCHANT_NOT_FOUND");
        untouched("expired, invalid, wrong currency, unknown merchant").await;

        // A dynamic code paid for another amount than it carries.
        let code = &dynamic_codes()[1];
        let c = gw.consult(&gw.mn_wallet, code, &mn_payer(), "MNT").await;
        let c = c.ok("consult dynamic").clone();
        assert_eq!(c["amount"], cn(6_600), "{c}");
        let bound = ("order_id", c["order_id"].as_str().unwrap());
        let q = gw.mn_quote("am-q", bound, &cn(7_000)).await;
        let r = gw.mn_pays("am-1", code, &cn(7_000), Some(&q)).await;
        assert_refused(&r, "AMOUNT_MISMATCH");
        untouched("amount mismatch").await;

        // A dynamic code paid twice.
        let q = gw
            .mn_quote("twice-q", ("order_id", order.as_str()), &cn(8_800))
            .await;
        let r = gw.mn_pays("twice-1", dyn_code, &cn(8_800), Some(&q)).await;
        assert_refused(&r, "ORDER_USED");
        untouched("order used").await;

        // A quote for another amount.
        let q = gw.mn_quote("qm-q", at_cn, &cn(10_000)).await;
        let r = gw.mn_pays("qm-1", cn_static, &cn(12_000), Some(&q)).await;
        assert_refused(&r, "QUOTE_MISMATCH");
        untouched("quote mismatch").await;

        // A quote used before.
        let r = gw.mn_pays("qu-1", cn_static, &cn(5_000), Some(&used)).await;
        assert_refused(&r, "QUOTE_USED");
        untouched("quote used").await;

        // No quote where the currencies differ; a quote nobody gave.
        let r = gw.mn_pays("qr-1", cn_static, &cn(1_000), None).await;
        assert_refused(&r, "QUOTE_REQUIRED");
        let nobody = json!({"quote_id": "q-doesnotexist"});
        let r = gw
            .mn_pays("qn-1", cn_static, &cn(1_000), Some(&nobody))
            .await;
        assert_refused(&r, "QUOTE_NOT_FOUND");
        untouched("no quote").await;

        // The wallet's net debit cap (800,000.00 MNT): 2,000 yuan is more.
        let q = gw.mn_quote("cap-q", at_cn, &cn(200_000)).await;
        assert!(minor(&q["pay"]) > MN_CAP, "{q}");
        let r = gw.mn_pays("cap-1", cn_static, &cn(200_000), Some(&q)).await;
        assert_refused(&r, "CAP_EXCEEDED");
        untouched("cap").await;

        // The acquirer declines to credit its merchant: a payment that
        // failed.
        gw.cn_acq_sim.set_faults(declining()).unwrap();
        let q = gw.mn_quote("dec-q", at_cn, &cn(3_000)).await;
        let r = gw.mn_pays("dec-1", cn_static, &cn(3_000), Some(&q)).await;
        gw.cn_acq_sim.set_faults(Faults::default()).unwrap();
        assert_refused(&r, "PAYEE_DECLINED");
        assert_eq!(r.payment()["state"], "failed", "{}", r.json);
        made.push((r.payment()["id"].as_str().unwrap().into(), &gw.mn_wallet));
        untouched("declined").await;

        // The acquirer cannot be reached (its callback port is closed).
        let thb = money(5_000, "THB");
        let q = gw
            .mn_quote("down-q", ("merchant_id", gw.codes.down_gm.as_str()), &thb)
            .await;
        let r = gw
            .mn_pays("down-1", &gw.codes.down_static, &thb, Some(&q))
            .await;
        assert_refused(&r, "PARTICIPANT_UNAVAILABLE");
        untouched("acquirer down").await;

        // CPM with payment codes nobody issued: one under the MN wallet's
        // prefix (its wallet declines it), one no route covers.
        let unknown = format!("{MN_CODE_PREFIX}{}", "0".repeat(18 - MN_CODE_PREFIX.len()));
        let r = gw
            .pay_cpm(
                &gw.cn_acq,
                "cpm-x1",
                &unknown,
                &cn(1_000),
                "cn-m1",
                "pos-x1",
            )
            .await;
        assert_refused(&r, "PAYER_DECLINED");
        let unrouted = "110000000000000001";
        let r = gw
            .pay_cpm(
                &gw.cn_acq,
                "cpm-x2",
                unrouted,
                &cn(1_000),
                "cn-m1",
                "pos-x2",
            )
            .await;
        assert_refused(&r, "ROUTE_NOT_FOUND");
        untouched("unknown payment code").await;

        // The smallest amount, all of it eaten by the fee's minimum: an
        // answer (S, or F with its code), never a 5xx; if it went
        // through, the books below account for it.
        let q = gw.mn_quote("tiny-q", at_cn, &cn(1)).await;
        let r = gw.mn_pays("tiny-1", cn_static, &cn(1), Some(&q)).await;
        assert_eq!(r.status, 200, "one fen: {}", r.json);
        assert!(matches!(r.result().0, "S" | "F"), "one fen: {}", r.json);
        if let Some(id) = r.payment()["id"].as_str() {
            made.push((id.into(), &gw.mn_wallet));
        }

        let all = gw.payments(&made).await;
        gw.reconcile(&all).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn books_reconcile_after_a_mixed_run() {
    on_each_engine("flows_recon", |gw| async move {
        let mut made: Vec<(String, &Party)> = Vec::new();
        // Odd amounts, so rounding and fee remainders show.
        for (i, v) in [2_i64, 99, 12_345, 77_777].into_iter().enumerate() {
            let (p, _) = gw
                .mpm_paid(
                    &gw.mn_wallet,
                    &format!("mix-in-{i}"),
                    &gw.codes.cn_static,
                    &mn_payer(),
                    "MNT",
                    &money(v, "CNY"),
                )
                .await;
            made.push((p["id"].as_str().unwrap().into(), &gw.mn_wallet));
        }
        for (i, v) in [3_i64, 10_001, 54_321].into_iter().enumerate() {
            let (p, _) = gw
                .mpm_paid(
                    &gw.cn_wallet,
                    &format!("mix-out-{i}"),
                    &gw.codes.th_static,
                    &cn_payer(),
                    "CNY",
                    &money(v, "THB"),
                )
                .await;
            made.push((p["id"].as_str().unwrap().into(), &gw.cn_wallet));
            let (p, _) = gw
                .mpm_paid(
                    &gw.mn_wallet,
                    &format!("mix-tr-{i}"),
                    &gw.codes.th_static,
                    &mn_payer(),
                    "MNT",
                    &money(v, "THB"),
                )
                .await;
            made.push((p["id"].as_str().unwrap().into(), &gw.mn_wallet));
        }
        let (p, _) = gw
            .mpm_paid(
                &gw.mn_wallet,
                "mix-dyn",
                &dynamic_codes()[2],
                &mn_payer(),
                "MNT",
                &money(1_234, "CNY"),
            )
            .await;
        made.push((p["id"].as_str().unwrap().into(), &gw.mn_wallet));
        for (i, (user, v)) in [("u-mn-1", 777_i64), ("u-mn-2", 15_003), ("u-mn-1", 2)]
            .into_iter()
            .enumerate()
        {
            let code = gw.mn_sim.issue_code(user, MN_CODE_PREFIX);
            let r = gw
                .pay_cpm(
                    &gw.cn_acq,
                    &format!("mix-cpm-{i}"),
                    &code,
                    &money(v, "CNY"),
                    "cn-m1",
                    &format!("pos-{i}"),
                )
                .await;
            made.push((
                r.ok("CPM")["payment"]["id"].as_str().unwrap().into(),
                &gw.cn_acq,
            ));
        }
        // A declined one among them moves nothing.
        gw.th_acq_sim.set_faults(declining()).unwrap();
        let consult = gw
            .consult(&gw.cn_wallet, &gw.codes.th_static, &cn_payer(), "CNY")
            .await;
        consult.ok("consult");
        let q = gw
            .quote(
                &gw.cn_wallet,
                "mix-dec-q",
                &cn_payer(),
                ("merchant_id", gw.codes.th_gm.as_str()),
                "CNY",
                &money(500, "THB"),
            )
            .await;
        let r = gw
            .pay_mpm(
                &gw.cn_wallet,
                "mix-dec",
                &gw.codes.th_static,
                &money(500, "THB"),
                q["quote_id"].as_str(),
                &cn_payer(),
            )
            .await;
        gw.th_acq_sim.set_faults(Faults::default()).unwrap();
        assert_refused(&r, "PAYEE_DECLINED");
        made.push((r.payment()["id"].as_str().unwrap().into(), &gw.cn_wallet));

        let all = gw.payments(&made).await;
        assert_eq!(
            all.iter().filter(|p| p["state"] == "succeeded").count(),
            made.len() - 1
        );
        gw.reconcile(&all).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_authorize_is_unknown_and_holds_the_reservation() {
    on_each_engine("flows_unknown", |gw| async move {
        // The MN wallet debits its user but answers only after the
        // gateway's callback timeout (1.5 s).
        gw.mn_sim
            .set_faults(Faults {
                timeout_rate: 1.0,
                hang_ms: 2_500,
                ..Faults::default()
            })
            .unwrap();
        let code = gw.mn_sim.issue_code("u-mn-1", MN_CODE_PREFIX);
        let amount = money(5_000, "CNY");
        let before = gw.balances().await;
        let r = gw
            .pay_cpm(&gw.cn_acq, "hang-1", &code, &amount, "cn-m1", "pos-h1")
            .await;
        gw.mn_sim.set_faults(Faults::default()).unwrap();
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.result().0, "U", "{}", r.json);
        let first = r.json.clone();
        let p = r.payment().clone();
        assert_eq!(p["state"], "unknown", "{}", r.json);
        // The wallet's side stays reserved, nothing posted: the outcome is
        // resolved by inquiry, never by releasing it.
        let after = gw.balances().await;
        let account = "mn-wallet:settlement:MNT";
        let was = before.get(account).copied().unwrap_or_default();
        let now = after.get(account).copied().unwrap_or_default();
        assert_eq!(
            now[0] - was[0],
            minor(&p["amounts"]["wallet_settlement"]),
            "pending debits of {account}: {was:?} → {now:?}"
        );
        assert_eq!(now[1], was[1], "posted debits of {account}");
        // A repeat of the request names the same payment.
        let again = gw
            .pay_cpm(&gw.cn_acq, "hang-1", &code, &amount, "cn-m1", "pos-h1")
            .await;
        assert_eq!(again.status, 200, "{}", again.json);
        assert_eq!(again.payment()["id"], p["id"], "{}", again.json);
        // The inquiry answers U while the outcome is unknown, S once the
        // gateway has found out; never F (the user was debited).
        let r = gw.by_id(&gw.cn_acq, p["id"].as_str().unwrap()).await;
        assert_eq!(r.status, 200, "{}", r.json);
        match r.payment()["state"].as_str() {
            Some("succeeded") => assert_eq!(r.result().0, "S", "{}", r.json),
            _ => assert_eq!(r.result().0, "U", "{}", r.json),
        }
        let tb = gw.op("GET", "/v1/admin/ledger/trial-balance", None).await;
        assert_eq!(tb.json["balanced"], true, "{}", tb.json);
        // The catalogue's code for an unknown outcome; the message says why.
        assert_eq!(first["result"]["code"], "OUTCOME_UNKNOWN", "{first}");
        assert!(
            first["result"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("DOWNSTREAM_TIMEOUT")),
            "{first}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_acquirer_never_leaves_an_unknown_without_a_payment() {
    on_each_engine("flows_silent", |gw| async move {
        // The TH acquirer answers nothing in time (merchant-inquiry, pay).
        let amount = money(10_000, "THB");
        let q = gw
            .quote(
                &gw.cn_wallet,
                "silent-q",
                &cn_payer(),
                ("merchant_id", gw.codes.th_gm.as_str()),
                "CNY",
                &amount,
            )
            .await;
        gw.th_acq_sim
            .set_faults(Faults {
                timeout_rate: 1.0,
                hang_ms: 2_500,
                ..Faults::default()
            })
            .unwrap();
        let before = gw.balances().await;
        let r = gw
            .pay_mpm(
                &gw.cn_wallet,
                "silent-1",
                &gw.codes.th_static,
                &amount,
                q["quote_id"].as_str(),
                &cn_payer(),
            )
            .await;
        gw.th_acq_sim.set_faults(Faults::default()).unwrap();
        assert_eq!(r.status, 200, "{}", r.json);
        match r.result().0 {
            // U means "inquire, then cancel": there must be a payment to
            // inquire about, and it holds the wallet's reservation.
            "U" => {
                assert_eq!(r.payment()["state"], "unknown", "{}", r.json);
            }
            // F: final, and nothing moved.
            "F" => {
                assert_eq!(gw.balances().await, before, "{}", r.json);
                if !r.payment().is_null() {
                    assert_eq!(r.payment()["state"], "failed", "{}", r.json);
                }
            }
            other => panic!("{other}: {}", r.json),
        }
    })
    .await;
}

/// The gateway's position (posted credits less posted debits) of an
/// account, and whether anything of it is still pending.
fn position(books: &BTreeMap<String, [i64; 4]>, id: &str) -> (i64, bool) {
    match books.get(id) {
        // [debits_pending, debits_posted, credits_pending, credits_posted]
        Some([dp, dpo, cp, cpo]) => (cpo - dpo, *dp != 0 || *cp != 0),
        None => (0, false),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_pro_rata_never_exceed_what_was_paid() {
    on_each_engine("flows_refunds", |gw| async move {
        let refund = |rid: String, payment: String, amount: Value| {
            let gw = &gw;
            async move {
                gw.call(
                    &gw.cn_acq,
                    "POST",
                    "/v1/refunds",
                    Some(json!({"request_id": rid, "payment_id": payment, "amount": amount})),
                )
                .await
            }
        };
        // An MPM payment in CNY bought with MNT, refunded in three parts.
        let (paid, _) = gw
            .mpm_paid(
                &gw.mn_wallet,
                "rf-pay-1",
                &gw.codes.cn_static,
                &mn_payer(),
                "MNT",
                &money(12_345, "CNY"),
            )
            .await;
        let pid = paid["id"].as_str().unwrap().to_string();
        let payer_paid = minor(&paid["amounts"]["payer"]);
        let mut payer_back = 0;
        for (i, part) in [1_000_i64, 5_000, 6_345].into_iter().enumerate() {
            let r = refund(format!("rf-{i}"), pid.clone(), money(part, "CNY")).await;
            let body = r.ok("refund");
            assert_eq!(body["refund"]["state"], "succeeded", "{body}");
            assert_eq!(minor(&body["refund"]["amount"]), part);
            payer_back += minor(&body["refund"]["payer_amount"]);
            // Either party reads it.
            let id = body["refund"]["id"].as_str().unwrap();
            for who in [&gw.cn_acq, &gw.mn_wallet] {
                let got = gw.call(who, "GET", &format!("/v1/refunds/{id}"), None).await;
                assert_eq!(got.ok("get refund")["refund"]["state"], "succeeded");
            }
        }
        // The payer got back exactly what it paid: the last refund took
        // the remainder of every leg.
        assert_eq!(payer_back, payer_paid);
        let r = refund("rf-over".into(), pid.clone(), money(1, "CNY")).await;
        assert_refused(&r, "REFUND_EXCEEDS_REMAINING");
        let books = gw.balances().await;
        // Everything the payment moved is back: the wallet's MNT and the
        // acquirer's CNY positions from this payment are zero again, and
        // nothing is pending.
        assert_eq!(position(&books, "mn-wallet:settlement:MNT"), (0, false));
        assert_eq!(position(&books, "cn-acq:settlement:CNY"), (0, false));
        let tb = gw.op("GET", "/v1/admin/ledger/trial-balance", None).await;
        assert_eq!(tb.json["balanced"], true, "{}", tb.json);
        // The wallet was told of each refund.
        assert_eq!(gw.mn_sim.balance(&format!("mpm:{pid}")).await.unwrap(), payer_paid);

        // Refusals: wrong currency, someone else's payment, a repeat with
        // other content; nothing moves.
        let (paid, _) = gw
            .mpm_paid(
                &gw.mn_wallet,
                "rf-pay-2",
                &gw.codes.cn_static,
                &mn_payer(),
                "MNT",
                &money(10_000, "CNY"),
            )
            .await;
        let pid2 = paid["id"].as_str().unwrap().to_string();
        let books = gw.balances().await;
        let r = refund("rf-ccy".into(), pid2.clone(), money(100, "THB")).await;
        assert_refused(&r, "CURRENCY_MISMATCH");
        let r = gw
            .call(
                &gw.th_acq,
                "POST",
                "/v1/refunds",
                Some(json!({"request_id": "rf-other", "payment_id": pid2, "amount": money(100, "CNY")})),
            )
            .await;
        assert_refused(&r, "PAYMENT_NOT_FOUND");
        let r = gw
            .call(
                &gw.mn_wallet,
                "POST",
                "/v1/refunds",
                Some(json!({"request_id": "rf-wallet", "payment_id": pid2, "amount": money(100, "CNY")})),
            )
            .await;
        assert_eq!((r.status, r.json["code"].as_str()), (403, Some("ROLE_FORBIDS")), "{}", r.json);
        assert_eq!(gw.balances().await, books, "a refusal moved money");

        // Concurrent refunds of one payment: never more than was paid.
        let tries = (0..8).map(|i| refund(format!("rf-race-{i}"), pid2.clone(), money(3_000, "CNY")));
        let answers = futures_util::future::join_all(tries).await;
        let mut refunded = 0;
        for r in &answers {
            assert_eq!(r.status, 200, "{}", r.json);
            match r.result() {
                ("S", _) => refunded += minor(&r.json["refund"]["amount"]),
                ("F", "REFUND_IN_PROGRESS" | "REFUND_EXCEEDS_REMAINING") => {}
                other => panic!("unexpected {other:?}: {}", r.json),
            }
        }
        assert!(refunded <= 10_000 && refunded > 0, "refunded {refunded}");
        let tb = gw.op("GET", "/v1/admin/ledger/trial-balance", None).await;
        assert_eq!(tb.json["balanced"], true, "{}", tb.json);

        // A CPM payment's refund goes back to the user the wallet debited.
        let code = gw.mn_sim.issue_code("u-mn-2", MN_CODE_PREFIX);
        let before = gw.mn_sim.balance("u-mn-2").await.unwrap();
        let r = gw
            .pay_cpm(&gw.cn_acq, "rf-cpm", &code, &money(2_000, "CNY"), "cn-m1", "pos-rf-1")
            .await;
        let cpm = r.ok("cpm")["payment"].clone();
        let r = refund("rf-cpm-1".into(), cpm["id"].as_str().unwrap().into(), money(2_000, "CNY")).await;
        r.ok("cpm refund");
        assert_eq!(gw.mn_sim.balance("u-mn-2").await.unwrap(), before);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancels_reverse_everything_and_only_for_the_initiator() {
    on_each_engine("flows_cancels", |gw| async move {
        let cancel = |who: &'static str, rid: &str, payment: &str| {
            let gw = &gw;
            let (rid, payment) = (rid.to_string(), payment.to_string());
            async move {
                let party = match who {
                    "mn" => &gw.mn_wallet,
                    _ => &gw.cn_acq,
                };
                gw.call(
                    party,
                    "POST",
                    &format!("/v1/payments/{payment}/cancel"),
                    Some(json!({"request_id": rid, "reason": "customer changed their mind"})),
                )
                .await
            }
        };
        let books = gw.balances().await;
        let sims = gw.sim_balances().await;
        // An MPM payment, cancelled by the wallet that started it.
        let (paid, _) = gw
            .mpm_paid(
                &gw.mn_wallet,
                "cx-pay-1",
                &gw.codes.cn_static,
                &mn_payer(),
                "MNT",
                &money(4_321, "CNY"),
            )
            .await;
        let pid = paid["id"].as_str().unwrap().to_string();
        // Not by the acquirer.
        let r = cancel("acq", "cx-wrong", &pid).await;
        assert_refused(&r, "CANCEL_NOT_ALLOWED");
        let r = cancel("mn", "cx-1", &pid).await;
        let body = r.ok("cancel");
        assert_eq!(body["payment"]["state"], "cancelled", "{body}");
        // A repeat answers the same; a second cancel says it is done.
        let again = cancel("mn", "cx-1", &pid).await;
        assert_eq!(again.json, r.json);
        let r = cancel("mn", "cx-2", &pid).await;
        assert_eq!(r.ok("again")["payment"]["state"], "cancelled");
        // Inquiry says cancelled; the books are as before the payment, at
        // the gateway and at the acquirer.
        let r = gw.by_id(&gw.mn_wallet, &pid).await;
        assert_eq!(r.result(), ("F", "PAYMENT_CANCELLED"), "{}", r.json);
        let now = gw.balances().await;
        for (account, before) in &books {
            let (was, _) = position(&BTreeMap::from([(account.clone(), *before)]), account);
            assert_eq!(position(&now, account), (was, false), "{account}");
        }
        assert_eq!(gw.sim_balances().await, sims);
        let tb = gw.op("GET", "/v1/admin/ledger/trial-balance", None).await;
        assert_eq!(tb.json["balanced"], true, "{}", tb.json);
        // A cancelled payment is not refunded.
        let r = gw
            .call(
                &gw.cn_acq,
                "POST",
                "/v1/refunds",
                Some(json!({"request_id": "cx-rf", "payment_id": pid, "amount": money(1, "CNY")})),
            )
            .await;
        assert_refused(&r, "REFUND_NOT_ALLOWED");

        // A refunded payment is not cancelled.
        let (paid, _) = gw
            .mpm_paid(
                &gw.mn_wallet,
                "cx-pay-2",
                &gw.codes.cn_static,
                &mn_payer(),
                "MNT",
                &money(5_000, "CNY"),
            )
            .await;
        let pid2 = paid["id"].as_str().unwrap().to_string();
        let r = gw
            .call(
                &gw.cn_acq,
                "POST",
                "/v1/refunds",
                Some(json!({"request_id": "cx-rf-2", "payment_id": pid2, "amount": money(1_000, "CNY")})),
            )
            .await;
        r.ok("refund");
        let r = cancel("mn", "cx-3", &pid2).await;
        assert_refused(&r, "CANCEL_NOT_ALLOWED");

        // A CPM payment, cancelled by the acquirer that started it: the
        // wallet gives its user the money back.
        let code = gw.mn_sim.issue_code("u-mn-2", MN_CODE_PREFIX);
        let before = gw.mn_sim.balance("u-mn-2").await.unwrap();
        let r = gw
            .pay_cpm(&gw.cn_acq, "cx-cpm", &code, &money(3_000, "CNY"), "cn-m1", "pos-cx-1")
            .await;
        let cpm = r.ok("cpm")["payment"]["id"].as_str().unwrap().to_string();
        assert!(gw.mn_sim.balance("u-mn-2").await.unwrap() < before);
        let r = cancel("acq", "cx-4", &cpm).await;
        assert_eq!(r.ok("cpm cancel")["payment"]["state"], "cancelled");
        assert_eq!(gw.mn_sim.balance("u-mn-2").await.unwrap(), before);
        // The order may be paid again once its payment was cancelled.
        let code = gw.mn_sim.issue_code("u-mn-2", MN_CODE_PREFIX);
        let r = gw
            .pay_cpm(&gw.cn_acq, "cx-cpm-2", &code, &money(3_000, "CNY"), "cn-m1", "pos-cx-1")
            .await;
        r.ok("order paid again");
        let tb = gw.op("GET", "/v1/admin/ledger/trial-balance", None).await;
        assert_eq!(tb.json["balanced"], true, "{}", tb.json);
    })
    .await;
}

/// One step of a random run.
#[derive(Clone, Debug)]
enum Op {
    Mpm(i64),
    Cpm(&'static str, i64),
    Refund(usize, i64),
    Cancel(usize),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_interleaving_of_payments_cancels_and_refunds_keeps_the_books_agreeing() {
    on_each_engine("flows_mix", |gw| async move {
        // A seeded run (the same on every engine and every time): pairs of
        // operations at once, over the payments made so far.
        let mut seed: u64 = 0x5eed_2026_1122;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n.max(1)
        };
        let mut made: Vec<(String, &'static str)> = Vec::new(); // (payment id, initiator)
        let mut refunded: BTreeMap<String, (i64, i64)> = BTreeMap::new(); // merchant, payer
        let mut step = 0;
        while step < 14 {
            let ops: Vec<Op> = (0..2)
                .map(|_| match next(4) {
                    0 => Op::Mpm(1_000 + next(20_000) as i64),
                    1 => Op::Cpm(if next(2) == 0 { "u-mn-1" } else { "u-mn-2" }, 500 + next(8_000) as i64),
                    2 if !made.is_empty() => Op::Refund(pick(next(made.len() as u64)), 1 + next(12_000) as i64),
                    3 if !made.is_empty() => Op::Cancel(pick(next(made.len() as u64))),
                    _ => Op::Mpm(2_000 + next(5_000) as i64),
                })
                .collect();
            let run = |i: usize, op: Op| {
                let gw = &gw;
                let made = made.clone();
                async move {
                    let rid = format!("mix-{step}-{i}");
                    match op {
                        Op::Mpm(v) => {
                            // (No consult: two identical consults in the same millisecond
                            // would carry the same signature, which the replay guard refuses.)
                            let gm = gw.codes.cn_gm.clone();
                            let q = gw.mn_quote(&format!("{rid}-q"), ("merchant_id", &gm), &money(v, "CNY")).await;
                            let r = gw.mn_pays(&rid, &gw.codes.cn_static, &money(v, "CNY"), Some(&q)).await;
                            (op_made(&r, "mn"), None)
                        }
                        Op::Cpm(user, v) => {
                            let code = gw.mn_sim.issue_code(user, MN_CODE_PREFIX);
                            let r = gw.pay_cpm(&gw.cn_acq, &rid, &code, &money(v, "CNY"), "cn-m1", &format!("pos-{rid}")).await;
                            (op_made(&r, "acq"), None)
                        }
                        Op::Refund(k, v) => {
                            let (pid, _) = &made[k];
                            let r = gw
                                .call(
                                    &gw.cn_acq,
                                    "POST",
                                    "/v1/refunds",
                                    Some(json!({"request_id": rid, "payment_id": pid, "amount": money(v, "CNY")})),
                                )
                                .await;
                            assert_eq!(r.status, 200, "{}", r.json);
                            let done = (r.result().0 == "S").then(|| {
                                (pid.clone(), minor(&r.json["refund"]["amount"]), minor(&r.json["refund"]["payer_amount"]))
                            });
                            (None, done)
                        }
                        Op::Cancel(k) => {
                            let (pid, who) = &made[k];
                            let party = if *who == "mn" { &gw.mn_wallet } else { &gw.cn_acq };
                            let r = gw
                                .call(party, "POST", &format!("/v1/payments/{pid}/cancel"), Some(json!({"request_id": rid})))
                                .await;
                            assert_eq!(r.status, 200, "{}", r.json);
                            assert!(
                                matches!(r.result(), ("S", _) | ("F", "CANCEL_NOT_ALLOWED" | "PAYMENT_FAILED")),
                                "{}",
                                r.json
                            );
                            (None, None)
                        }
                    }
                }
            };
            let mut ops = ops.into_iter().enumerate();
            let (a, b) = (ops.next().unwrap(), ops.next().unwrap());
            let (ra, rb) = tokio::join!(run(a.0, a.1), run(b.0, b.1));
            for (new, refund) in [ra, rb] {
                made.extend(new);
                if let Some((pid, m, p)) = refund {
                    let e = refunded.entry(pid).or_default();
                    e.0 += m;
                    e.1 += p;
                }
            }
            step += 1;
        }

        // Everything agrees, to the minor unit.
        let mut payments = Vec::new();
        for (pid, who) in &made {
            let party = if *who == "mn" { &gw.mn_wallet } else { &gw.cn_acq };
            let r = gw.by_id(party, pid).await;
            payments.push(r.payment().clone());
        }
        let state_of = |p: &Value| p["state"].as_str().unwrap().to_string();
        for p in &payments {
            let (m, pay) = refunded.get(p["id"].as_str().unwrap()).copied().unwrap_or((0, 0));
            assert!(m <= minor(&p["amounts"]["merchant"]), "over-refunded {p}");
            assert!(pay <= minor(&p["amounts"]["payer"]), "over-refunded {p}");
            assert!(m == 0 || state_of(p) == "succeeded", "a refund of a payment now {}", state_of(p));
        }
        // The run did exercise all of it.
        assert!(!refunded.is_empty(), "no refund succeeded");
        assert!(payments.iter().any(|p| state_of(p) == "cancelled"), "nothing was cancelled");
        assert!(payments.iter().any(|p| p["mode"] == "cpm") && payments.iter().any(|p| p["mode"] == "mpm"));
        let live = |p: &&Value| state_of(p) == "succeeded";
        // The acquirer's merchant: credited by each MPM payment still standing.
        let expected: i64 = payments.iter().filter(live).filter(|p| p["mode"] == "mpm").map(|p| minor(&p["amounts"]["merchant"])).sum();
        assert_eq!(gw.cn_acq_sim.balance("cn-m1").await.unwrap(), expected);
        // The wallet's users: debited by each CPM payment standing, less its
        // refunds; MPM refunds credited to the payment's own account.
        let mut debited = 0;
        for u in &gw.users {
            debited += u.balance.minor - gw.mn_sim.balance(&u.id).await.unwrap();
        }
        let refund_payer = |p: &Value| refunded.get(p["id"].as_str().unwrap()).map_or(0, |r| r.1);
        let expected: i64 = payments
            .iter()
            .filter(live)
            .filter(|p| p["mode"] == "cpm")
            .map(|p| minor(&p["amounts"]["payer"]) - refund_payer(p))
            .sum();
        assert_eq!(debited, expected, "the wallet's users");
        for p in payments.iter().filter(|p| p["mode"] == "mpm") {
            let account = format!("mpm:{}", p["id"].as_str().unwrap());
            assert_eq!(gw.mn_sim.balance(&account).await.unwrap(), refund_payer(p), "{account}");
        }
        // The gateway: the wallet's MNT position is what its payers paid
        // for the payments standing, less their refunds; nothing pending;
        // every currency sums to zero.
        let books = gw.balances().await;
        let owed: i64 = payments.iter().filter(live).map(|p| minor(&p["amounts"]["payer"]) - refund_payer(p)).sum();
        assert_eq!(position(&books, "mn-wallet:settlement:MNT"), (-owed, false));
        assert!(books.values().all(|[dp, _, cp, _]| *dp == 0 && *cp == 0), "something is left pending");
        let tb = gw.op("GET", "/v1/admin/ledger/trial-balance", None).await;
        assert_eq!(tb.json["balanced"], true, "{}", tb.json);
    })
    .await;
}

/// An index drawn below a length.
fn pick(n: u64) -> usize {
    usize::try_from(n).unwrap()
}

/// The payment an answer made, with who started it.
fn op_made(r: &Reply, who: &'static str) -> Option<(String, &'static str)> {
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["payment"]["id"]
        .as_str()
        .map(|id| (id.to_string(), who))
}

// ---------------------------------------------------------------------
// Recovery: the resolver, exceptions, the notifications outbox.

fn failing() -> Faults {
    Faults {
        failure_rate: 1.0,
        ..Faults::default()
    }
}

/// The sim's notify entries, by request id (each must be booked once).
async fn notes_received(sim: &Running, payment: &str) -> Vec<String> {
    sim.entries()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.call == "notify" && e.payment_id == payment)
        .map(|e| e.request_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resolver_finds_out_an_unknown_outcome_and_the_parties_are_told_once() {
    on_each_engine("flows_resolve", |gw| async move {
        // The wallet debits its user but answers too late: U.
        gw.mn_sim
            .set_faults(Faults {
                timeout_rate: 1.0,
                hang_ms: 2_500,
                ..Faults::default()
            })
            .unwrap();
        let code = gw.mn_sim.issue_code("u-mn-1", MN_CODE_PREFIX);
        let (_, _, user_before) = gw.sim_balances().await;
        let r = gw
            .pay_cpm(
                &gw.cn_acq,
                "rs-1",
                &code,
                &money(4_000, "CNY"),
                "cn-m1",
                "pos-rs1",
            )
            .await;
        gw.mn_sim.set_faults(Faults::default()).unwrap();
        assert_eq!(r.result().0, "U", "{}", r.json);
        let id = r.payment()["id"].as_str().unwrap().to_string();
        // Nothing final yet: nothing to tell.
        assert!(gw.notifications_of(&id).await.is_empty());

        let report = gw.sweep().await;
        assert_eq!(report["payments"]["succeeded"], 1, "{report}");
        let p = gw.by_id(&gw.cn_acq, &id).await;
        assert_eq!(p.result().0, "S", "{}", p.json);
        assert_eq!(p.payment()["state"], "succeeded");
        // The reservation is posted, as the wallet's books say.
        let (_, _, user_after) = gw.sim_balances().await;
        let debited = user_before - user_after;
        assert_eq!(
            debited,
            minor(&p.payment()["amounts"]["payer"]),
            "{}",
            p.json
        );
        let books = gw.balances().await;
        assert!(
            books.values().all(|b| b[0] == 0 && b[2] == 0),
            "nothing left pending: {books:?}"
        );
        let tb = gw.op("GET", "/v1/admin/ledger/trial-balance", None).await;
        assert_eq!(tb.json["balanced"], true, "{}", tb.json);
        // The history says how: the inquiry.
        let history = gw.store_history(&id).await;
        assert!(
            history.iter().any(|d| d.starts_with("inquiry: S")),
            "{history:?}"
        );

        // Both parties are told (the sweep's notifier ran after the
        // resolver); a second sweep sends nothing again.
        let notes = gw.notifications_of(&id).await;
        assert_eq!(notes.len(), 2, "{notes:?}");
        for n in &notes {
            assert_eq!(n["status"], "sent", "{n}");
            assert_eq!(n["payment_state"], "succeeded", "{n}");
        }
        let again = gw.sweep().await;
        assert_eq!(again["notifications_sent"], 0, "{again}");
        assert_eq!(notes_received(&gw.mn_sim, &id).await.len(), 1);
        assert_eq!(notes_received(&gw.cn_acq_sim, &id).await.len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_that_stays_unknown_is_cancelled_then_an_exception_the_operator_resolves() {
    on_each_engine("flows_exception", |gw| async move {
        let before = gw.balances().await;
        let mut ids = Vec::new();
        for n in 0..2 {
            // The wallet fails every call from now on (HTTP 500:
            // `authorize` is not repeated, its outcome is unknown).
            let code = gw.mn_sim.issue_code("u-mn-1", MN_CODE_PREFIX);
            gw.mn_sim.set_faults(failing()).unwrap();
            let r = gw
                .pay_cpm(
                    &gw.cn_acq,
                    &format!("ex-{n}"),
                    &code,
                    &money(2_500, "CNY"),
                    "cn-m1",
                    &format!("pos-ex{n}"),
                )
                .await;
            assert_eq!(r.result().0, "U", "{}", r.json);
            ids.push(r.payment()["id"].as_str().unwrap().to_string());
        }
        // Two inquiries (the budget), then two cancels, all unanswered.
        let mut seen = Vec::new();
        for _ in 0..4 {
            let report = gw.sweep().await;
            seen.push(report["payments"].clone());
        }
        assert_eq!(
            seen,
            vec![
                json!({"unknown": 2}),
                json!({"cancelling": 2}),
                json!({"cancelling": 2}),
                json!({"exception": 2}),
            ]
        );
        // Listed for the operator, with what suspense holds.
        let list = gw.op("GET", "/v1/admin/exceptions", None).await;
        assert_eq!(list.status, 200, "{}", list.json);
        let listed = list.json["exceptions"].as_array().unwrap();
        assert_eq!(listed.len(), 2, "{}", list.json);
        for e in listed {
            assert!(
                e["in_suspense"]["MNT"].as_i64().unwrap() > 0,
                "the wallet's reservation is in suspense: {e}"
            );
            assert!(e["detail"].as_str().unwrap().contains("exception"), "{e}");
        }
        // Nothing automatic touches an exception.
        let quiet = gw.sweep().await;
        assert_eq!(quiet["payments"], json!({}), "{quiet}");
        let tb = gw.op("GET", "/v1/admin/ledger/trial-balance", None).await;
        assert_eq!(tb.json["balanced"], true, "{}", tb.json);

        // Bad resolutions change nothing.
        let path = |id: &str| format!("/v1/admin/payments/{id}/resolve");
        let bad = gw
            .op(
                "POST",
                &path(&ids[0]),
                Some(json!({"outcome": "maybe", "reason": "x"})),
            )
            .await;
        assert_eq!(
            (bad.status, bad.json["code"].as_str()),
            (400, Some("FIELD_INVALID"))
        );
        let bad = gw
            .op(
                "POST",
                &path(&ids[0]),
                Some(json!({"outcome": "cancelled", "reason": ""})),
            )
            .await;
        assert_eq!(bad.status, 400, "{}", bad.json);
        let bad = gw
            .op(
                "POST",
                &path("pay-none"),
                Some(json!({"outcome": "cancelled", "reason": "x"})),
            )
            .await;
        assert_eq!(bad.status, 404, "{}", bad.json);

        // The wallet confirms out of band that the first never debited
        // its user: it is cancelled, and everything goes back.
        let r = gw
            .op(
                "POST",
                &path(&ids[0]),
                Some(json!({"outcome": "cancelled", "reason": "wallet: never debited"})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.json["state"], "cancelled", "{}", r.json);
        let twice = gw
            .op(
                "POST",
                &path(&ids[0]),
                Some(json!({"outcome": "succeeded", "reason": "again"})),
            )
            .await;
        assert_eq!(
            (twice.status, twice.json["code"].as_str()),
            (409, Some("STATE_CONFLICT"))
        );
        // The second, the operator learns, stands: suspense pays the
        // acquirer's side and the fees are posted.
        let r = gw
            .op(
                "POST",
                &path(&ids[1]),
                Some(json!({"outcome": "succeeded", "reason": "wallet: debited"})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.json["state"], "succeeded", "{}", r.json);
        let list = gw.op("GET", "/v1/admin/exceptions", None).await;
        assert_eq!(list.json["exceptions"], json!([]), "{}", list.json);

        let after = gw.balances().await;
        let suspense = |b: &BTreeMap<String, [i64; 4]>| {
            b.iter()
                .filter(|(k, _)| k.starts_with("unigate:suspense:"))
                .map(|(_, v)| v[3] - v[1])
                .sum::<i64>()
        };
        assert_eq!(
            suspense(&after),
            suspense(&before),
            "suspense is empty again"
        );
        assert!(
            after.values().all(|b| b[0] == 0 && b[2] == 0),
            "nothing left pending: {after:?}"
        );
        let tb = gw.op("GET", "/v1/admin/ledger/trial-balance", None).await;
        assert_eq!(tb.json["balanced"], true, "{}", tb.json);
        // The wallet paid for exactly one payment: the one that stands.
        let stands = gw.by_id(&gw.cn_acq, &ids[1]).await;
        let paid = minor(&stands.payment()["amounts"]["payer"]);
        let (was, _) = position(&before, "mn-wallet:settlement:MNT");
        let (now, pending) = position(&after, "mn-wallet:settlement:MNT");
        assert!(!pending);
        assert_eq!(was - now, paid, "the wallet's position");
        let fees = gw
            .op(
                "GET",
                &format!("/v1/admin/ledger/transfers?reference={}", ids[1]),
                None,
            )
            .await;
        assert!(
            fees.json.to_string().contains("fee-gateway"),
            "{}",
            fees.json
        );
        gw.mn_sim.set_faults(Faults::default()).unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_nobody_takes_goes_dead_and_the_operator_replays_it() {
    on_each_engine("flows_notify", |gw| async move {
        let code = gw.mn_sim.issue_code("u-mn-1", MN_CODE_PREFIX);
        let r = gw
            .pay_cpm(
                &gw.cn_acq,
                "nt-1",
                &code,
                &money(3_000, "CNY"),
                "cn-m1",
                "pos-nt1",
            )
            .await;
        assert_eq!(r.result().0, "S", "{}", r.json);
        let id = r.payment()["id"].as_str().unwrap().to_string();
        // The outbox was written with the success: one per party.
        let notes = gw.notifications_of(&id).await;
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes.iter().all(|n| n["status"] == "pending"), "{notes:?}");

        // The wallet is down: its notification is retried, then dead
        // (`notify_attempts` = 2); the acquirer's is sent.
        gw.mn_sim.set_faults(failing()).unwrap();
        let first = gw.sweep().await;
        assert_eq!(
            (
                first["notifications_sent"].as_u64(),
                first["notifications_retried"].as_u64()
            ),
            (Some(1), Some(1)),
            "{first}"
        );
        let second = gw.sweep().await;
        assert_eq!(second["notifications_dead"], 1, "{second}");
        let dead = gw
            .op("GET", "/v1/admin/notifications?status=dead", None)
            .await;
        let dead = dead.json["notifications"].as_array().unwrap().clone();
        assert_eq!(dead.len(), 1, "{dead:?}");
        assert_eq!(dead[0]["participant"], "mn-wallet");
        assert_eq!(dead[0]["attempts"], 2);
        assert!(!dead[0]["last_error"].as_str().unwrap().is_empty());
        let nid = dead[0]["id"].as_str().unwrap().to_string();
        // Dead stays dead: the sweep leaves it.
        assert_eq!(gw.sweep().await["notifications_retried"], 0);

        // Replay: only a dead one, and it goes out once the wallet is back.
        let sent_one = notes.iter().find(|n| n["participant"] == "cn-acq").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let refused = gw
            .op(
                "POST",
                &format!("/v1/admin/notifications/{sent_one}/replay"),
                None,
            )
            .await;
        assert_eq!(
            (refused.status, refused.json["code"].as_str()),
            (409, Some("STATE_CONFLICT"))
        );
        let missing = gw
            .op("POST", "/v1/admin/notifications/ntf:none/replay", None)
            .await;
        assert_eq!(missing.status, 404, "{}", missing.json);
        let bad = gw
            .op("GET", "/v1/admin/notifications?status=lost", None)
            .await;
        assert_eq!(bad.status, 400, "{}", bad.json);
        gw.mn_sim.set_faults(Faults::default()).unwrap();
        let replayed = gw
            .op(
                "POST",
                &format!("/v1/admin/notifications/{nid}/replay"),
                None,
            )
            .await;
        assert_eq!(replayed.status, 200, "{}", replayed.json);
        assert_eq!(replayed.json["status"], "pending");
        assert_eq!(gw.sweep().await["notifications_sent"], 1);
        let notes = gw.notifications_of(&id).await;
        assert!(notes.iter().all(|n| n["status"] == "sent"), "{notes:?}");
        // Received once each (the failed attempts never reached the books).
        assert_eq!(notes_received(&gw.mn_sim, &id).await, vec![nid]);
        assert_eq!(notes_received(&gw.cn_acq_sim, &id).await, vec![sent_one]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_whose_outcome_is_unknown_is_sent_again_and_settled_once() {
    on_each_engine("flows_refund_resolve", |gw| async move {
        let code = gw.mn_sim.issue_code("u-mn-1", MN_CODE_PREFIX);
        let r = gw
            .pay_cpm(
                &gw.cn_acq,
                "rr-1",
                &code,
                &money(6_000, "CNY"),
                "cn-m1",
                "pos-rr1",
            )
            .await;
        assert_eq!(r.result().0, "S", "{}", r.json);
        let id = r.payment()["id"].as_str().unwrap().to_string();
        let (_, _, user_paid) = gw.sim_balances().await;
        // The wallet credits its user back but answers too late.
        gw.mn_sim
            .set_faults(Faults {
                timeout_rate: 1.0,
                hang_ms: 2_500,
                ..Faults::default()
            })
            .unwrap();
        let r = gw
            .call(
                &gw.cn_acq,
                "POST",
                "/v1/refunds",
                Some(
                    json!({"request_id": "rr-r1", "payment_id": id, "amount": money(6_000, "CNY")}),
                ),
            )
            .await;
        gw.mn_sim.set_faults(Faults::default()).unwrap();
        assert_eq!(r.result().0, "U", "{}", r.json);
        let rid = r.json["refund"]["id"].as_str().unwrap().to_string();
        // Another refund waits for this one.
        let r2 = gw
            .call(
                &gw.cn_acq,
                "POST",
                "/v1/refunds",
                Some(json!({"request_id": "rr-r2", "payment_id": id, "amount": money(1, "CNY")})),
            )
            .await;
        assert_refused(&r2, "REFUND_IN_PROGRESS");

        let report = gw.sweep().await;
        assert_eq!(report["refunds"]["succeeded"], 1, "{report}");
        let got = gw
            .call(&gw.cn_acq, "GET", &format!("/v1/refunds/{rid}"), None)
            .await;
        assert_eq!(got.json["refund"]["state"], "succeeded", "{}", got.json);
        // The user got it back once: the resend was answered from the
        // wallet's books, not done again.
        let (_, _, user_now) = gw.sim_balances().await;
        let refunds: Vec<_> = gw
            .mn_sim
            .entries()
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.call == "refund" && e.payment_id == id)
            .collect();
        assert_eq!(refunds.len(), 1, "{refunds:?}");
        assert_eq!(user_now - user_paid, refunds[0].amount);
        let books = gw.balances().await;
        assert!(books.values().all(|b| b[0] == 0 && b[2] == 0), "{books:?}");
        let tb = gw.op("GET", "/v1/admin/ledger/trial-balance", None).await;
        assert_eq!(tb.json["balanced"], true, "{}", tb.json);
        // Nothing is left to do.
        let again = gw.sweep().await;
        assert_eq!(again["refunds"], json!({}), "{again}");
    })
    .await;
}

// ---------------------------------------------------------------------
// Clearing and settlement.

/// The `summary` rows of a reconciliation file: (kind, currency) → amount.
fn recon_summary(csv: &str) -> BTreeMap<(String, String), i64> {
    csv.lines()
        .filter(|l| l.starts_with("summary,"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                (f[1].to_string(), f[f.len() - 1].to_string()),
                f[f.len() - 2].parse::<i64>().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_closes_nets_to_zero_ties_out_and_settles_once() {
    on_each_engine("flows_clearing", |gw| async move {
        let mut ids: Vec<(String, &Party)> = Vec::new();
        // MPM inbound (MNT → CNY) twice, outbound (CNY → THB), transit
        // (MNT → THB); CPM inbound.
        for (n, (wallet, code, payer, pay_ccy, amount)) in [
            (
                &gw.mn_wallet,
                &gw.codes.cn_static,
                mn_payer(),
                "MNT",
                money(12_000, "CNY"),
            ),
            (
                &gw.mn_wallet,
                &gw.codes.cn_static,
                mn_payer(),
                "MNT",
                money(7_000, "CNY"),
            ),
            (
                &gw.cn_wallet,
                &gw.codes.th_static,
                cn_payer(),
                "CNY",
                money(30_000, "THB"),
            ),
            (
                &gw.mn_wallet,
                &gw.codes.th_static,
                mn_payer(),
                "MNT",
                money(20_000, "THB"),
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let (p, _) = gw
                .mpm_paid(wallet, &format!("cl-{n}"), code, &payer, pay_ccy, &amount)
                .await;
            ids.push((p["id"].as_str().unwrap().to_string(), wallet));
        }
        // A purpose code that is not one (balance of payments): refused.
        let code = gw.mn_sim.issue_code("u-mn-1", MN_CODE_PREFIX);
        let r = gw
            .call(
                &gw.cn_acq,
                "POST",
                "/v1/payments",
                Some(json!({
                    "request_id": "cl-purpose", "mode": "cpm", "payment_code": code,
                    "amount": money(9_000, "CNY"), "merchant_id": "cn-m1", "order_id": "pos-clp",
                    "purpose": "goods",
                })),
            )
            .await;
        assert_eq!(
            (r.status, r.json["code"].as_str(), r.json["field"].as_str()),
            (400, Some("FIELD_INVALID"), Some("purpose")),
            "{}",
            r.json
        );
        let code = gw.mn_sim.issue_code("u-mn-1", MN_CODE_PREFIX);
        let r = gw
            .pay_cpm(
                &gw.cn_acq,
                "cl-cpm",
                &code,
                &money(9_000, "CNY"),
                "cn-m1",
                "pos-cl1",
            )
            .await;
        assert_eq!(r.result().0, "S", "{}", r.json);
        ids.push((r.payment()["id"].as_str().unwrap().to_string(), &gw.cn_acq));
        // An unknown outcome, resolved by the resolver within the grace.
        let code = gw.mn_sim.issue_code("u-mn-1", MN_CODE_PREFIX);
        gw.mn_sim
            .set_faults(Faults {
                timeout_rate: 1.0,
                hang_ms: 2_500,
                ..Faults::default()
            })
            .unwrap();
        let r = gw
            .pay_cpm(
                &gw.cn_acq,
                "cl-unknown",
                &code,
                &money(4_000, "CNY"),
                "cn-m1",
                "pos-cl2",
            )
            .await;
        gw.mn_sim.set_faults(Faults::default()).unwrap();
        assert_eq!(r.result().0, "U", "{}", r.json);
        ids.push((r.payment()["id"].as_str().unwrap().to_string(), &gw.cn_acq));
        let date = r.payment()["clearing_date"].as_str().unwrap().to_string();
        // A cycle does not close over open work, nor before its grace.
        let early = gw
            .op(
                "POST",
                &format!("/v1/admin/cycles/{date}/close"),
                Some(json!({"early": true})),
            )
            .await;
        assert_eq!(
            (early.status, early.json["code"].as_str()),
            (409, Some("STATE_CONFLICT")),
            "{}",
            early.json
        );
        assert!(
            early.json["detail"]
                .as_str()
                .unwrap()
                .contains("still open"),
            "{}",
            early.json
        );
        gw.sweep().await;
        let on_time = gw
            .op(
                "POST",
                &format!("/v1/admin/cycles/{date}/close"),
                Some(json!({})),
            )
            .await;
        assert_eq!(on_time.status, 409, "{}", on_time.json);
        assert!(
            on_time.json["detail"].as_str().unwrap().contains("grace"),
            "{}",
            on_time.json
        );

        // Refunds, one partial, one full; a cancel.
        for (rid, pid, amount) in [
            ("cl-r1", &ids[0].0, money(5_000, "CNY")),
            ("cl-r2", &ids[1].0, money(7_000, "CNY")),
        ] {
            let body = json!({"request_id": rid, "payment_id": pid, "amount": amount});
            let r = gw.call(&gw.cn_acq, "POST", "/v1/refunds", Some(body)).await;
            assert_eq!(r.result().0, "S", "{}", r.json);
        }
        let r = gw
            .call(
                &gw.cn_wallet,
                "POST",
                &format!("/v1/payments/{}/cancel", ids[2].0),
                Some(json!({"request_id": "cl-c1"})),
            )
            .await;
        assert_eq!(r.result().0, "S", "{}", r.json);

        // Nothing to export before the close.
        let (status, _, _) = gw
            .op_text(&format!("/v1/admin/cycles/{date}/instructions?format=csv"))
            .await;
        assert_eq!(status, 409);
        let closed = gw
            .op(
                "POST",
                &format!("/v1/admin/cycles/{date}/close"),
                Some(json!({"early": true})),
            )
            .await;
        assert_eq!(closed.status, 200, "{}", closed.json);
        assert_eq!(closed.json["outcome"], "closed");
        assert_eq!(closed.json["cycle"]["state"], "closed");
        assert_eq!(closed.json["cycle"]["payments"], 6, "{}", closed.json);
        assert_eq!(closed.json["cycle"]["refunds"], 2, "{}", closed.json);
        let again = gw
            .op(
                "POST",
                &format!("/v1/admin/cycles/{date}/close"),
                Some(json!({"early": true})),
            )
            .await;
        assert_eq!(again.json["outcome"], "already", "{}", again.json);

        // Nets: zero per currency; the instructions settle each of them.
        let detail = gw
            .op("GET", &format!("/v1/admin/cycles/{date}"), None)
            .await;
        let positions = detail.json["positions"].as_array().unwrap().clone();
        let instructions = detail.json["instructions"].as_array().unwrap().clone();
        let mut per_ccy: BTreeMap<String, i64> = BTreeMap::new();
        let mut left: BTreeMap<(String, String), i64> = BTreeMap::new();
        for p in &positions {
            let key = (
                p["party"].as_str().unwrap().to_string(),
                p["currency"].as_str().unwrap().to_string(),
            );
            *per_ccy.entry(key.1.clone()).or_default() += p["net"].as_i64().unwrap();
            left.insert(key, p["net"].as_i64().unwrap());
        }
        assert!(per_ccy.len() >= 3, "several currencies: {per_ccy:?}");
        assert!(per_ccy.values().all(|v| *v == 0), "{per_ccy:?}");
        for i in &instructions {
            let (payer, payee, ccy) = (
                i["payer"].as_str().unwrap(),
                i["payee"].as_str().unwrap(),
                i["currency"].as_str().unwrap(),
            );
            let amount = i["amount"].as_i64().unwrap();
            *left.get_mut(&(payer.to_string(), ccy.to_string())).unwrap() += amount;
            *left.get_mut(&(payee.to_string(), ccy.to_string())).unwrap() -= amount;
            assert!(!i["value_date"].as_str().unwrap().is_empty());
            assert!(!i["payee_account"].as_str().unwrap().is_empty(), "{i}");
        }
        assert!(left.values().all(|v| *v == 0), "{left:?}");
        // The positions are the ledger's: every posted transfer so far is
        // this cycle's.
        let ledger_positions = gw.settlement_positions().await;
        for ((owner, ccy), net) in &ledger_positions {
            assert!(
                left.contains_key(&(owner.clone(), ccy.clone())),
                "{owner} {ccy}"
            );
            let cycle_net = positions
                .iter()
                .find(|p| p["party"] == owner.as_str() && p["currency"] == ccy.as_str())
                .map(|p| p["net"].as_i64().unwrap())
                .unwrap();
            assert_eq!(cycle_net, *net, "{owner} {ccy}");
        }
        // The simulators agree: the acquirers' merchants got the MPM
        // payments that stand, the MN user paid its CPM less refunds.
        let payments = gw.payments(&ids).await;
        assert!(
            payments
                .iter()
                .all(|p| ["succeeded", "cancelled"].contains(&p["state"].as_str().unwrap())),
            "{payments:?}"
        );
        let (cn_m, th_m, _) = gw.sim_balances().await;
        let mpm = |acq: &str| -> i64 {
            payments
                .iter()
                .filter(|p| p["acquirer"] == acq && p["mode"] == "mpm" && p["state"] == "succeeded")
                .map(|p| minor(&p["amounts"]["merchant"]))
                .sum()
        };
        assert_eq!((cn_m, th_m), (mpm("cn-acq"), mpm("th-acq")));

        // Each participant's file ties out: its rows sum to its net, which
        // its instructions settle.
        for who in ["mn-wallet", "cn-wallet", "cn-acq", "th-acq"] {
            let (status, csv, sha) = gw
                .op_text(&format!("/v1/admin/cycles/{date}/reconciliation/{who}"))
                .await;
            assert_eq!(status, 200, "{csv}");
            assert!(csv.starts_with(api::clearing::RECON_HEADER), "{csv}");
            use sha2::Digest;
            let digest: String = sha2::Sha256::digest(csv.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(sha, digest);
            let summary = recon_summary(&csv);
            assert!(!summary.is_empty(), "{csv}");
            for ((kind, ccy), v) in &summary {
                if kind == "rows" {
                    assert_eq!(
                        Some(v),
                        summary.get(&("net_position".to_string(), ccy.clone())),
                        "{who} {ccy}: {csv}"
                    );
                    assert_eq!(
                        Some(v),
                        summary.get(&("instructions".to_string(), ccy.clone())),
                        "{who} {ccy}: {csv}"
                    );
                }
            }
            let rows = csv
                .lines()
                .filter(|l| !l.starts_with("summary,") && !l.starts_with("record,"))
                .count();
            assert!(rows > 0, "{who}: {csv}");
        }
        // Over the signed API, a participant's own file only.
        let own = gw
            .mn_wallet
            .client
            .call(
                "GET",
                &format!("/v1/reconciliation/{date}"),
                None,
                Vec::new(),
            )
            .await
            .unwrap();
        assert_eq!(own.status, 200);
        assert!(own.verified.is_ok());
        let body = String::from_utf8(own.body).unwrap();
        let (_, admin_copy, _) = gw
            .op_text(&format!("/v1/admin/cycles/{date}/reconciliation/mn-wallet"))
            .await;
        assert_eq!(body, admin_copy);
        assert!(body.contains("refund,"), "{body}");

        // Exports.
        let (status, csv, _) = gw
            .op_text(&format!("/v1/admin/cycles/{date}/instructions?format=csv"))
            .await;
        assert_eq!(status, 200);
        assert_eq!(csv.lines().count(), instructions.len() + 1, "{csv}");
        let (status, _, _) = gw
            .op_text(&format!("/v1/admin/cycles/{date}/instructions?format=xml"))
            .await;
        assert_eq!(status, 400);
        let (status, _, _) = gw.op_text("/v1/admin/cycles/2099-01-01/instructions").await;
        assert_eq!(status, 404);
        let bad = gw.op("GET", "/v1/admin/cycles/yesterday", None).await;
        assert_eq!(
            (bad.status, bad.json["code"].as_str()),
            (400, Some("FIELD_INVALID"))
        );

        // The daily regulatory report, made at the close: it ties out to
        // the cycle's settlement, and the statistics of the same cycle
        // agree with it exactly.
        gw.check_daily_report(&date, &positions, &instructions)
            .await;

        // Settle: the positions go back to zero; once.
        let settled = gw
            .op("POST", &format!("/v1/admin/cycles/{date}/settle"), None)
            .await;
        assert_eq!(settled.status, 200, "{}", settled.json);
        assert_eq!(settled.json["cycle"]["state"], "settled");
        let after = gw.settlement_positions().await;
        assert!(
            after.is_empty(),
            "participants' positions after settlement: {after:?}"
        );
        let tb = gw.op("GET", "/v1/admin/ledger/trial-balance", None).await;
        assert_eq!(tb.json["balanced"], true, "{}", tb.json);
        let twice = gw
            .op("POST", &format!("/v1/admin/cycles/{date}/settle"), None)
            .await;
        assert_eq!(
            (twice.status, twice.json["code"].as_str()),
            (409, Some("STATE_CONFLICT")),
            "{}",
            twice.json
        );
        let list = gw.op("GET", "/v1/admin/cycles", None).await;
        assert_eq!(list.json["cycles"][0]["state"], "settled", "{}", list.json);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exception_resolved_after_its_cycle_closed_is_netted_in_the_next() {
    on_each_engine("flows_late", |gw| async move {
        let code = gw.mn_sim.issue_code("u-mn-1", MN_CODE_PREFIX);
        gw.mn_sim.set_faults(failing()).unwrap();
        let r = gw
            .pay_cpm(
                &gw.cn_acq,
                "late-1",
                &code,
                &money(3_300, "CNY"),
                "cn-m1",
                "pos-late1",
            )
            .await;
        assert_eq!(r.result().0, "U", "{}", r.json);
        let id = r.payment()["id"].as_str().unwrap().to_string();
        let date = r.payment()["clearing_date"].as_str().unwrap().to_string();
        for _ in 0..4 {
            gw.sweep().await;
        }
        gw.mn_sim.set_faults(Faults::default()).unwrap();
        let p = gw.by_id(&gw.cn_acq, &id).await;
        assert_eq!(p.payment()["state"], "exception", "{}", p.json);
        // An exception does not hold the cycle up: its amount is in
        // suspense, which is the gateway's position.
        let closed = gw
            .op(
                "POST",
                &format!("/v1/admin/cycles/{date}/close"),
                Some(json!({"early": true})),
            )
            .await;
        assert_eq!(closed.json["outcome"], "closed", "{}", closed.json);
        let first = gw
            .op("GET", &format!("/v1/admin/cycles/{date}"), None)
            .await;
        // Resolved afterwards: its release and fees are posted after the
        // close, so the next cycle nets them.
        let r = gw
            .op(
                "POST",
                &format!("/v1/admin/payments/{id}/resolve"),
                Some(json!({"outcome": "succeeded", "reason": "wallet: debited"})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        let again = gw
            .op("GET", &format!("/v1/admin/cycles/{date}"), None)
            .await;
        assert_eq!(
            first.json["positions"], again.json["positions"],
            "a closed cycle does not change"
        );
        let next: jiff::civil::Date = date.parse().unwrap();
        let next = next.tomorrow().unwrap().to_string();
        let closed = gw
            .op(
                "POST",
                &format!("/v1/admin/cycles/{next}/close"),
                Some(json!({"early": true})),
            )
            .await;
        assert_eq!(closed.json["outcome"], "closed", "{}", closed.json);
        let second = gw
            .op("GET", &format!("/v1/admin/cycles/{next}"), None)
            .await;
        // The two cycles together are the ledger.
        let mut total: BTreeMap<(String, String), i64> = BTreeMap::new();
        for d in [&first.json, &second.json] {
            for p in d["positions"].as_array().unwrap() {
                *total
                    .entry((
                        p["party"].as_str().unwrap().to_string(),
                        p["currency"].as_str().unwrap().to_string(),
                    ))
                    .or_default() += p["net"].as_i64().unwrap();
            }
        }
        let ledger_positions = gw.settlement_positions().await;
        for ((owner, ccy), net) in &ledger_positions {
            assert_eq!(
                total.get(&(owner.clone(), ccy.clone())),
                Some(net),
                "{owner} {ccy}: {total:?}"
            );
        }
        assert!(
            second.json["positions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["party"] == "cn-acq" && p["net"].as_i64().unwrap() > 0),
            "the acquirer is owed the resolved payment next cycle: {}",
            second.json
        );
        // And the acquirer's file of the next cycle ties out.
        let (status, csv, _) = gw
            .op_text(&format!("/v1/admin/cycles/{next}/reconciliation/cn-acq"))
            .await;
        assert_eq!(status, 200, "{csv}");
        let summary = recon_summary(&csv);
        let rows = summary[&("rows".to_string(), "CNY".to_string())];
        assert!(rows > 0, "{csv}");
        assert_eq!(
            summary[&("net_position".to_string(), "CNY".to_string())],
            rows
        );
        assert_eq!(
            summary[&("instructions".to_string(), "CNY".to_string())],
            rows
        );
    })
    .await;
}

// ---------------------------------------------------------------------
// Risk rules in the payment flow.

const RISK_RULES: &str = r#"
version = "flows-1"
currency = "CNY"

[[rule]]
kind = "amount_limit"
id = "single-mn-cn"
action = "decline"
scope = "corridor"
corridor = "MN-CN"
period = "single"
max = "800.00"

[[rule]]
kind = "velocity"
id = "merchant-burst"
action = "decline"
subject = "merchant"
window_s = 3600
max_count = 3
"#;

impl Gateway {
    async fn put_text(&self, path: &str, body: &str) -> (u16, Value) {
        let r = self
            .http
            .put(format!("{}{path}", self.url))
            .bearer_auth(&self.op_token)
            .header("Content-Type", "application/toml")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (
            status,
            serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risk_rules_decline_before_money_moves_and_count_exactly_under_concurrency() {
    on_each_engine("flows_risk", |gw| async move {
        let (status, body) = gw.put_text("/v1/admin/risk/rules", RISK_RULES).await;
        assert_eq!(status, 200, "{body}");
        let before = gw.balances().await;
        // Above the corridor's single limit (800 CNY): declined before any
        // money moves, with the rule named; the trace keeps the evidence.
        let code = gw.mn_sim.issue_code("u-mn-1", MN_CODE_PREFIX);
        let r = gw
            .pay_cpm(
                &gw.cn_acq,
                "rk-big",
                &code,
                &money(80_001, "CNY"),
                "cn-m1",
                "pos-rk0",
            )
            .await;
        assert_refused(&r, "RISK_DECLINED");
        let message = r.json["result"]["message"].as_str().unwrap();
        assert!(message.contains("single-mn-cn"), "{message}");
        assert_eq!(gw.balances().await, before, "a risk decline moved money");
        assert!(
            gw.mn_sim
                .entries()
                .await
                .unwrap()
                .iter()
                .all(|e| e.call != "authorize"),
            "the wallet was asked"
        );
        let id = message
            .rsplit("payment ")
            .next()
            .unwrap()
            .trim_end_matches(')');
        let trace = gw
            .op("GET", &format!("/v1/admin/payments/{id}/risk"), None)
            .await;
        assert_eq!(trace.status, 200, "{}", trace.json);
        let d = &trace.json["decisions"][0];
        assert_eq!(
            (d["moment"].as_str(), d["action"].as_str()),
            (Some("before_money"), Some("decline"))
        );
        assert_eq!(d["version"], "flows-1");
        assert!(
            d["decision"]["outcomes"][0]["saw"]
                .as_str()
                .unwrap()
                .contains("80001"),
            "{d}"
        );
        let alerts = gw.op("GET", "/v1/admin/risk/alerts?open=true", None).await;
        assert!(
            alerts.json["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["kind"] == "decline" && a["payment_id"] == id),
            "{}",
            alerts.json
        );
        // At the limit exactly: fine.
        let code = gw.mn_sim.issue_code("u-mn-1", MN_CODE_PREFIX);
        let r = gw
            .pay_cpm(
                &gw.cn_acq,
                "rk-edge",
                &code,
                &money(80_000, "CNY"),
                "cn-m1",
                "pos-rk1",
            )
            .await;
        assert_eq!(r.result().0, "S", "{}", r.json);

        // The merchant's velocity (3 an hour, the one above included):
        // six at once, exactly two more get through.
        let tries = (0..6).map(|n| {
            let code = gw.mn_sim.issue_code("u-mn-1", MN_CODE_PREFIX);
            let gw = &gw;
            async move {
                gw.pay_cpm(
                    &gw.cn_acq,
                    &format!("rk-v{n}"),
                    &code,
                    &money(1_000, "CNY"),
                    "cn-m1",
                    &format!("pos-rkv{n}"),
                )
                .await
            }
        });
        let answers = futures_util::future::join_all(tries).await;
        let ok = answers.iter().filter(|r| r.result().0 == "S").count();
        let declined = answers
            .iter()
            .filter(|r| r.result().1 == "RISK_DECLINED")
            .count();
        assert_eq!(
            (ok, declined),
            (2, 4),
            "{:?}",
            answers.iter().map(|r| r.result()).collect::<Vec<_>>()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payer_rules_run_when_the_payer_is_known_and_reverse_a_cpm_authorisation() {
    on_each_engine("flows_risk_payer", |gw| async move {
        let rules = r#"
version = "payer-1"
currency = "CNY"

[[rule]]
kind = "block_list"
id = "blocked-payer"
action = "decline"
field = "payer_id"
values = ["u-mn-1"]
"#;
        let (status, body) = gw.put_text("/v1/admin/risk/rules", rules).await;
        assert_eq!(status, 200, "{body}");
        let before = gw.balances().await;
        let (_, _, user_before) = gw.sim_balances().await;

        // MPM: the payer is known before money moves.
        let q = gw
            .quote(
                &gw.mn_wallet,
                "rp-q",
                &mn_payer(),
                ("merchant_id", gw.codes.cn_gm.as_str()),
                "MNT",
                &money(2_000, "CNY"),
            )
            .await;
        let r = gw
            .mn_pays(
                "rp-mpm",
                &gw.codes.cn_static,
                &money(2_000, "CNY"),
                Some(&q),
            )
            .await;
        assert_refused(&r, "RISK_DECLINED");
        assert_eq!(
            gw.balances().await,
            before,
            "an MPM risk decline moved money"
        );

        // CPM: the payer is known only once the wallet authorises; the
        // decline then reverses the authorisation.
        let code = gw.mn_sim.issue_code("u-mn-1", MN_CODE_PREFIX);
        let r = gw
            .pay_cpm(
                &gw.cn_acq,
                "rp-cpm",
                &code,
                &money(3_000, "CNY"),
                "cn-m1",
                "pos-rp1",
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.result(), ("F", "RISK_DECLINED"), "{}", r.json);
        assert_eq!(r.payment()["state"], "cancelled", "{}", r.json);
        let id = r.payment()["id"].as_str().unwrap().to_string();
        // The wallet debited its user, then reversed it.
        let (_, _, user_after) = gw.sim_balances().await;
        assert_eq!(user_after, user_before, "the user was not given back");
        let entries = gw.mn_sim.entries().await.unwrap();
        assert!(
            entries
                .iter()
                .any(|e| e.call == "authorize" && e.payment_id == id && e.status == "S")
        );
        assert!(
            entries
                .iter()
                .any(|e| e.call == "cancel" && e.payment_id == id && e.status == "S")
        );
        // The gateway's books: the reservation voided, nothing posted.
        let after = gw.balances().await;
        let pending: i64 = after.values().map(|b| b[0] + b[2]).sum();
        assert_eq!(pending, 0, "{after:?}");
        assert_eq!(gw.settlement_positions().await, BTreeMap::new());
        // Both moments are in the trace: approved before money (the payer
        // rule deferred), declined at authorisation.
        let trace = gw
            .op("GET", &format!("/v1/admin/payments/{id}/risk"), None)
            .await;
        let moments: Vec<(String, String)> = trace.json["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["moment"].as_str().unwrap().to_string(),
                    d["action"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            moments,
            vec![
                ("before_money".to_string(), "approve".to_string()),
                ("authorisation".to_string(), "decline".to_string())
            ],
            "{}",
            trace.json
        );
        assert_eq!(
            trace.json["decisions"][0]["decision"]["outcomes"][0]["status"],
            "deferred"
        );
        let tb = gw.op("GET", "/v1/admin/ledger/trial-balance", None).await;
        assert_eq!(tb.json["balanced"], true, "{}", tb.json);
    })
    .await;
}

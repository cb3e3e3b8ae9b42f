//! The risk rules and sanctions list over the operator API, on both
//! engines: loaded whole or refused with their line (the set in force
//! stays), versioned, followed by every node, evaluated with their trace;
//! their changes raise alerts the operator acknowledges.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

mod common;

use api::risk_rules::{self, Moment, PaymentFacts};
use api::router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

const RULES: &str = r#"
version = "v1"
currency = "CNY"

[[rule]]
kind = "amount_limit"
id = "single-mn-cn"
action = "decline"
scope = "corridor"
corridor = "MN-CN"
period = "single"
max = "5000.00"

[[rule]]
kind = "sanctions"
id = "sanctions"
action = "decline"
fields = ["payer_name"]
threshold = 0.8
"#;

async fn send(
    state: &api::AppState,
    method: &str,
    uri: &str,
    token: &str,
    content_type: &str,
    body: String,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap();
    let response = router(state.clone()).oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn facts(amount: i64, payer_name: &str) -> String {
    json!({
        "wallet": "mn-wallet", "acquirer": "cn-acq", "payer_id": "u-1", "payer_name": payer_name,
        "payer_country": "MN", "merchant_id": "gm-1", "merchant_name": "ERLIAN HOTPOT",
        "merchant_country": "CN", "mcc": "5812", "amount_minor": amount,
    })
    .to_string()
}

#[tokio::test]
async fn rules_load_whole_or_not_at_all_and_every_node_follows() {
    for store in store::testing::engines("risk_rules").await {
        // Two nodes on one store: one key-encryption key.
        let keys = common::keys(store.clone()).await;
        let node_a = common::state_with(store.clone(), keys.clone());
        let node_b = common::state_with(store.clone(), keys);
        let (_, token) = store
            .token_create(store::Role::Operator, "ops", 1)
            .await
            .unwrap();
        let t = token.as_str();

        // Nothing loaded yet: nothing to evaluate against.
        let (status, body) = send(
            &node_a,
            "POST",
            "/v1/admin/risk/evaluate",
            t,
            "application/json",
            facts(100, "x"),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");

        let (status, body) = send(
            &node_a,
            "PUT",
            "/v1/admin/risk/rules",
            t,
            "application/toml",
            RULES.into(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["version"].as_str(), body["items"].as_i64()),
            (Some("v1"), Some(2))
        );

        // A broken file: refused with its line; v1 stays in force.
        let broken = RULES
            .replace("v1", "v2")
            .replace("max = \"5000.00\"", "max = \"-1\"");
        let (status, body) = send(
            &node_a,
            "PUT",
            "/v1/admin/risk/rules",
            t,
            "application/toml",
            broken,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("line 5"),
            "{body}"
        );
        let (_, body) = send(
            &node_a,
            "GET",
            "/v1/admin/risk/rules",
            t,
            "application/json",
            String::new(),
        )
        .await;
        assert_eq!(body["rules"]["version"], "v1", "{body}");
        // The same version again: refused.
        let (status, _) = send(
            &node_a,
            "PUT",
            "/v1/admin/risk/rules",
            t,
            "application/toml",
            RULES.into(),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);

        // The limit, at its edge.
        let (_, d) = send(
            &node_a,
            "POST",
            "/v1/admin/risk/evaluate",
            t,
            "application/json",
            facts(500_000, "Bat"),
        )
        .await;
        assert_eq!(d["action"], "approve", "{d}");
        let (_, d) = send(
            &node_a,
            "POST",
            "/v1/admin/risk/evaluate",
            t,
            "application/json",
            facts(500_001, "Bat"),
        )
        .await;
        assert_eq!(d["action"], "decline", "{d}");
        assert_eq!(d["version"], "v1");
        assert!(
            d["outcomes"][0]["saw"].as_str().unwrap().contains("500001"),
            "{d}"
        );

        // A sanctions list: a hit on a name written in Cyrillic.
        let (status, body) = send(
            &node_a,
            "PUT",
            "/v1/admin/risk/sanctions?version=2026-11-22",
            t,
            "text/csv",
            "id,name\nS1,Vladimir Sokolov\n".into(),
        )
        .await;
        assert_eq!(
            (status, body["items"].as_i64()),
            (StatusCode::OK, Some(1)),
            "{body}"
        );
        let (_, d) = send(
            &node_a,
            "POST",
            "/v1/admin/risk/evaluate",
            t,
            "application/json",
            facts(100, "Соколов Владимир"),
        )
        .await;
        assert_eq!(d["action"], "decline", "{d}");
        let (status, body) = send(
            &node_a,
            "PUT",
            "/v1/admin/risk/sanctions?version=bad",
            t,
            "text/csv",
            "id,name\nno comma\n".into(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("line 2"),
            "{body}"
        );

        // A list of thousands of names is a bulk upload (beyond the
        // ordinary body limit).
        let mut big = String::from("id,name\n");
        for n in 0..5_000 {
            big.push_str(&format!("B{n},Listed Person Number{n} Example\n"));
        }
        big.push_str("S1,Vladimir Sokolov\n");
        assert!(big.len() > 64 * 1024);
        let (status, body) = send(
            &node_a,
            "PUT",
            "/v1/admin/risk/sanctions?version=big",
            t,
            "text/csv",
            big,
        )
        .await;
        assert_eq!(
            (status, body["items"].as_i64()),
            (StatusCode::OK, Some(5_001)),
            "{body}"
        );

        // The other node follows the store.
        assert!(node_b.risk_rules.current().rules.is_none());
        assert!(node_b.risk_rules.refresh(&store).await.unwrap());
        let (_, d) = send(
            &node_b,
            "POST",
            "/v1/admin/risk/evaluate",
            t,
            "application/json",
            facts(100, "Vladimir Sokolov"),
        )
        .await;
        assert_eq!(d["action"], "decline", "{d}");
        assert!(
            !node_b.risk_rules.refresh(&store).await.unwrap(),
            "nothing newer"
        );

        // Each change raised an alert; the operator acknowledges them.
        let (_, body) = send(
            &node_a,
            "GET",
            "/v1/admin/risk/alerts?open=true",
            t,
            "application/json",
            String::new(),
        )
        .await;
        let alerts = body["alerts"].as_array().unwrap().clone();
        let kinds: Vec<&str> = alerts.iter().map(|a| a["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds.len(), 3, "{body}");
        assert!(kinds.contains(&"rules_changed") && kinds.contains(&"sanctions_changed"));
        let id = alerts[0]["id"].as_str().unwrap();
        let (status, body) = send(
            &node_a,
            "POST",
            &format!("/v1/admin/risk/alerts/{id}/ack"),
            t,
            "application/json",
            String::new(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["acked_at"].is_string());
        let (_, body) = send(
            &node_a,
            "GET",
            "/v1/admin/risk/alerts?open=true",
            t,
            "application/json",
            String::new(),
        )
        .await;
        assert_eq!(body["alerts"].as_array().unwrap().len(), 2);
        let (status, _) = send(
            &node_a,
            "POST",
            "/v1/admin/risk/alerts/none/ack",
            t,
            "application/json",
            String::new(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

fn payment_facts(payer: &str, amount_minor: i64, merchant_country: &str) -> PaymentFacts {
    PaymentFacts {
        wallet: "mn-wallet".into(),
        acquirer: "cn-acq".into(),
        payer_id: Some(payer.into()),
        payer_name: Some("Bat Erdene".into()),
        payer_country: "MN".into(),
        merchant_id: "gm-1".into(),
        merchant_name: "ERLIAN HOTPOT".into(),
        merchant_country: merchant_country.into(),
        mcc: "5812".into(),
        amount_minor,
    }
}

/// A rule set whose every rule id carries its version, and whose limit
/// is the version's number: a decision taken from a half-loaded set would
/// mix them.
fn versioned_rules(n: u32) -> String {
    format!(
        r#"
version = "hot-{n}"
currency = "CNY"

[[rule]]
kind = "amount_limit"
id = "single-hot-{n}"
action = "decline"
scope = "corridor"
corridor = "MN-CN"
period = "single"
max = "{n}.00"

[[rule]]
kind = "mcc_restriction"
id = "mcc-hot-{n}"
action = "review"
corridor = "MN-CN"
mccs = ["7995"]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_reload_under_traffic_never_evaluates_a_half_loaded_set() {
    for store in store::testing::engines("risk_hot").await {
        let keys = common::keys(store.clone()).await;
        let traffic = common::state_with(store.clone(), keys.clone());
        let operator = common::state_with(store.clone(), keys);
        let (_, token) = store
            .token_create(store::Role::Operator, "ops", 1)
            .await
            .unwrap();
        let load = |n: u32| {
            let (operator, token) = (operator.clone(), token.clone());
            async move {
                let (status, body) = send(
                    &operator,
                    "PUT",
                    "/v1/admin/risk/rules",
                    &token,
                    "application/toml",
                    versioned_rules(n),
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }
        };
        load(1).await;
        traffic.risk_rules.refresh(&store).await.unwrap();

        // Payments screened on one node while the operator loads nine
        // more versions through the other, which the first follows.
        let payments = {
            let (traffic, store) = (traffic.clone(), store.clone());
            tokio::spawn(async move {
                for i in 0..120_i64 {
                    let id = format!("hot-{i}");
                    // 5.00 CNY: above version 1..4's limit, within 5..10's.
                    risk_rules::screen_payment(
                        &traffic,
                        &id,
                        payment_facts("u-hot", 500, "CN"),
                        Moment::BeforeMoney,
                    )
                    .await
                    .unwrap()
                    .unwrap();
                    if i % 4 == 0 {
                        traffic.risk_rules.refresh(&store).await.unwrap();
                    }
                    tokio::task::yield_now().await;
                }
            })
        };
        for n in 2..=10 {
            load(n).await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        payments.await.unwrap();

        let mut versions = std::collections::BTreeSet::new();
        for i in 0..120 {
            let rows = store.risk_decisions(&format!("hot-{i}")).await.unwrap();
            assert_eq!(rows.len(), 1);
            let d: Value = serde_json::from_str(&rows[0].decision).unwrap();
            let n: u32 = rows[0].version.trim_start_matches("hot-").parse().unwrap();
            let ids: Vec<&str> = d["outcomes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["rule"].as_str().unwrap())
                .collect();
            assert_eq!(
                ids,
                vec![format!("single-hot-{n}"), format!("mcc-hot-{n}")],
                "decision {i} mixes sets: {d}"
            );
            let expected = if n < 5 { "decline" } else { "approve" };
            assert_eq!(rows[0].action, expected, "decision {i} of version {n}");
            versions.insert(n);
        }
        assert!(
            versions.len() >= 2,
            "the traffic saw the reload: {versions:?}"
        );
    }
}

const ANOMALY_RULES: &str = r#"
version = "anomaly-1"
currency = "CNY"

[[rule]]
kind = "anomaly"
id = "anomaly"
action = "review"
threshold = 60
"#;

#[tokio::test]
async fn the_anomaly_score_reads_the_payers_history_and_the_merchants_hour() {
    for store in store::testing::engines("risk_anomaly").await {
        let state = common::state(store.clone()).await;
        let (_, token) = store
            .token_create(store::Role::Operator, "ops", 1)
            .await
            .unwrap();
        let (status, body) = send(
            &state,
            "PUT",
            "/v1/admin/risk/rules",
            &token,
            "application/toml",
            ANOMALY_RULES.into(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let screen = |id: &'static str, amount: i64, country: &'static str| {
            let state = state.clone();
            async move {
                risk_rules::screen_payment(
                    &state,
                    id,
                    payment_facts("u-an", amount, country),
                    Moment::BeforeMoney,
                )
                .await
                .unwrap()
                .unwrap()
            }
        };
        // The night feature, in the merchant's zone (checked against the
        // clock, so the test holds at any hour).
        let night = |country: &str| {
            let zone = risk::country_time_zone(country).unwrap();
            let hour = jiff::Timestamp::now().in_tz(zone).unwrap().hour();
            if hour < 5 { 20 } else { 0 }
        };
        let anomaly = |d: &risk::Decision| {
            d.outcomes
                .iter()
                .find(|o| o.rule == "anomaly")
                .unwrap()
                .saw
                .clone()
        };
        // A payer never seen: +20.
        let first = screen("an-1", 10_000, "CN").await;
        assert_eq!(first.score, 20 + night("CN"), "{}", anomaly(&first));
        assert!(anomaly(&first).contains("a payer never seen +20"));
        // Known now, at their average: nothing.
        let second = screen("an-2", 10_000, "CN").await;
        assert_eq!(second.score, night("CN"), "{}", anomaly(&second));
        // Ten times the average (10,000): +40; three corridors in a day,
        // this one's included: +20.
        screen("an-3", 10_000, "TH").await;
        let big = screen("an-4", 100_000, "SG").await;
        assert_eq!(big.score, 60 + night("SG"), "{}", anomaly(&big));
        assert!(anomaly(&big).contains("at least 10x the payer's average 10000"));
        assert!(anomaly(&big).contains("3 corridors in 24h"));
        assert_eq!(big.action, risk::Action::Review);
        // Three times, not ten: +20.
        // (the average is now 130,000 / 4 = 32,500)
        let mid = screen("an-5", 150_000, "SG").await;
        assert!(anomaly(&mid).contains("at least 3x"), "{}", anomaly(&mid));
    }
}

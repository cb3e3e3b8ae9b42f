//! The risk rules and sanctions list over the operator API, on both
//! engines: loaded whole or refused with their line (the set in force
//! stays), versioned, followed by every node, evaluated with their trace;
//! their changes raise alerts the operator acknowledges.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

mod common;

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

//! The router in-process (`oneshot`): health, readiness, problem+json
//! faults, bearer tokens and roles, limits, and the OpenAPI document.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use api::{AppState, HttpLimits, router};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use store::{Role, Store, StoreOptions};
use tower::ServiceExt;

mod common;

async fn store() -> Store {
    common::sqlite().await
}

async fn call(
    state: AppState,
    method: &str,
    uri: &str,
    token: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let response = router(state)
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

async fn state(store: Store) -> AppState {
    common::state(store).await
}

#[tokio::test]
async fn health_and_readiness() {
    let s = state(store().await).await;
    let (status, _, body) = call(s.clone(), "GET", "/healthz", None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, _, _) = call(s, "GET", "/readyz", None).await;
    assert_eq!(status, StatusCode::OK);
    // Not migrated: not ready, said as a problem.
    let bare = Store::connect(
        "sqlite://bare?mode=memory&cache=shared",
        StoreOptions::default(),
    )
    .await
    .unwrap();
    let (status, headers, body) = call(
        common::state_with(bare, common::keys(store().await).await),
        "GET",
        "/readyz",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(body["code"], "NOT_READY");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let s = state(store().await).await;
    let (status, headers, body) = call(s.clone(), "GET", "/v1/nothing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(body["code"], "NOT_FOUND");
    assert_eq!(body["status"], 404);
    assert!(body["type"].as_str().unwrap().starts_with("https://"));
    let (status, _, body) = call(s, "POST", "/healthz", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["code"], "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn tokens_and_roles() {
    let st = store().await;
    let (_, operator) = st.token_create(Role::Operator, "ops", 1).await.unwrap();
    let (reg_id, regulator) = st
        .token_create(Role::Regulator, "central bank", 1)
        .await
        .unwrap();
    let s = state(st.clone()).await;

    let (status, headers, body) = call(s.clone(), "GET", "/v1/admin/whoami", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(body["code"], "UNAUTHENTICATED");
    let (status, _, _) = call(s.clone(), "GET", "/v1/admin/whoami", Some("ugt_nope")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = call(s.clone(), "GET", "/v1/admin/whoami", Some(&regulator)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("FORBIDDEN"))
    );
    let (status, _, body) = call(s.clone(), "GET", "/v1/admin/whoami", Some(&operator)).await;
    assert_eq!(
        (status, body["role"].as_str()),
        (StatusCode::OK, Some("operator"))
    );
    let (status, _, body) = call(s.clone(), "GET", "/v1/reports/whoami", Some(&regulator)).await;
    assert_eq!(
        (status, body["role"].as_str()),
        (StatusCode::OK, Some("regulator"))
    );
    assert!(st.token_revoke(&reg_id, 2).await.unwrap());
    let (status, _, _) = call(s, "GET", "/v1/reports/whoami", Some(&regulator)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_request_over_its_time_is_a_timeout_problem() {
    // The router's own timeout layer around a handler that outlives it.
    let limits = HttpLimits {
        request_timeout_ms: 50,
        ..HttpLimits::default()
    };
    let app = axum::Router::new()
        .route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                "late"
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            limits,
            api::timeout_and_metrics,
        ));
    let started = std::time::Instant::now();
    let response = app
        .oneshot(Request::builder().uri("/slow").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = serde_json::from_slice(
        &axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["code"], "TIMEOUT");
}

#[tokio::test]
async fn beyond_its_in_flight_limit_a_request_is_shed_with_retry_after() {
    // Two slow requests hold the gate; the rest are shed at once, each
    // told when to come back; once the two are answered, the gate opens.
    let gate = api::InFlight::new(2);
    let app = axum::Router::new()
        .route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                "done"
            }),
        )
        .layer(axum::middleware::from_fn_with_state(gate, api::shed));
    let tries = (0..6).map(|_| {
        let app = app.clone();
        async move {
            app.oneshot(Request::builder().uri("/slow").body(Body::empty()).unwrap())
                .await
                .unwrap()
        }
    });
    let answers = futures_util::future::join_all(tries).await;
    let ok = answers
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    assert_eq!(ok, 2);
    for r in answers.iter().filter(|r| r.status() != StatusCode::OK) {
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    }
    let again = app
        .oneshot(Request::builder().uri("/slow").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK, "the gate opens again");
}

#[tokio::test]
async fn the_gateway_sheds_participant_calls_but_not_health_or_the_operator() {
    let mut s = state(store().await).await;
    s.limits = HttpLimits {
        in_flight_max: 0,
        ..HttpLimits::default()
    };
    let (status, headers, body) = call(s.clone(), "POST", "/v1/payments", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "OVERLOADED", "{body}");
    assert_eq!(headers[header::RETRY_AFTER], "1");
    let (status, _, _) = call(s.clone(), "POST", "/v1/merchants/bulk", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _, _) = call(s.clone(), "GET", "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = call(s, "GET", "/v1/admin/participants", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let s = state(store().await).await;
    let (_, headers, _) = call(s, "GET", "/healthz", None).await;
    assert!(headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn openapi_is_served_committed_and_covers_the_routes() {
    let s = state(store().await).await;
    let (status, _, served) = call(s, "GET", "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/openapi.json"
        ))
        .expect("docs/openapi.json is committed (regenerate with `cargo xtask openapi`)"),
    )
    .unwrap();
    assert_eq!(
        served, committed,
        "docs/openapi.json is stale: run `cargo xtask openapi`"
    );
    // What OpenAPI 3.1 requires and code generators rely on: a description
    // on every response, unique operation ids, path parameters in the path.
    let mut ids = std::collections::HashSet::new();
    for (path, item) in served["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap().to_string();
            assert!(ids.insert(id.clone()), "operationId {id} twice");
            for (status, r) in op["responses"].as_object().unwrap() {
                assert!(
                    r["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status} has no description"
                );
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" {
                    let name = p["name"].as_str().unwrap();
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: {name} is not in the path"
                    );
                }
            }
        }
    }
    for route in ROUTES {
        assert!(
            served["paths"].get(route).is_some(),
            "{route} is not documented"
        );
    }
    for path in served["paths"].as_object().unwrap().keys() {
        assert!(
            ROUTES.contains(&path.as_str()),
            "{path} is documented but not routed"
        );
    }
}

/// Every route the router serves.
const ROUTES: &[&str] = &[
    "/healthz",
    "/readyz",
    "/v1/keys",
    "/v1/me",
    "/v1/me/keys",
    "/v1/me/keys/{version}/revoke",
    "/v1/merchants",
    "/v1/merchants/lookup",
    "/v1/merchants/bulk",
    "/v1/merchants/{id}",
    "/v1/fx/rates",
    "/v1/fx/indicative",
    "/v1/quotes",
    "/v1/mpm/consult",
    "/v1/payments",
    "/v1/payments/{id}",
    "/v1/payments/{id}/cancel",
    "/v1/refunds",
    "/v1/refunds/{id}",
    "/v1/admin/fx/rates",
    "/v1/admin/fx/settings",
    "/v1/admin/fx/markups",
    "/v1/admin/fx/quotes",
    "/v1/admin/ledger/accounts",
    "/v1/admin/ledger/accounts/{id}",
    "/v1/admin/ledger/trial-balance",
    "/v1/admin/ledger/transfers",
    "/v1/admin/ledger/limits",
    "/v1/admin/ledger/top-ups",
    "/v1/admin/ledger/withdrawals",
    "/v1/admin/ledger/fees",
    "/v1/admin/routes",
    "/v1/admin/routes/resolve",
    "/v1/admin/routes/{id}",
    "/v1/admin/whoami",
    "/v1/admin/leases",
    "/v1/admin/exceptions",
    "/v1/admin/payments/{id}/resolve",
    "/v1/admin/notifications",
    "/v1/admin/notifications/{id}/replay",
    "/v1/admin/recovery/sweep",
    "/v1/admin/risk/rules",
    "/v1/admin/risk/sanctions",
    "/v1/admin/risk/evaluate",
    "/v1/admin/risk/alerts",
    "/v1/admin/stats",
    "/v1/admin/reports/daily/{date}",
    "/v1/reports/stats",
    "/v1/reports/daily",
    "/v1/reports/daily/{date}",
    "/v1/reports/daily/{date}/csv",
    "/v1/admin/risk/alerts/{id}/ack",
    "/v1/admin/payments/{id}/risk",
    "/v1/admin/cycles",
    "/v1/admin/cycles/{date}",
    "/v1/admin/cycles/{date}/close",
    "/v1/admin/cycles/{date}/settle",
    "/v1/admin/cycles/{date}/instructions",
    "/v1/admin/cycles/{date}/reconciliation/{participant}",
    "/v1/reconciliation/{date}",
    "/v1/admin/participants",
    "/v1/admin/participants/{id}",
    "/v1/admin/participants/{id}/stage",
    "/v1/admin/participants/{id}/history",
    "/v1/admin/participants/{id}/keys",
    "/v1/admin/participants/{id}/keys/{version}/revoke",
    "/v1/admin/gateway-keys/rotate",
    "/v1/reports/whoami",
];

#[tokio::test]
async fn json_bodies_refused_precisely() {
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Order {
        request_id: String,
        amount: u64,
    }
    let app = axum::Router::new()
        .route(
            "/echo",
            axum::routing::post(|api::json::Json(o): api::json::Json<Order>| async move {
                o.request_id
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(64));
    let post = |ct: &str, body: &str| {
        Request::builder()
            .method("POST")
            .uri("/echo")
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let answer = |r: axum::response::Response| async move {
        let status = r.status();
        let ct = r
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string());
        let b = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        (
            status,
            ct,
            serde_json::from_slice::<serde_json::Value>(&b).unwrap_or(serde_json::Value::Null),
        )
    };
    let (s, _, _) = answer(
        app.clone()
            .oneshot(post("application/json", r#"{"request_id":"r","amount":1}"#))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, ct, b) = answer(app.clone().oneshot(post("text/plain", "{}")).await.unwrap()).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("UNSUPPORTED_MEDIA_TYPE")
        )
    );
    assert_eq!(ct.as_deref(), Some("application/problem+json"));
    let (s, _, b) = answer(
        app.clone()
            .oneshot(post("application/json", &"x".repeat(100)))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("PAYLOAD_TOO_LARGE"))
    );
    let (s, _, b) = answer(
        app.clone()
            .oneshot(post(
                "application/json",
                r#"{"request_id":"r","amount":1,"x":2}"#,
            ))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str(), b["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("BAD_REQUEST"), Some("x"))
    );
    let (s, _, b) = answer(
        app.oneshot(post("application/json", r#"{"request_id":7,"amount":1}"#))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, b["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("request_id"))
    );
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let mut s = state(store().await).await;
    s.limits = HttpLimits {
        header_bytes_max: 100,
        ..HttpLimits::default()
    };
    let req = Request::builder()
        .uri("/healthz")
        .header("x-padding", "p".repeat(200))
        .body(Body::empty())
        .unwrap();
    let response = router(s).oneshot(req).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
}

async fn send(
    state: AppState,
    method: &str,
    uri: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    let body = match body {
        Some(b) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let response = router(state)
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

fn hipay() -> serde_json::Value {
    serde_json::json!({
        "id": "hipay-mn", "legal_name": "HiPay LLC", "roles": ["wallet"], "country": "MN",
        "currencies": ["MNT"], "settlement_currency": "USD", "settlement_account": "MN12 3456",
        "callback_base_url": "https://api.hipay.mn/unigate", "contacts": ["ops@hipay.mn"]
    })
}

#[tokio::test]
async fn the_operator_registers_a_participant_and_walks_it_to_live() {
    let st = store().await;
    let (_, op) = st.token_create(Role::Operator, "ops", 1).await.unwrap();
    let (_, reg) = st.token_create(Role::Regulator, "cb", 1).await.unwrap();
    let s = state(st).await;
    let (status, body) = send(
        s.clone(),
        "POST",
        "/v1/admin/participants",
        &op,
        Some(hipay()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["stage"], "applied");
    let (status, body) = send(
        s.clone(),
        "POST",
        "/v1/admin/participants",
        &op,
        Some(hipay()),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("PARTICIPANT_EXISTS"))
    );
    // Each bad field is named.
    for (field, value) in [
        ("country", serde_json::json!("XX")),
        ("settlement_currency", serde_json::json!("usd")),
        (
            "callback_base_url",
            serde_json::json!("https://192.168.1.10/cb"),
        ),
        ("roles", serde_json::json!(["bank"])),
        ("id", serde_json::json!("Not An Id")),
    ] {
        let mut b = hipay();
        b["id"] = serde_json::json!("other");
        b[field] = value;
        let (status, body) = send(s.clone(), "POST", "/v1/admin/participants", &op, Some(b)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {body}");
        assert_eq!(body["field"], field, "{body}");
    }
    let mut b = hipay();
    b["surprise"] = serde_json::json!(1);
    let (status, body) = send(s.clone(), "POST", "/v1/admin/participants", &op, Some(b)).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("surprise"))
    );
    // The regulator reads reports, not the registry.
    let (status, _) = send(s.clone(), "GET", "/v1/admin/participants", &reg, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    for to in [
        "admitted",
        "joint_testing",
        "production_verification",
        "signed",
        "live",
    ] {
        let (status, body) = send(
            s.clone(),
            "POST",
            "/v1/admin/participants/hipay-mn/stage",
            &op,
            Some(serde_json::json!({"to": to, "reason": "checks passed"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{to}: {body}");
        assert_eq!(body["to"], to);
    }
    let (status, body) = send(
        s.clone(),
        "POST",
        "/v1/admin/participants/hipay-mn/stage",
        &op,
        Some(serde_json::json!({"to": "applied", "reason": "no"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("STAGE_MOVE_ILLEGAL"))
    );
    let (status, body) = send(
        s.clone(),
        "GET",
        "/v1/admin/participants/hipay-mn",
        &op,
        None,
    )
    .await;
    assert_eq!(
        (status, body["stage"].as_str()),
        (StatusCode::OK, Some("live"))
    );
    let (_, body) = send(
        s.clone(),
        "GET",
        "/v1/admin/participants/hipay-mn/history",
        &op,
        None,
    )
    .await;
    assert_eq!(body.as_array().unwrap().len(), 6);
    let (status, body) = send(s.clone(), "GET", "/v1/admin/participants", &op, None).await;
    assert_eq!(
        (status, body.as_array().unwrap().len()),
        (StatusCode::OK, 1)
    );
    let (status, body) = send(s, "GET", "/v1/admin/participants/nobody", &op, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
    );
}

//! The operator's route table over HTTP on both stores: adding routes
//! (validated, to participants of the side's role), listing, reading,
//! deleting, and resolving codes to participants with their direction.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::World;
use serde_json::{Value, json};

/// A PromptPay code (merchant country TH, proxy 0066801234567).
const PROMPTPAY: &str =
    "00020101021129370016A000000677010111011300668012345675802TH530376463046197";
/// The same code with one CRC digit changed.
const PROMPTPAY_BAD_CRC: &str =
    "00020101021129370016A000000677010111011300668012345675802TH530376463046198";
/// The EMVCo example from Ghana: Visa (02) and Mastercard (04).
const GHANA: &str = "0002010102110213404587173785204155326311010619815204829953039365802GH5909CIB GHANA6005ACCRA622407088656730603088656730663041437";

fn route(side: &str, kind: &str, value: &str, participant: &str) -> Option<Value> {
    Some(json!({"side": side, "kind": kind, "value": value, "participant_id": participant}))
}

async fn resolve(w: &World, body: Value) -> common::Reply {
    w.admin("POST", "/v1/admin/routes/resolve", Some(body))
        .await
}

#[tokio::test]
async fn the_operator_adds_lists_reads_and_deletes_routes() {
    for st in store::testing::engines("routes_api").await {
        let w = World::new(st).await;
        w.party("kbank", &["acquirer"], "live").await;
        w.party("hipay", &["wallet"], "live").await;

        let r = w
            .admin(
                "POST",
                "/v1/admin/routes",
                route("merchant", "account", "SG.PayNow", "kbank"),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        let id = r.json["id"].as_str().unwrap().to_string();
        assert!(id.starts_with("rt-"), "{id}");
        // Canonical form: reverse-domain ids in lower case.
        assert_eq!(r.json["value"], "sg.paynow");
        assert_eq!(r.json["side"], "merchant");
        assert_eq!(r.json["kind"], "account");
        assert!(r.json["created_at"].as_str().unwrap().ends_with('Z'));

        let r = w
            .admin(
                "POST",
                "/v1/admin/routes",
                route("wallet", "token_range", "6200-6299", "hipay"),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);

        // The same side, kind and value again (in another case): 409.
        let r = w
            .admin(
                "POST",
                "/v1/admin/routes",
                route("merchant", "account", "sg.paynow", "kbank"),
            )
            .await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "ROUTE_EXISTS"));
        assert!(
            r.json["detail"].as_str().unwrap().contains(&id),
            "{}",
            r.json
        );

        let r = w.admin("GET", "/v1/admin/routes", None).await;
        assert_eq!(r.status, StatusCode::OK);
        let listed: Vec<&str> = r.json["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["value"].as_str().unwrap())
            .collect();
        assert_eq!(listed, ["sg.paynow", "6200-6299"]);

        let r = w
            .admin("GET", &format!("/v1/admin/routes/{id}"), None)
            .await;
        assert_eq!(
            (r.status, r.json["participant_id"].as_str()),
            (StatusCode::OK, Some("kbank"))
        );
        let r = w
            .admin("DELETE", &format!("/v1/admin/routes/{id}"), None)
            .await;
        assert_eq!(
            (r.status, r.json["id"].as_str()),
            (StatusCode::OK, Some(id.as_str()))
        );
        for method in ["GET", "DELETE"] {
            let r = w
                .admin(method, &format!("/v1/admin/routes/{id}"), None)
                .await;
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::NOT_FOUND, "NOT_FOUND"),
                "{method}"
            );
        }
        let r = w.admin("GET", "/v1/admin/routes", None).await;
        assert_eq!(r.json["routes"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn routes_are_validated_and_go_to_participants_of_the_sides_role() {
    let w = World::new(common::sqlite().await).await;
    w.party("kbank", &["acquirer"], "live").await;
    w.party("hipay", &["wallet"], "live").await;
    for (body, status, code, field) in [
        (
            route("merchant", "account", "26", "kbank"),
            400,
            "FIELD_INVALID",
            "value",
        ),
        (
            route("merchant", "guid", "A000000727", "kbank"),
            400,
            "FIELD_INVALID",
            "kind",
        ),
        (
            route("wallet", "account", "A000000727", "hipay"),
            400,
            "FIELD_INVALID",
            "kind",
        ),
        (
            route("wallet", "token_range", "69-62", "hipay"),
            400,
            "FIELD_INVALID",
            "value",
        ),
        (
            route("merchant", "account", "A000000727", "Bad Id"),
            400,
            "FIELD_INVALID",
            "participant_id",
        ),
        (
            route("merchant", "account", "A000000727", "nobody"),
            422,
            "ROUTE_PARTICIPANT_UNKNOWN",
            "participant_id",
        ),
        (
            route("merchant", "account", "A000000727", "hipay"),
            422,
            "ROUTE_PARTICIPANT_ROLE",
            "participant_id",
        ),
        (
            route("wallet", "payment_code_prefix", "62", "kbank"),
            422,
            "ROUTE_PARTICIPANT_ROLE",
            "participant_id",
        ),
    ] {
        let r = w.admin("POST", "/v1/admin/routes", body.clone()).await;
        assert_eq!(
            (r.status.as_u16(), r.code(), r.json["field"].as_str()),
            (status, code, Some(field)),
            "{body:?}: {}",
            r.json
        );
        assert_eq!(r.headers["content-type"], "application/problem+json");
    }
    // Unknown fields and over-long values are refused before validation.
    let r = w
        .admin(
            "POST",
            "/v1/admin/routes",
            Some(json!({"side": "merchant", "kind": "account", "value": "15", "participant_id": "kbank", "priority": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = w
        .admin(
            "POST",
            "/v1/admin/routes",
            route("merchant", "account", &"A".repeat(101), "kbank"),
        )
        .await;
    assert_eq!(
        (r.status, r.json["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("value"))
    );
    // Operators only.
    let (_, regulator) = w
        .state
        .store
        .token_create(store::Role::Regulator, "reg", 1)
        .await
        .unwrap();
    let req = axum::http::Request::get("/v1/admin/routes")
        .header("authorization", format!("Bearer {regulator}"))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(
        common::send(&w.state, req).await.status,
        StatusCode::FORBIDDEN
    );
    let req = axum::http::Request::post("/v1/admin/routes/resolve")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            json!({"code": PROMPTPAY}).to_string(),
        ))
        .unwrap();
    assert_eq!(
        common::send(&w.state, req).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn codes_resolve_to_participants_with_their_direction() {
    for st in store::testing::engines("routes_resolve").await {
        let w = World::new(st).await;
        for (id, role) in [
            ("acq-promptpay", "acquirer"),
            ("acq-bank", "acquirer"),
            ("acq-visa", "acquirer"),
            ("acq-mc", "acquirer"),
            ("acq-alipay", "acquirer"),
            ("wallet-up", "wallet"),
        ] {
            w.party(id, &[role], "live").await;
        }
        for body in [
            route("merchant", "account", "A000000677010111", "acq-promptpay"),
            route("merchant", "account", "A000000677010111:006680", "acq-bank"),
            route("merchant", "account", "02", "acq-visa"),
            route("merchant", "account", "04", "acq-mc"),
            route("merchant", "url_host", "*.alipay.com", "acq-alipay"),
            route("wallet", "payment_code_prefix", "62", "wallet-up"),
        ] {
            let r = w.admin("POST", "/v1/admin/routes", body).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        }

        // The longer account prefix wins; a Mongolian payer at a Thai
        // merchant is transit for a CN home.
        let r = resolve(&w, json!({"code": PROMPTPAY, "payer_country": "mn"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        assert_eq!(r.json["result"]["status"], "S");
        assert_eq!(r.json["result"]["code"], "SUCCESS");
        assert_eq!(r.json["side"], "merchant");
        assert_eq!(r.json["format"], "emvco-mpm");
        assert_eq!(r.json["scheme"], "promptpay");
        assert_eq!(r.json["matched"]["participant_id"], "acq-bank");
        assert_eq!(r.json["matched"]["kind"], "account");
        assert_eq!(r.json["matched"]["value"], "A000000677010111:006680");
        assert!(
            r.json["matched"]["route_id"]
                .as_str()
                .unwrap()
                .starts_with("rt-")
        );
        assert_eq!(r.json["merchant_country"], "TH");
        assert_eq!(r.json["payer_country"], "MN");
        assert_eq!(r.json["direction"], "transit");
        let r = resolve(&w, json!({"code": PROMPTPAY, "payer_country": "CN"})).await;
        assert_eq!(r.json["direction"], "outbound");
        // Without the payer's country there is no direction.
        let r = resolve(&w, json!({"code": PROMPTPAY})).await;
        assert!(r.json.get("direction").is_none(), "{}", r.json);

        // A registered merchant's acquirer beats every route.
        let kbank = w.party("kbank", &["acquirer"], "live").await;
        let m = w
            .call(
                &kbank,
                "POST",
                "/v1/merchants",
                Some(json!({
                    "request_id": "m-1", "acquirer_merchant_id": "K1", "name": "Siam Noodle House",
                    "mcc": "5812", "country": "TH", "city": "Bangkok", "time_zone": "Asia/Bangkok",
                    "kyb_status": "verified",
                    "identifiers": [{"kind": "promptpay_proxy", "value": "0066801234567"}]
                })),
            )
            .await;
        assert_eq!(m.status, StatusCode::CREATED, "{}", m.json);
        let r = resolve(&w, json!({"code": PROMPTPAY, "payer_country": "MN"})).await;
        assert_eq!(r.json["matched"]["participant_id"], "kbank", "{}", r.json);
        assert_eq!(r.json["matched"]["kind"], "registry");
        assert_eq!(r.json["matched"]["merchant_id"], m.json["id"]);
        assert!(r.json["matched"].get("route_id").is_none());

        // Visa and Mastercard in a code no national scheme governs.
        let r = resolve(&w, json!({"code": GHANA})).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            (
                r.json["result"]["status"].as_str(),
                r.json["result"]["code"].as_str()
            ),
            (Some("F"), Some("ROUTE_AMBIGUOUS")),
            "{}",
            r.json
        );
        let mut candidates: Vec<&str> = r.json["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["participant_id"].as_str().unwrap())
            .collect();
        candidates.sort_unstable();
        assert_eq!(candidates, ["acq-mc", "acq-visa"]);

        // A payment code finds its wallet; a merchant URL its host's route.
        let r = resolve(
            &w,
            json!({"code": "6212345678901234567", "payer_country": "CN"}),
        )
        .await;
        assert_eq!(
            (
                r.json["side"].as_str(),
                r.json["matched"]["participant_id"].as_str()
            ),
            (Some("wallet"), Some("wallet-up")),
            "{}",
            r.json
        );
        assert_eq!(r.json["matched"]["kind"], "payment_code_prefix");
        // The payment code is a secret: never repeated.
        assert!(!r.json.to_string().contains("6212345678901234567"));
        let r = resolve(
            &w,
            json!({"code": "https://qr.alipay.com/bavh4wjlxf12tper3a"}),
        )
        .await;
        assert_eq!(r.json["matched"]["participant_id"], "acq-alipay");
        assert_eq!(r.json["matched"]["kind"], "url_host");

        // Nothing matches: F ROUTE_NOT_FOUND.
        let r = resolve(&w, json!({"code": "281234567890123456"})).await;
        assert_eq!(
            (
                r.status,
                r.json["result"]["status"].as_str(),
                r.json["result"]["code"].as_str()
            ),
            (StatusCode::OK, Some("F"), Some("ROUTE_NOT_FOUND")),
            "{}",
            r.json
        );
        assert_eq!(r.json["side"], "wallet");

        // A code that does not decode: 422 with the codec's error.
        let r = resolve(&w, json!({"code": PROMPTPAY_BAD_CRC})).await;
        assert_eq!(
            (r.status, r.code(), r.json["field"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "CODE_INVALID",
                Some("code")
            ),
            "{}",
            r.json
        );
        assert!(
            r.json["detail"].as_str().unwrap().contains("crc_mismatch"),
            "{}",
            r.json
        );
        let r = resolve(&w, json!({"code": PROMPTPAY, "payer_country": "XX"})).await;
        assert_eq!(
            (r.status, r.json["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("payer_country"))
        );
    }
}

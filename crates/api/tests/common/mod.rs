//! Shared by the API's test files: states over a store, with the gateway's
//! keys.
#![allow(dead_code, clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::Arc;

use api::{AppState, HttpLimits, router};
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use serde_json::{Value, json};
use sign::{PrivateKey, PublicKey, SignedHeaders};
use store::Role;
use store::{Store, StoreOptions};
use tower::ServiceExt;

/// A fresh in-memory SQLite store.
pub async fn sqlite() -> Store {
    Store::open(
        &format!(
            "sqlite://api-{}-{}?mode=memory&cache=shared",
            std::process::id(),
            store::testing::unique()
        ),
        StoreOptions::default(),
    )
    .await
    .expect("store")
}

/// Gateway keys kept in `keys_store` under a fresh KEK.
pub async fn keys(keys_store: Store) -> Arc<keyring::GatewayKeys> {
    let (kek, _) = sign::kek::LocalKek::generate().unwrap();
    Arc::new(
        keyring::GatewayKeys::load_or_create(keys_store, Arc::new(kek), api::now_ms())
            .await
            .unwrap(),
    )
}

/// A state over `store` with default settings, its keys in the same store.
pub async fn state(store: Store) -> AppState {
    let k = keys(store.clone()).await;
    state_with(store, k)
}

pub fn state_with(store: Store, keys: Arc<keyring::GatewayKeys>) -> AppState {
    let payments = api::payments::PaymentsConfig::default();
    let connectors =
        api::payments::connectors(keys.clone(), store.clone(), &payments.callbacks, false).unwrap();
    AppState {
        payments,
        connectors,
        risk: Arc::new(api::payments::ApproveAll),
        risk_rules: Arc::default(),
        store,
        limits: HttpLimits::default(),
        node_id: "test-node".into(),
        allow_private_callbacks: false,
        keys,
        signing: api::signed::SigningConfig::default(),
        policy: participant::StagePolicy::default(),
        idempotency_retention_ms: api::IDEMPOTENCY_RETENTION_MS_DEFAULT,
        fees: Arc::new(ledger::fees::Schedule::default()),
        routing: api::routes::RoutingConfig::default(),
        fx: api::fx::FxConfig {
            firm_quotes: "rates".into(),
            ..api::fx::FxConfig::default()
        },
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub raw: Vec<u8>,
    pub json: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }
}

pub async fn send(state: &AppState, req: Request<Body>) -> Reply {
    let response = router(state.clone()).oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let raw = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap()
        .to_vec();
    let json = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        raw,
        json,
    }
}

/// A participant as the tests drive it.
pub struct Party {
    pub id: String,
    pub key: PrivateKey,
    pub version: u32,
}

pub struct World {
    pub state: AppState,
    pub op: String,
}

impl World {
    pub async fn new(store: Store) -> World {
        let (_, op) = store.token_create(Role::Operator, "ops", 1).await.unwrap();
        World {
            state: state(store).await,
            op,
        }
    }

    pub async fn admin(&self, method: &str, uri: &str, body: Option<Value>) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.op));
        let body = match body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        send(&self.state, req.body(body).unwrap()).await
    }

    /// Register a participant with an Ed25519 key and walk it to `stage`.
    pub async fn party(&self, id: &str, roles: &[&str], stage: &str) -> Party {
        let r = self
            .admin(
                "POST",
                "/v1/admin/participants",
                Some(json!({
                    "id": id, "legal_name": format!("{id} Ltd"), "roles": roles, "country": "TH",
                    "currencies": ["THB"], "settlement_currency": "THB",
                    "settlement_account": "TH-1", "callback_base_url": format!("https://{id}.example.com/cb")
                })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        let (key, _) = PrivateKey::generate_ed25519().unwrap();
        let r = self
            .admin(
                "POST",
                &format!("/v1/admin/participants/{id}/keys"),
                Some(json!({"public_key_pem": key.public_key().to_pem().unwrap()})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        let version = u32::try_from(r.json["key_version"].as_i64().unwrap()).unwrap();
        self.walk(id, stage).await;
        Party {
            id: id.into(),
            key,
            version,
        }
    }

    pub async fn walk(&self, id: &str, stage: &str) {
        let path = [
            "admitted",
            "joint_testing",
            "production_verification",
            "signed",
            "live",
        ];
        let steps: Vec<&str> = match stage {
            "applied" => vec![],
            "suspended" | "terminated" => path.iter().copied().chain([stage]).collect(),
            s => {
                let n = path.iter().position(|p| *p == s).unwrap();
                path[..=n].to_vec()
            }
        };
        for to in steps {
            let r = self
                .admin(
                    "POST",
                    &format!("/v1/admin/participants/{id}/stage"),
                    Some(json!({"to": to, "reason": "test"})),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{to}: {}", r.json);
        }
    }

    /// A signed call as `p`, signed now.
    pub async fn call(&self, p: &Party, method: &str, target: &str, body: Option<Value>) -> Reply {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let h = headers(p, method, target, &sign::now_rfc3339(), &bytes);
        self.send_signed(method, target, &h, bytes, "application/json")
            .await
    }

    pub async fn send_signed(
        &self,
        method: &str,
        target: &str,
        h: &SignedHeaders,
        body: Vec<u8>,
        content_type: &str,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(target)
            .header("Client-Id", &h.client_id)
            .header("Request-Time", &h.time)
            .header("Signature", &h.signature);
        if !body.is_empty() {
            req = req.header(header::CONTENT_TYPE, content_type);
        }
        let reply = send(&self.state, req.body(Body::from(body)).unwrap()).await;
        self.verify_answer(method, target, &reply);
        reply
    }

    /// Every answer on the participant surface verifies against the
    /// gateway's published keys.
    pub fn verify_answer(&self, method: &str, target: &str, reply: &Reply) {
        let get = |n: &str| reply.headers.get(n).unwrap().to_str().unwrap().to_string();
        let signed = SignedHeaders {
            client_id: get("client-id"),
            time: get("response-time"),
            signature: get("signature"),
        };
        assert_eq!(signed.client_id, "unigate");
        let keys: Vec<(u32, PublicKey)> = self
            .state
            .keys
            .published()
            .into_iter()
            .map(|k| {
                (
                    u32::try_from(k.version).unwrap(),
                    PublicKey::from_pem(&k.public_pem).unwrap(),
                )
            })
            .collect();
        sign::verify_message(&keys, method, target, &signed, &reply.raw)
            .unwrap_or_else(|e| panic!("the answer to {method} {target} does not verify: {e}"));
    }
}

pub fn headers(p: &Party, method: &str, target: &str, time: &str, body: &[u8]) -> SignedHeaders {
    sign::sign_message(&p.key, p.version, &p.id, method, target, time, body).unwrap()
}

impl World {
    pub async fn walk_back(&self, id: &str, to: &str) {
        let r = self
            .admin(
                "POST",
                &format!("/v1/admin/participants/{id}/stage"),
                Some(json!({"to": to, "reason": "resumed"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    }
}

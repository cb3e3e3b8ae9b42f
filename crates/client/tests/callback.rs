//! Callbacks signed both ways (SPEC §4.1): the gateway signs a callback to
//! a participant's callback base URL with its key ring, the participant
//! verifies it with the gateway's published keys and signs its answer, and
//! the gateway verifies that against the participant's registered key.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use client::{ClientLimits, KeySigner, SignedClient};
use sign::{PrivateKey, PublicKey, SignedHeaders};

async fn gateway_keys() -> Arc<keyring::GatewayKeys> {
    let store = store::Store::open(
        &format!(
            "sqlite://callback-{}?mode=memory&cache=shared",
            store::testing::unique()
        ),
        store::StoreOptions::default(),
    )
    .await
    .unwrap();
    let (kek, _) = sign::kek::LocalKek::generate().unwrap();
    Arc::new(
        keyring::GatewayKeys::load_or_create(store, Arc::new(kek), 0)
            .await
            .unwrap(),
    )
}

/// A participant's callback endpoint: checks the gateway's signature and
/// answers signed; `tamper` spoils its own answer's signature.
async fn participant_server(
    gateway_public: Vec<(u32, PublicKey)>,
    key: Arc<KeySigner>,
    tamper: bool,
) -> String {
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (gateway_public, key) = (gateway_public.clone(), key.clone());
            async move {
                let h = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                let target = uri
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default();
                let signed = SignedHeaders {
                    client_id: h("client-id"),
                    time: h("request-time"),
                    signature: h("signature"),
                };
                let verdict =
                    sign::verify_message(&gateway_public, method.as_str(), &target, &signed, &body);
                let answer = if verdict.is_ok()
                    && signed.client_id == "unigate"
                    && target == "/hooks/unigate/pay"
                {
                    br#"{"result":{"status":"S","code":"SUCCESS","message":"paid"}}"#.to_vec()
                } else {
                    br#"{"result":{"status":"F","code":"SIGNATURE_INVALID","message":"bad"}}"#
                        .to_vec()
                };
                let signed_body: &[u8] = if tamper { b"{}" } else { &answer };
                let a = sign::sign_with(
                    key.as_ref(),
                    method.as_str(),
                    &target,
                    &sign::now_rfc3339(),
                    signed_body,
                )
                .unwrap();
                (
                    StatusCode::OK,
                    [
                        ("content-type", "application/json".to_string()),
                        ("client-id", a.client_id),
                        ("response-time", a.time),
                        ("signature", a.signature),
                    ],
                    answer,
                )
                    .into_response()
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hooks/unigate")
}

#[tokio::test]
async fn a_gateway_callback_is_signed_and_its_answer_verified() {
    let keys = gateway_keys().await;
    let gateway_public: Vec<(u32, PublicKey)> = keys
        .published()
        .into_iter()
        .map(|k| {
            (
                u32::try_from(k.version).unwrap(),
                PublicKey::from_pem(&k.public_pem).unwrap(),
            )
        })
        .collect();
    let (key, _) = PrivateKey::generate_ed25519().unwrap();
    let participant_public = key.public_key();
    let participant = Arc::new(KeySigner {
        client_id: "kbank".into(),
        key,
        key_version: 1,
    });
    for tamper in [false, true] {
        let base = participant_server(gateway_public.clone(), participant.clone(), tamper).await;
        let callbacks = SignedClient::new(&base, keys.clone(), ClientLimits::default())
            .unwrap()
            .pin_peer_keys(vec![(1, participant_public.clone())]);
        let answer = callbacks
            .call(
                "POST",
                "/pay",
                Some("application/json"),
                br#"{"payment_id":"p-1"}"#.to_vec(),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        // The participant verified the gateway's signature over the full
        // target under the base URL's path.
        assert_eq!(body["result"]["status"], "S", "{body}");
        assert_eq!(answer.signed.as_ref().unwrap().client_id, "kbank");
        if tamper {
            assert!(answer.verified.is_err(), "a spoilt answer must not verify");
        } else {
            assert_eq!(answer.verified, Ok(1));
        }
    }
}

/// Callbacks connect only to public addresses unless private ones are
/// allowed: a literal private address is refused at once, and a name that
/// resolves only to private addresses (DNS rebinding) when connecting.
#[tokio::test]
async fn callbacks_reach_only_public_addresses() {
    let keys = gateway_keys().await;
    let limits = ClientLimits {
        public_only: true,
        ..ClientLimits::default()
    };
    for literal in [
        "http://127.0.0.1:9/cb",
        "https://10.1.2.3/cb",
        "http://[::1]:80/cb",
    ] {
        assert!(
            matches!(
                SignedClient::new(literal, keys.clone(), limits),
                Err(client::ClientError::BadUrl(_))
            ),
            "{literal}"
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let c =
        SignedClient::new(&format!("http://localhost:{port}/cb"), keys.clone(), limits).unwrap();
    let err = c.call("POST", "/pay", None, Vec::new()).await.unwrap_err();
    assert!(err.to_string().contains("no public address"), "{err}");
    // Allowed (simulators, tests): it connects.
    drop(listener);
}

#[test]
fn identical_requests_in_one_millisecond_get_distinct_times_and_signatures() {
    let (key, _) = PrivateKey::generate_ed25519().unwrap();
    let signer = Arc::new(KeySigner {
        client_id: "mn-wallet".into(),
        key,
        key_version: 1,
    });
    let c = SignedClient::new("http://127.0.0.1:9", signer, ClientLimits::default()).unwrap();
    let body = br#"{"code":"000201"}"#;
    let signed: Vec<SignedHeaders> = (0..50)
        .map(|_| c.sign("POST", "/v1/mpm/consult", body).unwrap())
        .collect();
    let times: std::collections::BTreeSet<&str> = signed.iter().map(|h| h.time.as_str()).collect();
    let sigs: std::collections::BTreeSet<&str> =
        signed.iter().map(|h| h.signature.as_str()).collect();
    assert_eq!(
        (times.len(), sigs.len()),
        (50, 50),
        "a replay to the gateway's guard"
    );
}

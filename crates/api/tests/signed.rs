//! The participant surface, signed both ways (SPEC §4.1), on both stores:
//! keys, merchants, the stage and role policy, idempotency, every refusal
//! of a signature, isolation between participants, and logs without
//! secrets.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Party, World, headers, send};
use serde_json::{Value, json};
use sign::{PrivateKey, SignedHeaders};

fn merchant(request_id: &str, amid: &str, proxy: &str) -> Value {
    json!({
        "request_id": request_id, "acquirer_merchant_id": amid, "name": "Siam Noodle House",
        "mcc": "5812", "country": "TH", "city": "Bangkok", "time_zone": "Asia/Bangkok",
        "kyb_status": "verified",
        "identifiers": [{"kind": "promptpay_proxy", "value": proxy}]
    })
}

#[tokio::test]
async fn a_live_acquirer_registers_keys_and_merchants_and_every_answer_is_signed() {
    for st in store::testing::engines("signed_flow").await {
        let w = World::new(st).await;
        // The gateway's keys are public.
        let keys = send(
            &w.state,
            Request::get("/v1/keys").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(keys.status, StatusCode::OK);
        assert_eq!(keys.json["keys"][0]["status"], "current");
        assert_eq!(keys.json["keys"][0]["algorithm"], "ED25519");

        let kbank = w.party("kbank", &["acquirer"], "live").await;
        let me = w.call(&kbank, "GET", "/v1/me", None).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.json);
        assert_eq!(
            (me.json["id"].as_str(), me.json["stage"].as_str()),
            (Some("kbank"), Some("live"))
        );

        let r = w
            .call(
                &kbank,
                "POST",
                "/v1/merchants",
                Some(merchant("r-1", "M1", "0066811111111")),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        let gm = r.json["id"].as_str().unwrap().to_string();
        assert!(gm.starts_with("gm-"));
        // The same request again: the first answer, not a second merchant.
        let again = w
            .call(
                &kbank,
                "POST",
                "/v1/merchants",
                Some(merchant("r-1", "M1", "0066811111111")),
            )
            .await;
        assert_eq!((again.status, &again.json), (StatusCode::CREATED, &r.json));
        // The same request id with other content is refused.
        let clash = w
            .call(
                &kbank,
                "POST",
                "/v1/merchants",
                Some(merchant("r-1", "M1", "0066899999999")),
            )
            .await;
        assert_eq!(
            (clash.status, clash.code()),
            (StatusCode::CONFLICT, "REPEAT_REQ_INCONSISTENT")
        );
        // A new request id for the same acquirer merchant id updates it.
        let upd = w
            .call(
                &kbank,
                "POST",
                "/v1/merchants",
                Some(merchant("r-2", "M1", "0066822222222")),
            )
            .await;
        assert_eq!(
            (upd.status, upd.json["id"].as_str()),
            (StatusCode::OK, Some(gm.as_str()))
        );

        let found = w
            .call(
                &kbank,
                "GET",
                "/v1/merchants/lookup?kind=promptpay_proxy&value=0066822222222",
                None,
            )
            .await;
        assert_eq!(
            (found.status, found.json["id"].as_str()),
            (StatusCode::OK, Some(gm.as_str()))
        );
        let one = w
            .call(&kbank, "GET", &format!("/v1/merchants/{gm}"), None)
            .await;
        assert_eq!(one.json["identifiers"][0]["value"], "0066822222222");
        let bad = w
            .call(
                &kbank,
                "POST",
                "/v1/merchants",
                Some(json!({"request_id": "r-3", "acquirer_merchant_id": "M2"})),
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.json);
        let mut tz = merchant("r-4", "M2", "0066833333333");
        tz["time_zone"] = json!("Mars/Olympus");
        let bad = w.call(&kbank, "POST", "/v1/merchants", Some(tz)).await;
        assert_eq!(
            (bad.status, bad.json["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("time_zone"))
        );

        // Bulk: good rows land, bad rows are reported by line, taken
        // identifiers too.
        let csv = "acquirer_merchant_id,name,mcc,country,city,time_zone,kyb_status,identifiers\n\
                   B1,Noodle One,5812,TH,Bangkok,Asia/Bangkok,verified,promptpay_proxy=0066844444444\n\
                   B2,Bad MCC,58,TH,Bangkok,Asia/Bangkok,verified,\n\
                   B3,Taken,5812,TH,Bangkok,Asia/Bangkok,pending,promptpay_proxy=0066822222222\n\
                   B4,\"Quoted, Name\",5411,VN,Hanoi,Asia/Ho_Chi_Minh,pending,vietqr_account=970436:0011012345678;qris_nmid=ID1020021181745\n\
                   M1,Update by file,5812,TH,Bangkok,Asia/Bangkok,verified,promptpay_proxy=0066822222222\n";
        let target = "/v1/merchants/bulk?request_id=bulk-1";
        let h = headers(&kbank, "POST", target, &sign::now_rfc3339(), csv.as_bytes());
        let report = w
            .send_signed("POST", target, &h, csv.as_bytes().to_vec(), "text/csv")
            .await;
        assert_eq!(report.status, StatusCode::OK, "{}", report.json);
        assert_eq!(
            (
                report.json["rows"].as_u64(),
                report.json["created"].as_u64(),
                report.json["updated"].as_u64(),
                report.json["failed"].as_u64()
            ),
            (Some(5), Some(2), Some(1), Some(2)),
            "{}",
            report.json
        );
        let errors = report.json["errors"].as_array().unwrap();
        assert_eq!(
            (errors[0]["line"].as_u64(), errors[0]["field"].as_str()),
            (Some(3), Some("mcc"))
        );
        assert_eq!(
            (errors[1]["line"].as_u64(), errors[1]["code"].as_str()),
            (Some(4), Some("IDENTIFIER_TAKEN"))
        );
        let list = w.call(&kbank, "GET", "/v1/merchants?limit=2", None).await;
        assert_eq!(list.json["merchants"].as_array().unwrap().len(), 2);
        let next = list.json["next_after"].as_str().unwrap();
        let rest = w
            .call(
                &kbank,
                "GET",
                &format!("/v1/merchants?limit=2&after={next}"),
                None,
            )
            .await;
        assert_eq!(
            rest.json["merchants"].as_array().unwrap().len(),
            1,
            "{}",
            rest.json
        );
        // A file with the wrong header is refused whole.
        let target = "/v1/merchants/bulk?request_id=bulk-2";
        let body = b"name,mcc\nx,5812\n".to_vec();
        let h = headers(&kbank, "POST", target, &sign::now_rfc3339(), &body);
        let r = w.send_signed("POST", target, &h, body, "text/csv").await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "BAD_REQUEST")
        );
    }
}

#[tokio::test]
async fn every_bad_signature_is_refused_and_changes_nothing() {
    for st in store::testing::engines("signed_refusals").await {
        let w = World::new(st).await;
        let p = w.party("kbank", &["acquirer"], "live").await;
        let target = "/v1/merchants";
        let body = merchant("r-1", "M1", "0066811111111")
            .to_string()
            .into_bytes();
        let now = sign::now_rfc3339();
        let good = headers(&p, "POST", target, &now, &body);

        let mut cases: Vec<(&str, SignedHeaders, &str)> = Vec::new();
        let mut h = good.clone();
        h.signature = String::new();
        cases.push(("empty signature", h, "SIGNATURE_INVALID"));
        let mut h = good.clone();
        h.signature = "algorithm=ED25519,keyVersion=1".into();
        cases.push(("no signature item", h, "SIGNATURE_INVALID"));
        let mut h = good.clone();
        h.signature = good.signature.replace("ED25519", "RSA256");
        cases.push(("wrong algorithm", h, "SIGNATURE_INVALID"));
        let mut h = good.clone();
        h.client_id = "nobody".into();
        cases.push(("unknown participant", h, "PARTICIPANT_UNKNOWN"));
        let mut h = good.clone();
        h.signature = good.signature.replace("keyVersion=1", "keyVersion=7");
        cases.push(("unknown key version", h, "KEY_UNKNOWN"));
        let old = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(301);
        cases.push((
            "expired",
            headers(&p, "POST", target, &old.to_string(), &body),
            "SIGNATURE_EXPIRED",
        ));
        let future = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(301);
        cases.push((
            "from the future",
            headers(&p, "POST", target, &future.to_string(), &body),
            "SIGNATURE_EXPIRED",
        ));
        let mut h = good.clone();
        h.time = "yesterday".into();
        cases.push(("bad time", h, "SIGNATURE_INVALID"));
        cases.push((
            "signed for another path",
            headers(&p, "POST", "/v1/merchants?x=1", &now, &body),
            "SIGNATURE_INVALID",
        ));
        cases.push((
            "signed for another body",
            headers(&p, "POST", target, &now, b"{}"),
            "SIGNATURE_INVALID",
        ));
        let (stranger, _) = PrivateKey::generate_ed25519().unwrap();
        cases.push((
            "signed by another key",
            sign::sign_message(&stranger, 1, "kbank", "POST", target, &now, &body).unwrap(),
            "SIGNATURE_INVALID",
        ));
        for (what, h, code) in cases {
            let r = w
                .send_signed("POST", target, &h, body.clone(), "application/json")
                .await;
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::UNAUTHORIZED, code),
                "{what}: {}",
                r.json
            );
            assert_eq!(
                r.headers.get(header::WWW_AUTHENTICATE).unwrap(),
                "Signature",
                "{what}"
            );
        }
        // Missing headers.
        for missing in ["Client-Id", "Request-Time", "Signature"] {
            let mut req = Request::post(target).header(header::CONTENT_TYPE, "application/json");
            for (name, value) in [
                ("Client-Id", &good.client_id),
                ("Request-Time", &good.time),
                ("Signature", &good.signature),
            ] {
                if name != missing {
                    req = req.header(name, value);
                }
            }
            let r = send(&w.state, req.body(Body::from(body.clone())).unwrap()).await;
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::UNAUTHORIZED, "SIGNATURE_MISSING"),
                "{missing}"
            );
        }
        // Nothing was registered by any of them.
        let list = w.call(&p, "GET", "/v1/merchants", None).await;
        assert_eq!(list.json["merchants"], json!([]), "{}", list.json);

        // The good one works once; the same signature again is a replay.
        let r = w
            .send_signed("POST", target, &good, body.clone(), "application/json")
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        let r = w
            .send_signed("POST", target, &good, body.clone(), "application/json")
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "SIGNATURE_REPLAYED")
        );

        // An RSA-2048 key (OpenSSL-made) works as well.
        let rsa = PrivateKey::from_pem(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../sign/tests/keys/rsa2048.pem"
            ))
            .unwrap(),
        )
        .unwrap();
        let r = w
            .admin(
                "POST",
                "/v1/admin/participants/kbank/keys",
                Some(json!({"public_key_pem": rsa.public_key().to_pem().unwrap()})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        assert_eq!(r.json["algorithm"], "RSA256");
        let p_rsa = Party {
            id: "kbank".into(),
            key: rsa,
            version: 2,
        };
        let r = w.call(&p_rsa, "GET", "/v1/me", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        // A weak RSA key is not registered.
        let weak = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../sign/tests/keys/rsa1024.pub.pem"
        ))
        .unwrap();
        let r = w
            .admin(
                "POST",
                "/v1/admin/participants/kbank/keys",
                Some(json!({"public_key_pem": weak})),
            )
            .await;
        assert_eq!(
            (r.status, r.json["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("public_key_pem"))
        );
    }
}

#[tokio::test]
async fn rotation_overlaps_and_revocation_is_immediate() {
    for st in store::testing::engines("signed_rotation").await {
        let w = World::new(st).await;
        let p1 = w.party("hipay", &["wallet"], "admitted").await;
        let (k2, _) = PrivateKey::generate_ed25519().unwrap();
        let r = w
            .call(&p1, "POST", "/v1/me/keys", Some(json!({"request_id": "rot-1", "public_key_pem": k2.public_key().to_pem().unwrap()})))
            .await;
        assert_eq!(
            (r.status, r.json["key_version"].as_i64()),
            (StatusCode::CREATED, Some(2)),
            "{}",
            r.json
        );
        let p2 = Party {
            id: "hipay".into(),
            key: k2,
            version: 2,
        };
        // Both keys work during the overlap.
        assert_eq!(
            w.call(&p1, "GET", "/v1/me", None).await.status,
            StatusCode::OK
        );
        assert_eq!(
            w.call(&p2, "GET", "/v1/me", None).await.status,
            StatusCode::OK
        );
        let keys = w.call(&p2, "GET", "/v1/me/keys", None).await;
        assert_eq!(keys.json["result"]["status"], "S");
        assert_eq!(keys.json["keys"][0]["status"], "expiring");
        assert_eq!(keys.json["keys"][1]["status"], "active");
        // Revoking the old one: refused from then on.
        let r = w
            .call(
                &p2,
                "POST",
                "/v1/me/keys/1/revoke",
                Some(json!({"request_id": "rev-1"})),
            )
            .await;
        assert_eq!(
            (r.status, r.json["status"].as_str()),
            (StatusCode::OK, Some("revoked")),
            "{}",
            r.json
        );
        let r = w.call(&p1, "GET", "/v1/me", None).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "KEY_REVOKED")
        );
        // The last usable key is not revoked by the participant itself…
        let r = w
            .call(
                &p2,
                "POST",
                "/v1/me/keys/2/revoke",
                Some(json!({"request_id": "rev-2"})),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::CONFLICT, "KEY_LAST_USABLE")
        );
        // …but the operator can (a compromise).
        let r = w
            .admin(
                "POST",
                "/v1/admin/participants/hipay/keys/2/revoke",
                Some(json!({"reason": "leaked"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        let r = w.call(&p2, "GET", "/v1/me", None).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "KEY_REVOKED")
        );

        // With no overlap configured, a replaced key lapses at once.
        let mut state = w.state.clone();
        state.signing.key_overlap_s = 0;
        let w0 = World {
            state,
            op: w.op.clone(),
        };
        let q1 = w0.party("alipay", &["wallet"], "admitted").await;
        let (k2, _) = PrivateKey::generate_ed25519().unwrap();
        let r = w0
            .call(&q1, "POST", "/v1/me/keys", Some(json!({"request_id": "rot-1", "public_key_pem": k2.public_key().to_pem().unwrap()})))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let r = w0.call(&q1, "GET", "/v1/me", None).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "KEY_REVOKED")
        );

        // The gateway's own key rotates; both stay published, answers
        // verify with the new one.
        let r = w.admin("POST", "/v1/admin/gateway-keys/rotate", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        // Published first, signing a minute later.
        assert_eq!(
            (
                r.json["keys"][0]["key_version"].as_i64(),
                r.json["keys"][0]["status"].as_str()
            ),
            (Some(2), Some("next"))
        );
        assert_eq!(r.json["keys"][1]["status"], "current");
        let mut w0 = w0;
        w0.state.signing.gateway_key_activation_s = 0;
        let r = w0
            .admin("POST", "/v1/admin/gateway-keys/rotate", None)
            .await;
        assert_eq!(
            (
                r.json["keys"][0]["key_version"].as_i64(),
                r.json["keys"][0]["status"].as_str()
            ),
            (Some(3), Some("current")),
            "{}",
            r.json
        );
        assert_eq!(r.json["keys"][1]["status"], "previous");
        let q2 = Party {
            id: "alipay".into(),
            key: k2,
            version: 2,
        };
        let r = w0.call(&q2, "GET", "/v1/me", None).await;
        assert!(
            r.headers["signature"]
                .to_str()
                .unwrap()
                .contains("keyVersion=3")
        );
    }
}

#[tokio::test]
async fn the_stage_and_role_policy_decides_every_call() {
    for st in store::testing::engines("signed_policy").await {
        let w = World::new(st).await;
        let applied = w.party("a-applied", &["acquirer"], "applied").await;
        let r = w.call(&applied, "GET", "/v1/me", None).await;
        assert_eq!(r.status, StatusCode::OK);
        let r = w
            .call(
                &applied,
                "POST",
                "/v1/merchants",
                Some(merchant("r", "M", "0066811111111")),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "STAGE_FORBIDS"),
            "{}",
            r.json
        );
        let r = w
            .call(
                &applied,
                "POST",
                "/v1/me/keys",
                Some(json!({"request_id": "k", "public_key_pem": "x"})),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "STAGE_FORBIDS")
        );

        let testing = w.party("a-testing", &["acquirer"], "joint_testing").await;
        let r = w
            .call(
                &testing,
                "POST",
                "/v1/merchants",
                Some(merchant("r", "M", "0066811111111")),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);

        let wallet = w.party("w-live", &["wallet"], "live").await;
        for (method, target) in [
            ("GET", "/v1/merchants"),
            (
                "GET",
                "/v1/merchants/lookup?kind=promptpay_proxy&value=0066811111111",
            ),
        ] {
            let r = w.call(&wallet, method, target, None).await;
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::FORBIDDEN, "ROLE_FORBIDS"),
                "{target}"
            );
        }
        let r = w
            .call(
                &wallet,
                "POST",
                "/v1/merchants",
                Some(merchant("r", "M", "0066855555555")),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "ROLE_FORBIDS")
        );

        for stage in ["suspended", "terminated"] {
            let p = w.party(&format!("a-{stage}"), &["acquirer"], stage).await;
            for (method, target) in [
                ("GET", "/v1/me"),
                ("GET", "/v1/me/keys"),
                ("GET", "/v1/merchants"),
            ] {
                let r = w.call(&p, method, target, None).await;
                assert_eq!(
                    (r.status, r.code()),
                    (StatusCode::FORBIDDEN, "STAGE_FORBIDS"),
                    "{stage} {target}"
                );
            }
        }
        // Resuming from suspension restores the calls.
        w.walk_back("a-suspended", "live").await;
    }
}

#[tokio::test]
async fn participants_never_see_each_others_merchants_or_keys() {
    for st in store::testing::engines("signed_isolation").await {
        let w = World::new(st).await;
        let a = w.party("acq-a", &["acquirer"], "live").await;
        let b = w.party("acq-b", &["acquirer"], "live").await;
        let r = w
            .call(
                &a,
                "POST",
                "/v1/merchants",
                Some(merchant("r-1", "M1", "0066811111111")),
            )
            .await;
        let gm = r.json["id"].as_str().unwrap().to_string();
        let r = w
            .call(&b, "GET", &format!("/v1/merchants/{gm}"), None)
            .await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "NOT_FOUND"));
        let r = w
            .call(
                &b,
                "GET",
                "/v1/merchants/lookup?kind=promptpay_proxy&value=0066811111111",
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = w.call(&b, "GET", "/v1/merchants", None).await;
        assert_eq!(r.json["merchants"], json!([]));
        // B cannot take A's identifier, nor update A's merchant by its id.
        let r = w
            .call(
                &b,
                "POST",
                "/v1/merchants",
                Some(merchant("r-1", "M1", "0066811111111")),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::CONFLICT, "IDENTIFIER_TAKEN")
        );
        let r = w
            .call(&a, "GET", &format!("/v1/merchants/{gm}"), None)
            .await;
        assert_eq!(r.json["acquirer_id"], "acq-a");
        // Keys: each sees its own; a version names its own key only.
        let r = w.call(&b, "GET", "/v1/me/keys", None).await;
        assert!(
            r.json["keys"]
                .as_array()
                .unwrap()
                .iter()
                .all(|k| k["participant_id"] == "acq-b")
        );
        let r = w
            .call(
                &b,
                "POST",
                "/v1/me/keys/1/revoke",
                Some(json!({"request_id": "x"})),
            )
            .await;
        assert_eq!(r.code(), "KEY_LAST_USABLE");
        assert_eq!(
            w.call(&a, "GET", "/v1/me", None).await.status,
            StatusCode::OK
        );
        // B signing as A is a bad signature.
        let target = "/v1/me";
        let h = sign::sign_message(&b.key, 1, "acq-a", "GET", target, &sign::now_rfc3339(), b"")
            .unwrap();
        let r = w.send_signed("GET", target, &h, vec![], "").await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "SIGNATURE_INVALID")
        );
    }
}

#[tokio::test]
async fn the_operator_updates_a_participant_and_validates_it_again() {
    for st in store::testing::engines("participant_patch").await {
        let w = World::new(st).await;
        w.party("hipay", &["wallet"], "admitted").await;
        let r = w
            .admin(
                "PATCH",
                "/v1/admin/participants/hipay",
                Some(json!({"legal_name": "HiPay Mongolia", "roles": ["wallet", "fx_provider"]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        assert_eq!(
            (r.json["legal_name"].as_str(), r.json["stage"].as_str()),
            (Some("HiPay Mongolia"), Some("admitted"))
        );
        assert_eq!(r.json["roles"], json!(["wallet", "fx_provider"]));
        for (body, field) in [
            (
                json!({"callback_base_url": "http://hipay.example.com"}),
                Some("callback_base_url"),
            ),
            (json!({"country": "ZZ"}), Some("country")),
            (json!({"id": "other"}), Some("id")),
        ] {
            let r = w
                .admin("PATCH", "/v1/admin/participants/hipay", Some(body.clone()))
                .await;
            assert_eq!(
                (r.status, r.json["field"].as_str()),
                (StatusCode::BAD_REQUEST, field),
                "{body}"
            );
        }
        let r = w
            .admin(
                "PATCH",
                "/v1/admin/participants/nobody",
                Some(json!({"legal_name": "x"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = w.admin("GET", "/v1/admin/participants/hipay", None).await;
        assert_eq!(r.json["legal_name"], "HiPay Mongolia");
    }
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_at_the_most_verbose_level_hold_no_key_token_or_signature() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let w = World::new(common::sqlite().await).await;
    let p = w.party("kbank", &["acquirer"], "live").await;
    let body = merchant("r-1", "M1", "0066811111111")
        .to_string()
        .into_bytes();
    let h = headers(&p, "POST", "/v1/merchants", &sign::now_rfc3339(), &body);
    w.send_signed(
        "POST",
        "/v1/merchants",
        &h,
        body.clone(),
        "application/json",
    )
    .await;
    // A replay and a bad one, so refusals are logged too.
    w.send_signed("POST", "/v1/merchants", &h, body, "application/json")
        .await;
    let mut bad = h.clone();
    bad.signature = bad.signature.replace("keyVersion=1", "keyVersion=9");
    w.send_signed("POST", "/v1/merchants", &bad, vec![], "application/json")
        .await;
    let r = w.admin("POST", "/v1/admin/gateway-keys/rotate", None).await;
    assert_eq!(r.status, StatusCode::OK);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("signature verified"),
        "the capture works: {logs}"
    );
    let sig_b64 = h.signature.rsplit_once("signature=").unwrap().1;
    let private_pem = sign::pkcs8_pem(b"not used").unwrap();
    for secret in [sig_b64, w.op.as_str(), &private_pem[..20], "PRIVATE KEY"] {
        assert!(!logs.contains(secret), "the logs hold {secret:?}");
    }
}

#[tokio::test]
async fn a_bulk_file_over_its_row_limit_keeps_nothing_and_a_repeat_in_flight_is_u() {
    for st in store::testing::engines("signed_bulk_limit").await {
        let mut w = World::new(st.clone()).await;
        w.state.limits.bulk_rows_max = 2;
        let p = w.party("kbank", &["acquirer"], "live").await;
        let csv = "acquirer_merchant_id,name,mcc,country,city,time_zone,kyb_status,identifiers\n\
                   B1,One,5812,TH,Bangkok,Asia/Bangkok,verified,\n\
                   B2,Two,5812,TH,Bangkok,Asia/Bangkok,verified,\n\
                   B3,Three,5812,TH,Bangkok,Asia/Bangkok,verified,\n";
        let target = "/v1/merchants/bulk?request_id=big";
        let h = headers(&p, "POST", target, &sign::now_rfc3339(), csv.as_bytes());
        let r = w
            .send_signed("POST", target, &h, csv.as_bytes().to_vec(), "text/csv")
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.json);
        let list = w.call(&p, "GET", "/v1/merchants", None).await;
        assert_eq!(list.json["merchants"], json!([]), "nothing was kept");

        // A request whose first attempt is still being worked on.
        let body = merchant("busy", "M9", "0066899999999");
        st.idem_begin(
            "kbank",
            "merchant.register",
            "busy",
            &api::fingerprint::fingerprint(&body),
            "gw-1",
            api::now_ms(),
            60_000,
        )
        .await
        .unwrap();
        let r = w.call(&p, "POST", "/v1/merchants", Some(body)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        assert_eq!(
            (
                r.json["result"]["status"].as_str(),
                r.json["gateway_id"].as_str()
            ),
            (Some("U"), Some("gw-1"))
        );
    }
}

#[tokio::test]
async fn faults_on_signed_routes_are_signed_too() {
    let mut w = World::new(common::sqlite().await).await;
    w.state.limits.header_bytes_max = 2_048;
    let p = w.party("kbank", &["acquirer"], "live").await;
    // Over the header limit: refused before any handler, still signed.
    let h = headers(&p, "GET", "/v1/me", &sign::now_rfc3339(), b"");
    let req = Request::get("/v1/me")
        .header("Client-Id", &h.client_id)
        .header("Request-Time", &h.time)
        .header("Signature", &h.signature)
        .header("x-padding", "p".repeat(4_096))
        .body(Body::empty())
        .unwrap();
    let r = send(&w.state, req).await;
    assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    w.verify_answer("GET", "/v1/me", &r);
    // No such route under the participant surface: signed as well.
    let r = w.call(&p, "GET", "/v1/merchants/x/y", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(api::signed::is_signed_route("/v1/quotes"));
    assert!(!api::signed::is_signed_route("/v1/quotesx"));
    assert!(!api::signed::is_signed_route("/v1/keys"));
}

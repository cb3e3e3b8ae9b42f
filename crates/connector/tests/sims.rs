//! Every callback of the native connector against the simulators, with
//! signatures checked both ways, faults injected (timeouts, 5xx, bad
//! signatures both ways, slow answers, a closed port) and the circuit
//! breaker opening and closing; the outbound log on both stores.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::Duration;

use connector::model::{
    Authorize, Call, Cancel, FxQuote, Inquiry, MerchantInfo, MerchantInquiry, Message, Notify, Pay,
    Payer, Refund,
};
use connector::{
    BreakerConfig, Circuit, ConnectorConfig, Connectors, Peer, Status, StoreLog, Transport,
};
use money::{Currency, Money, Rate};
use sign::{KeySigner, PrivateKey, PublicKey};
use sim::participant::{ParticipantSim, Role, Running, SimMerchant, SimUser};
use sim::peer::{Faults, GatewayKeys, Verifier};

fn signer(id: &str) -> Arc<KeySigner> {
    let (key, _) = PrivateKey::generate_ed25519().unwrap();
    Arc::new(KeySigner {
        client_id: id.into(),
        key,
        key_version: 1,
    })
}

fn public(s: &KeySigner) -> Vec<(u32, PublicKey)> {
    vec![(s.key_version, s.key.public_key())]
}

fn cny() -> Currency {
    Currency::parse("CNY").unwrap()
}

fn mnt() -> Currency {
    Currency::parse("MNT").unwrap()
}

async fn start_sim(me: &Arc<KeySigner>, gateway: &KeySigner, role: Role) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    sim::participant::start(
        ParticipantSim {
            signer: me.clone(),
            role,
            faults: Faults::default(),
            verifier: Verifier::new(GatewayKeys::Pinned(public(gateway))),
        },
        listener,
        "sqlite::memory:",
    )
    .await
    .unwrap()
}

fn peer(id: &str, addr: std::net::SocketAddr, keys: Vec<(u32, PublicKey)>) -> Peer {
    Peer {
        id: id.into(),
        base_url: format!("http://{addr}"),
        keys,
        dialect: "native".into(),
    }
}

fn config() -> ConnectorConfig {
    ConnectorConfig {
        timeout_ms: 400,
        retries_max: 2,
        backoff_base_ms: 10,
        backoff_max_ms: 40,
        public_only: false,
        breaker: BreakerConfig {
            failures_to_open: 3,
            open_ms: 300,
        },
        ..ConnectorConfig::default()
    }
}

fn connectors(gateway: &Arc<KeySigner>, store: &store::Store) -> (Connectors, Arc<Transport>) {
    let transport = Arc::new(
        Transport::new(gateway.clone(), config(), Arc::new(StoreLog(store.clone()))).unwrap(),
    );
    (Connectors::new(transport.clone()), transport)
}

fn payer() -> Payer {
    Payer {
        id: "u1".into(),
        name: "Bat-Erdene".into(),
        country: "MN".into(),
    }
}

fn pay(request_id: &str, payment_id: &str, minor: i64) -> Message {
    Message::Pay(Pay {
        request_id: request_id.into(),
        payment_id: payment_id.into(),
        mode: "mpm".into(),
        merchant_id: "m1".into(),
        order_id: None,
        amount: Money::new(minor, cny()),
        payer: payer(),
    })
}

fn inquiry(request_id: &str, payment_id: &str, call: Call, original: &str) -> Message {
    Message::Inquiry(Inquiry {
        request_id: request_id.into(),
        payment_id: payment_id.into(),
        call,
        original_request_id: original.into(),
    })
}

#[tokio::test]
async fn every_callback_against_the_simulators_with_faults_and_the_breaker() {
    for store in store::testing::engines("connector_sims").await {
        let gateway = signer("unigate");
        let (acq_key, wal_key) = (signer("acq1"), signer("wal1"));
        let acquirer = start_sim(
            &acq_key,
            &gateway,
            Role::Acquirer {
                merchants: vec![SimMerchant {
                    merchant_id: "m1".into(),
                    name: "Erenhot Dairy".into(),
                    mcc: "5411".into(),
                    city: "Erenhot".into(),
                    country: "CN".into(),
                    currency: cny(),
                    codes: vec!["000201010211".into()],
                }],
            },
        )
        .await;
        let wallet = start_sim(
            &wal_key,
            &gateway,
            Role::Wallet {
                users: vec![SimUser {
                    id: "u1".into(),
                    name: "Bat-Erdene".into(),
                    country: "MN".into(),
                    balance: Money::new(100_000, mnt()),
                }],
            },
        )
        .await;
        let (c, transport) = connectors(&gateway, &store);
        let acq = peer("acq1", acquirer.addr, public(&acq_key));
        let wal = peer("wal1", wallet.addr, public(&wal_key));

        // merchant-inquiry: by id and by code; an unknown one is F.
        let r = c
            .call(
                &acq,
                &Message::MerchantInquiry(MerchantInquiry {
                    request_id: "mi-1".into(),
                    code: Some("000201010211".into()),
                    merchant_id: None,
                }),
            )
            .await
            .unwrap();
        assert_eq!(r.outcome.status, Status::S, "{r:?}");
        let info: MerchantInfo = r.fields_as().unwrap();
        assert_eq!((info.merchant_id.as_str(), info.currency), ("m1", cny()));
        let r = c
            .call(
                &acq,
                &Message::MerchantInquiry(MerchantInquiry {
                    request_id: "mi-2".into(),
                    code: None,
                    merchant_id: Some("nobody".into()),
                }),
            )
            .await
            .unwrap();
        assert_eq!(
            (r.outcome.status, r.outcome.code.as_str()),
            (Status::F, "MERCHANT_NOT_FOUND")
        );

        // pay, its repeat (same request id, one credit), inquiry, cancel.
        let r = c.call(&acq, &pay("pay-1", "p1", 2_500)).await.unwrap();
        assert_eq!((r.outcome.status, r.attempts, r.sent), (Status::S, 1, true));
        let r = c.call(&acq, &pay("pay-1", "p1", 2_500)).await.unwrap();
        assert_eq!(r.outcome.status, Status::S);
        assert_eq!(acquirer.balance("m1").await.unwrap(), 2_500);
        let logged = store.outbound_get("pay-1").await.unwrap().unwrap();
        assert_eq!(
            (
                logged.attempts,
                logged.status.as_deref(),
                logged.call.as_str()
            ),
            (2, Some("S"), "pay")
        );
        assert_eq!(logged.payment_id.as_deref(), Some("p1"));
        let r = c
            .call(&acq, &inquiry("inq-1", "p1", Call::Pay, "pay-1"))
            .await
            .unwrap();
        assert_eq!(r.outcome.status, Status::S);
        let r = c
            .call(&acq, &inquiry("inq-2", "p1", Call::Pay, "never-sent"))
            .await
            .unwrap();
        assert_eq!(
            (r.outcome.status, r.outcome.code.as_str()),
            (Status::F, "NOT_FOUND")
        );
        let r = c
            .call(
                &acq,
                &Message::Cancel(Cancel {
                    request_id: "cancel-1".into(),
                    payment_id: "p1".into(),
                    call: Call::Pay,
                    original_request_id: "pay-1".into(),
                    amount: Money::new(2_500, cny()),
                }),
            )
            .await
            .unwrap();
        assert_eq!(r.outcome.status, Status::S);
        assert_eq!(acquirer.balance("m1").await.unwrap(), 0);
        // A second cancel of the same call (another request id) reverses
        // nothing more.
        let r = c
            .call(
                &acq,
                &Message::Cancel(Cancel {
                    request_id: "cancel-1b".into(),
                    payment_id: "p1".into(),
                    call: Call::Pay,
                    original_request_id: "pay-1".into(),
                    amount: Money::new(2_500, cny()),
                }),
            )
            .await
            .unwrap();
        assert_eq!(r.outcome.status, Status::S);
        assert_eq!(acquirer.balance("m1").await.unwrap(), 0);
        // A request inquired about before it arrived is refused when it
        // arrives late.
        let r = c.call(&acq, &pay("never-sent", "p1x", 999)).await.unwrap();
        assert_eq!(
            (r.outcome.status, r.outcome.code.as_str()),
            (Status::F, "NOT_FOUND")
        );
        assert_eq!(acquirer.balance("m1").await.unwrap(), 0);
        let r = c
            .call(
                &acq,
                &Message::Notify(Notify {
                    request_id: "note-1".into(),
                    payment_id: "p1".into(),
                    state: "cancelled".into(),
                    amount: None,
                }),
            )
            .await
            .unwrap();
        assert_eq!(r.outcome.status, Status::S);
        // A callback the acquirer does not serve is refused, not guessed.
        let code = wallet.issue_code("u1", "28");
        let authorize = |rid: &str, pid: &str, code: &str, minor: i64| {
            Message::Authorize(Authorize {
                request_id: rid.into(),
                payment_id: pid.into(),
                payment_code: code.into(),
                amount: Money::new(minor, mnt()),
                merchant_id: "m1".into(),
                merchant_name: "Erenhot Dairy".into(),
                merchant_country: "CN".into(),
            })
        };
        let r = c
            .call(&acq, &authorize("auth-x", "px", &code, 1))
            .await
            .unwrap();
        assert_eq!(
            (r.outcome.status, r.outcome.code.as_str()),
            (Status::F, "DOWNSTREAM_REFUSED")
        );

        // The wallet: authorize, a bad code, too much, refund, cancel.
        let r = c
            .call(&wal, &authorize("auth-1", "p2", &code, 30_000))
            .await
            .unwrap();
        assert_eq!(r.outcome.status, Status::S, "{r:?}");
        assert_eq!(wallet.balance("u1").await.unwrap(), 70_000);
        let r = c
            .call(&wal, &authorize("auth-2", "p3", "289999999999999999", 1))
            .await
            .unwrap();
        assert_eq!(r.outcome.code, "PAYMENT_CODE_INVALID");
        let r = c
            .call(&wal, &authorize("auth-3", "p4", &code, 70_001))
            .await
            .unwrap();
        assert_eq!(r.outcome.code, "INSUFFICIENT_FUNDS");
        let r = c
            .call(
                &wal,
                &Message::Refund(Refund {
                    request_id: "refund-1".into(),
                    payment_id: "p2".into(),
                    refund_id: "r1".into(),
                    amount: Money::new(10_000, mnt()),
                }),
            )
            .await
            .unwrap();
        assert_eq!(r.outcome.status, Status::S);
        assert_eq!(wallet.balance("u1").await.unwrap(), 80_000);
        let r = c
            .call(&wal, &inquiry("inq-3", "p2", Call::Authorize, "auth-1"))
            .await
            .unwrap();
        assert_eq!(r.outcome.status, Status::S);
        let r = c
            .call(
                &wal,
                &Message::Cancel(Cancel {
                    request_id: "cancel-2".into(),
                    payment_id: "p4".into(),
                    call: Call::Authorize,
                    original_request_id: "auth-3".into(),
                    amount: Money::new(70_001, mnt()),
                }),
            )
            .await
            .unwrap();
        // Cancelling a declined authorisation moves nothing.
        assert_eq!(r.outcome.status, Status::S);
        assert_eq!(wallet.balance("u1").await.unwrap(), 80_000);

        // Faults. A slow answer within the timeout is still an answer.
        acquirer
            .set_faults(Faults {
                latency_ms: 150,
                ..Faults::default()
            })
            .unwrap();
        let r = c.call(&acq, &pay("pay-slow", "p5", 100)).await.unwrap();
        assert_eq!(r.outcome.status, Status::S);
        // A timeout on pay: one attempt, outcome unknown; the work was
        // done, and an inquiry finds it.
        acquirer
            .set_faults(Faults {
                timeout_rate: 1.0,
                hang_ms: 1_500,
                ..Faults::default()
            })
            .unwrap();
        let r = c.call(&acq, &pay("pay-hang", "p6", 200)).await.unwrap();
        assert_eq!(
            (
                r.outcome.status,
                r.outcome.code.as_str(),
                r.attempts,
                r.sent
            ),
            (Status::U, "DOWNSTREAM_TIMEOUT", 1, true)
        );
        acquirer.set_faults(Faults::default()).unwrap();
        let r = c
            .call(&acq, &inquiry("inq-hang", "p6", Call::Pay, "pay-hang"))
            .await
            .unwrap();
        assert_eq!(r.outcome.status, Status::S);
        // An answer whose signature does not verify is not believed.
        acquirer
            .set_faults(Faults {
                bad_signature_rate: 1.0,
                ..Faults::default()
            })
            .unwrap();
        let r = c.call(&acq, &pay("pay-badsig", "p7", 300)).await.unwrap();
        assert_eq!(
            (r.outcome.status, r.outcome.code.as_str()),
            (Status::U, "DOWNSTREAM_SIGNATURE_INVALID")
        );
        acquirer.set_faults(Faults::default()).unwrap();
        // A request the gateway did not sign is refused by the simulator:
        // nothing is done.
        let impostor = signer("unigate");
        let (forged, _) = connectors(&impostor, &store);
        let r = forged
            .call(&acq, &pay("pay-forged", "p8", 400))
            .await
            .unwrap();
        assert_eq!(
            (r.outcome.status, r.outcome.code.as_str()),
            (Status::F, "DOWNSTREAM_REFUSED")
        );
        let r = c
            .call(&acq, &inquiry("inq-forged", "p8", Call::Pay, "pay-forged"))
            .await
            .unwrap();
        assert_eq!(r.outcome.code, "NOT_FOUND");

        // 5xx: pay is not retried; notify (idempotent) is, and three
        // failures in a row open the circuit.
        acquirer
            .set_faults(Faults {
                failure_rate: 1.0,
                ..Faults::default()
            })
            .unwrap();
        let r = c.call(&acq, &pay("pay-5xx", "p9", 500)).await.unwrap();
        assert_eq!(
            (r.outcome.status, r.outcome.code.as_str(), r.attempts),
            (Status::U, "DOWNSTREAM_ERROR", 1)
        );
        let r = c
            .call(
                &acq,
                &Message::Notify(Notify {
                    request_id: "note-5xx".into(),
                    payment_id: "p9".into(),
                    state: "failed".into(),
                    amount: None,
                }),
            )
            .await
            .unwrap();
        // The circuit opened on the third failure in a row (pay + two
        // notify attempts): the last retry was not sent.
        assert_eq!((r.outcome.status, r.attempts), (Status::U, 2));
        assert_eq!(
            store
                .outbound_get("note-5xx")
                .await
                .unwrap()
                .unwrap()
                .attempts,
            2
        );
        assert_eq!(transport.breakers().circuit("acq1").name(), "open");
        let r = c.call(&acq, &pay("pay-open", "p10", 600)).await.unwrap();
        assert_eq!(
            (
                r.outcome.status,
                r.outcome.code.as_str(),
                r.sent,
                r.attempts
            ),
            (Status::F, "PARTICIPANT_UNAVAILABLE", false, 0)
        );
        assert!(store.outbound_get("pay-open").await.unwrap().is_none());
        // The wallet's circuit is its own.
        let r = c
            .call(&wal, &inquiry("inq-w", "p2", Call::Authorize, "auth-1"))
            .await
            .unwrap();
        assert_eq!(r.outcome.status, Status::S);
        // After the open period one probe goes; it succeeds and closes it.
        acquirer.set_faults(Faults::default()).unwrap();
        tokio::time::sleep(Duration::from_millis(350)).await;
        let r = c.call(&acq, &pay("pay-probe", "p11", 700)).await.unwrap();
        assert_eq!(r.outcome.status, Status::S);
        assert_eq!(
            transport.breakers().circuit("acq1"),
            Circuit::Closed { failures: 0 }
        );
        let r = c.call(&acq, &pay("pay-after", "p12", 800)).await.unwrap();
        assert_eq!(r.outcome.status, Status::S);

        // A participant that cannot be reached: nothing was sent.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let gone = peer("gone", closed, public(&acq_key));
        let r = c.call(&gone, &pay("pay-gone", "p13", 900)).await.unwrap();
        assert_eq!(
            (r.outcome.status, r.outcome.code.as_str(), r.sent),
            (Status::F, "PARTICIPANT_UNAVAILABLE", false)
        );

        // The books reconcile with what the connector was told: credits
        // of 100 (slow), 200 (hung, found by inquiry), 300 (bad
        // signature, done all the same), 700 and 800.
        assert_eq!(acquirer.balance("m1").await.unwrap(), 2_100);
        let entries = acquirer.entries().await.unwrap();
        // The forged request left only the tombstone its inquiry wrote.
        assert!(
            entries
                .iter()
                .all(|e| e.request_id != "pay-forged" || (e.status == "F" && e.amount == 0))
        );
        assert!(entries.iter().all(|e| e.request_id != "pay-5xx"));

        // Outbound ids are made once per purpose.
        let first = store
            .outbound_request_id("pay:p20", "out-1", "acq1", "pay", Some("p20"), 1)
            .await
            .unwrap();
        let again = store
            .outbound_request_id("pay:p20", "out-2", "acq1", "pay", Some("p20"), 2)
            .await
            .unwrap();
        assert_eq!((first.as_str(), again.as_str()), ("out-1", "out-1"));
        assert!(
            store
                .outbound_for_payment("p1")
                .await
                .unwrap()
                .iter()
                .any(|o| o.request_id == "cancel-1")
        );
    }
}

#[tokio::test]
async fn fx_quote_against_the_fx_simulator() {
    let store = store::testing::engines("connector_fx").await.remove(0);
    let gateway = signer("unigate");
    let fx_key = signer("fx1");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sim = sim::fx::FxSim {
        gateway: "http://127.0.0.1:9".into(),
        signer: fx_key.clone(),
        mids: vec![(cny(), mnt(), Rate::parse("480.5").unwrap())],
        spread_bps: 50,
        latency_ms: 0,
        decline_every: 0,
        push_every_ms: 3_600_000,
        quote_slack_s: 30,
        gateway_keys: Some(public(&gateway)),
    };
    let task = tokio::spawn(sim::fx::run(sim, listener));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (c, _) = connectors(&gateway, &store);
    let fx = peer("fx1", addr, public(&fx_key));
    let r = c
        .call(
            &fx,
            &Message::FxQuote(FxQuote {
                request_id: "fxq-1".into(),
                from: mnt(),
                to: cny(),
                receive: Money::new(10_000, cny()),
                valid_for_s: 60,
            }),
        )
        .await
        .unwrap();
    assert_eq!(r.outcome.status, Status::S, "{r:?}");
    assert!(r.fields.get("rate").and_then(|v| v.as_str()).is_some());
    task.abort();
}

//! Payments and their state history on both engines: the `payment` crate's
//! machine, persisted.

use money::{Currency, Money};
use payment::{Direction, Event, Mode, State};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use store::{NewPayment, Store, StoreError};

use crate::engines;

fn money(minor: i64, code: &str) -> Money {
    Money::new(minor, Currency::parse(code).unwrap())
}

fn new_payment(id: &str, mode: Mode, request_id: &str) -> NewPayment {
    NewPayment {
        id: id.into(),
        mode,
        direction: Direction::Outbound,
        wallet: "hipay-mn".into(),
        acquirer: "kbank-th".into(),
        merchant_id: Some("m-42".into()),
        initiator: match mode {
            Mode::Mpm => "hipay-mn".into(),
            Mode::Cpm => "kbank-th".into(),
        },
        request_id: request_id.into(),
        order_id: None,
        merchant_amount: money(10_000, "THB"),
        payer_amount: Some(money(1_003_700, "MNT")),
        wallet_settlement_amount: Some(money(29_412, "USD")),
        acquirer_settlement_amount: None,
        reporting_amount: Some(money(2_101, "CNY")),
        quote_id: Some("q-1".into()),
        clearing_date: Some("2026-11-22".into()),
    }
}

/// Apply `events` in order, each at the version the last one produced.
async fn apply(store: &Store, id: &str, events: &[Event], t0: i64) -> i64 {
    let mut version = store.payment_get(id).await.unwrap().unwrap().version;
    for (i, e) in events.iter().enumerate() {
        let moved = store
            .payment_transition(id, version, e, "", "node-a", t0 + i64::try_from(i).unwrap())
            .await
            .unwrap();
        assert_eq!(moved.seq, version + 1);
        version = moved.seq;
    }
    version
}

/// The history replays through the machine to the payment's state.
async fn assert_history_replays(store: &Store, id: &str) {
    let p = store.payment_get(id).await.unwrap().unwrap();
    let history = store.payment_history(id).await.unwrap();
    assert_eq!(history.len(), usize::try_from(p.version).unwrap());
    assert_eq!(
        (
            history[0].seq,
            history[0].from,
            history[0].to,
            history[0].event
        ),
        (1, None, State::Received, None)
    );
    let mut state = State::Received;
    for (i, h) in history.iter().enumerate().skip(1) {
        assert_eq!(h.seq, i64::try_from(i).unwrap() + 1);
        assert_eq!(h.from, Some(state));
        let event = h.event.unwrap();
        state = payment::transition_for(p.payment.mode, state, &event).unwrap();
        assert_eq!(h.to, state);
    }
    assert_eq!(state, p.state);
}

#[tokio::test]
async fn create_get_and_refuse_a_second_use_of_a_request_id() {
    for s in engines("payments_create").await {
        let new = new_payment("pay-1", Mode::Mpm, "req-1");
        let created = s
            .payment_create(new.clone(), "node-a", 1_000)
            .await
            .unwrap();
        assert_eq!((created.state, created.version), (State::Received, 1));
        let got = s.payment_get("pay-1").await.unwrap().unwrap();
        assert_eq!(got, created);
        assert_eq!(got.payment, new);
        assert_eq!(
            s.payment_by_request("hipay-mn", "req-1").await.unwrap(),
            Some(created.clone())
        );
        assert_eq!(
            s.payment_by_request("kbank-th", "req-1").await.unwrap(),
            None
        );
        assert_eq!(s.payment_get("nope").await.unwrap(), None);

        // The same request id of the same initiator, or the same id: refused.
        let again = s
            .payment_create(new_payment("pay-2", Mode::Mpm, "req-1"), "node-b", 1_001)
            .await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
        let again = s
            .payment_create(new_payment("pay-1", Mode::Mpm, "req-9"), "node-b", 1_001)
            .await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
        assert_eq!(s.payment_get("pay-2").await.unwrap(), None);
        assert_eq!(s.payment_history("pay-2").await.unwrap(), vec![]);
        // Another initiator may use the same request id.
        s.payment_create(new_payment("pay-3", Mode::Cpm, "req-1"), "node-a", 1_002)
            .await
            .unwrap();

        // Every optional amount empty, every optional id empty.
        let bare = NewPayment {
            merchant_id: None,
            payer_amount: None,
            wallet_settlement_amount: None,
            reporting_amount: None,
            quote_id: None,
            clearing_date: None,
            order_id: Some("order-7".into()),
            ..new_payment("pay-4", Mode::Cpm, "req-4")
        };
        let created = s
            .payment_create(bare.clone(), "node-a", 1_003)
            .await
            .unwrap();
        assert_eq!(s.payment_get("pay-4").await.unwrap().unwrap(), created);

        let history = s.payment_history("pay-1").await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(
            (
                history[0].node.as_str(),
                history[0].detail.as_str(),
                history[0].at_ms
            ),
            ("node-a", "created", 1_000)
        );

        // Checked where written.
        for bad in [
            NewPayment {
                id: String::new(),
                ..new_payment("x", Mode::Mpm, "r-x")
            },
            NewPayment {
                merchant_amount: money(0, "THB"),
                ..new_payment("pay-z", Mode::Mpm, "r-z")
            },
            NewPayment {
                payer_amount: Some(money(-5, "MNT")),
                ..new_payment("pay-z", Mode::Mpm, "r-z")
            },
            NewPayment {
                clearing_date: Some("22/11/2026".into()),
                ..new_payment("pay-z", Mode::Mpm, "r-z")
            },
            NewPayment {
                request_id: "r".repeat(store::PAYMENT_ID_CHARS_MAX + 1),
                ..new_payment("pay-z", Mode::Mpm, "r-z")
            },
        ] {
            let e = s.payment_create(bad, "node-a", 1).await;
            assert!(matches!(e, Err(StoreError::Refused(_))), "{e:?}");
        }
        assert_eq!(s.payment_get("pay-z").await.unwrap(), None);
        s.close().await;
    }
}

#[tokio::test]
async fn every_transition_appends_history() {
    for s in engines("payments_history").await {
        // MPM, the happy path.
        s.payment_create(new_payment("mpm-ok", Mode::Mpm, "r1"), "node-a", 10)
            .await
            .unwrap();
        let v = apply(
            &s,
            "mpm-ok",
            &[Event::ReserveOk, Event::CreditSent, Event::DownstreamOk],
            20,
        )
        .await;
        assert_eq!(v, 4);
        let p = s.payment_get("mpm-ok").await.unwrap().unwrap();
        assert_eq!(
            (p.state, p.version, p.updated_at_ms),
            (State::Succeeded, 4, 22)
        );
        assert_eq!(p.created_at_ms, 10);
        assert_history_replays(&s, "mpm-ok").await;

        // CPM: a timeout, inquiries that cannot tell, a cancel, a late
        // success while cancelling (the cancel wins), the cancel confirmed.
        s.payment_create(new_payment("cpm-u", Mode::Cpm, "r2"), "node-a", 10)
            .await
            .unwrap();
        apply(
            &s,
            "cpm-u",
            &[
                Event::ReserveOk,
                Event::AuthorizeSent,
                Event::DownstreamUnknown,
                Event::DownstreamUnknown,
                Event::InquiryBudgetExhausted,
                Event::CancelFailed,
                Event::DownstreamOk,
                Event::CancelConfirmed,
            ],
            30,
        )
        .await;
        assert_eq!(
            s.payment_get("cpm-u").await.unwrap().unwrap().state,
            State::Cancelled
        );
        assert_history_replays(&s, "cpm-u").await;

        // Succeeded, then reversed: the history shows the reversal; then
        // the cancel budget runs out and the operator resolves it.
        s.payment_create(new_payment("rev", Mode::Mpm, "r3"), "node-a", 10)
            .await
            .unwrap();
        apply(
            &s,
            "rev",
            &[
                Event::ReserveOk,
                Event::CreditSent,
                Event::DownstreamOk,
                Event::CancelRequested,
                Event::CancelFailed,
                Event::CancelBudgetExhausted,
                Event::ResolveCancelled,
            ],
            40,
        )
        .await;
        let history = s.payment_history("rev").await.unwrap();
        let path: Vec<(State, &str)> = history
            .iter()
            .map(|h| (h.to, h.event.map_or("", |e| e.as_str())))
            .collect();
        assert_eq!(
            path,
            [
                (State::Received, ""),
                (State::Reserved, "reserve_ok"),
                (State::Crediting, "credit_sent"),
                (State::Succeeded, "downstream_ok"),
                (State::Cancelling, "cancel_requested"),
                (State::Cancelling, "cancel_failed"),
                (State::Exception, "cancel_budget_exhausted"),
                (State::Cancelled, "resolve_cancelled"),
            ]
        );
        assert_history_replays(&s, "rev").await;

        // Detail and node are kept; a long detail is cut, not refused.
        let long = "x".repeat(store::PAYMENT_DETAIL_CHARS_MAX + 50);
        s.payment_create(new_payment("d", Mode::Mpm, "r4"), "node-a", 10)
            .await
            .unwrap();
        let moved = s
            .payment_transition("d", 1, &Event::ReserveRefused, &long, "node-b", 50)
            .await
            .unwrap();
        assert_eq!(
            moved.detail.chars().count(),
            store::PAYMENT_DETAIL_CHARS_MAX
        );
        let last = s.payment_history("d").await.unwrap().pop().unwrap();
        assert_eq!(last, moved);
        assert_eq!(last.node, "node-b");
        s.close().await;
    }
}

#[tokio::test]
async fn a_refused_event_changes_nothing() {
    for s in engines("payments_refused").await {
        s.payment_create(new_payment("p", Mode::Mpm, "r"), "node-a", 10)
            .await
            .unwrap();
        apply(&s, "p", &[Event::ReserveOk], 20).await;
        let before = s.payment_get("p").await.unwrap().unwrap();
        let history = s.payment_history("p").await.unwrap();

        // Not in the table.
        let e = s
            .payment_transition("p", 2, &Event::CancelConfirmed, "", "node-a", 30)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Refused(_)), "{e}");
        assert!(e.to_string().contains("reserved"), "{e}");
        // The other mode's step.
        let e = s
            .payment_transition("p", 2, &Event::AuthorizeSent, "", "node-a", 30)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Refused(_)), "{e}");
        // A stale version.
        let e = s
            .payment_transition("p", 1, &Event::CreditSent, "", "node-a", 30)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{e}");
        // An unknown payment.
        let e = s
            .payment_transition("nope", 1, &Event::ReserveOk, "", "node-a", 30)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::NotFound(_)), "{e}");

        assert_eq!(s.payment_get("p").await.unwrap().unwrap(), before);
        assert_eq!(s.payment_history("p").await.unwrap(), history);
        s.close().await;
    }
}

#[tokio::test]
async fn racing_transitions_from_one_version_exactly_one_wins() {
    for s in engines("payments_race").await {
        s.payment_create(new_payment("race", Mode::Mpm, "r"), "node-a", 10)
            .await
            .unwrap();
        apply(&s, "race", &[Event::ReserveOk], 20).await;
        // Nodes racing from version 2: some send the credit, some cancel.
        let mut tasks = Vec::new();
        for i in 0..16 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let event = if i % 2 == 0 {
                    Event::CreditSent
                } else {
                    Event::CancelRequested
                };
                s.payment_transition("race", 2, &event, "", &format!("node-{i}"), 30)
                    .await
            }));
        }
        let mut won = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(moved) => won.push(moved),
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(won.len(), 1, "{won:?}");
        let p = s.payment_get("race").await.unwrap().unwrap();
        assert_eq!((p.state, p.version), (won[0].to, 3));
        let history = s.payment_history("race").await.unwrap();
        assert_eq!(history.len(), 3);
        assert_eq!(history[2], won[0]);
        assert_history_replays(&s, "race").await;
        s.close().await;
    }
}

#[tokio::test]
async fn the_recovery_sweep_lists_open_payments_oldest_first() {
    for s in engines("payments_recover").await {
        // (id, events, at)
        let cases: [(&str, &[Event], i64); 8] = [
            ("a-received", &[], 100),
            ("b-reserved", &[Event::ReserveOk], 200),
            ("c-crediting", &[Event::ReserveOk, Event::CreditSent], 300),
            (
                "d-unknown",
                &[
                    Event::ReserveOk,
                    Event::CreditSent,
                    Event::DownstreamUnknown,
                ],
                400,
            ),
            ("e-cancelling", &[Event::CancelRequested], 500),
            (
                "f-succeeded",
                &[Event::ReserveOk, Event::CreditSent, Event::DownstreamOk],
                150,
            ),
            ("g-failed", &[Event::ReserveRefused], 160),
            (
                "h-exception",
                &[Event::CancelRequested, Event::CancelBudgetExhausted],
                170,
            ),
        ];
        for (i, (id, events, at)) in cases.iter().enumerate() {
            s.payment_create(new_payment(id, Mode::Mpm, &format!("r{i}")), "node-a", *at)
                .await
                .unwrap();
            if !events.is_empty() {
                // All of a case's moves at its time.
                let mut v = 1;
                for e in *events {
                    v = s
                        .payment_transition(id, v, e, "", "node-a", *at)
                        .await
                        .unwrap()
                        .seq;
                }
            }
        }
        let ids = |list: Vec<store::PaymentRecord>| -> Vec<String> {
            list.into_iter().map(|p| p.payment.id).collect()
        };
        assert_eq!(
            ids(s.payments_to_recover(1_000, 100).await.unwrap()),
            [
                "a-received",
                "b-reserved",
                "c-crediting",
                "d-unknown",
                "e-cancelling"
            ]
        );
        // Only those last changed before the time, at most the limit.
        assert_eq!(
            ids(s.payments_to_recover(400, 100).await.unwrap()),
            ["a-received", "b-reserved", "c-crediting"]
        );
        assert_eq!(
            ids(s.payments_to_recover(1_000, 2).await.unwrap()),
            ["a-received", "b-reserved"]
        );
        assert!(s.payments_to_recover(1_000, 0).await.unwrap().is_empty());
        assert!(s.payments_to_recover(100, 10).await.unwrap().is_empty());
        // Each listed payment has automatic work to do.
        for p in s.payments_to_recover(1_000, 100).await.unwrap() {
            assert!(payment::recovery(p.state).is_automatic(), "{}", p.state);
        }
        // Exceptions wait for the operator, in their own list.
        assert_eq!(
            ids(s.payments_in_state(State::Exception, 10).await.unwrap()),
            ["h-exception"]
        );
        // Once finished, a payment leaves the sweep.
        s.payment_transition(
            "a-received",
            1,
            &Event::Abandoned,
            "recovered",
            "node-b",
            2_000,
        )
        .await
        .unwrap();
        assert_eq!(
            ids(s.payments_to_recover(3_000, 100).await.unwrap()),
            ["b-reserved", "c-crediting", "d-unknown", "e-cancelling"]
        );
        s.close().await;
    }
}

fn event() -> impl Strategy<Value = Event> {
    proptest::sample::select(Event::ALL.to_vec())
}

/// Apply random events through the store (each at the version last read,
/// so refused ones are refused by the machine, not by the version), and
/// check each answer against the pure machine, the stored state against
/// the model's, and the history's replay against both.
async fn run_case(
    store: &Store,
    id: &str,
    mode: Mode,
    events: &[Event],
) -> Result<(), TestCaseError> {
    store
        .payment_create(new_payment(id, mode, id), "node-a", 1)
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut model = State::Received;
    let mut version = 1;
    let mut applied = 0;
    for (i, e) in events.iter().enumerate() {
        let at = 2 + i64::try_from(i).unwrap_or(0);
        let got = store
            .payment_transition(id, version, e, "", "node-a", at)
            .await;
        match (payment::transition_for(mode, model, e), got) {
            (Ok(to), Ok(moved)) => {
                prop_assert_eq!(moved.to, to);
                prop_assert_eq!(moved.from, Some(model));
                prop_assert_eq!(moved.seq, version + 1);
                model = to;
                version = moved.seq;
                applied += 1;
            }
            (Err(_), Err(StoreError::Refused(_))) => {}
            (want, got) => {
                return Err(TestCaseError::fail(format!(
                    "{model} {e}: the machine says {want:?}, the store {got:?}"
                )));
            }
        }
    }
    let p = store
        .payment_get(id)
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .ok_or_else(|| TestCaseError::fail("gone"))?;
    prop_assert_eq!((p.state, p.version), (model, 1 + applied));
    let history = store
        .payment_history(id)
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let replayed = history
        .iter()
        .filter_map(|h| h.event)
        .try_fold(State::Received, |s, e| payment::transition_for(mode, s, &e));
    prop_assert_eq!(replayed, Ok(model));
    prop_assert_eq!(history.len(), usize::try_from(p.version).unwrap_or(0));
    Ok(())
}

#[test]
fn random_events_through_the_store_match_the_machine() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for store in rt.block_on(engines("payments_props")) {
        let mut runner = TestRunner::new(Config {
            cases: 32,
            failure_persistence: None,
            ..Config::default()
        });
        let counter = std::sync::atomic::AtomicU64::new(0);
        let modes = proptest::sample::select(Mode::ALL.to_vec());
        runner
            .run(
                &(modes, prop::collection::vec(event(), 1..40)),
                |(mode, events)| {
                    let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    rt.block_on(run_case(&store, &format!("prop-{n}"), mode, &events))
                },
            )
            .unwrap();
        rt.block_on(store.close());
    }
}

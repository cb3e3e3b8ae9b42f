//! Risk counters on both engines: checked and added to in one
//! transaction, exact when payments race on two nodes of one database,
//! and released on cancel or refund where the rule says so.

use money::{Currency, Money};
use payment::{Direction, Event, Mode};
use store::{CounterWindow, DecisionRow, HistoryRequest, NewPayment, PaymentTerms, Store};

use crate::engines;

fn window(rule: &str, release_on: &str) -> CounterWindow {
    CounterWindow {
        rule: rule.into(),
        key: "payer:w:u-1".into(),
        since_ms: 0,
        release_on: release_on.into(),
    }
}

fn row(id: &str) -> DecisionRow {
    DecisionRow {
        payment_id: id.into(),
        moment: "before_money".into(),
        action: "approve".into(),
        version: "v1".into(),
        score: 0,
        decision: "{}".into(),
        at_ms: 1,
    }
}

/// Check `windows` for payment `id` and count it in whatever they hold
/// (approved when `approve`); returns what was read.
async fn check(
    s: &Store,
    windows: Vec<CounterWindow>,
    id: &str,
    amount: i64,
    approve: bool,
) -> Vec<(i64, i64)> {
    let id2 = id.to_string();
    s.risk_check(windows, None, id, amount, 1_000, move |values, _| {
        (values.to_vec(), approve, row(&id2))
    })
    .await
    .unwrap()
}

async fn read(s: &Store, windows: &[CounterWindow]) -> Vec<(i64, i64)> {
    check(s, windows.to_vec(), "probe", 0, false).await
}

async fn payment(s: &Store, id: &str, merchant_minor: i64) {
    s.payment_create(
        NewPayment {
            id: id.into(),
            mode: Mode::Mpm,
            direction: Direction::Inbound,
            wallet: "w".into(),
            acquirer: "a".into(),
            merchant_id: Some("m".into()),
            initiator: "w".into(),
            request_id: format!("req-{id}"),
            order_id: None,
            merchant_amount: Money::new(merchant_minor, Currency::parse("CNY").unwrap()),
            payer_amount: None,
            wallet_settlement_amount: None,
            acquirer_settlement_amount: None,
            reporting_amount: None,
            quote_id: None,
            clearing_date: None,
        },
        "node-a",
        1,
    )
    .await
    .unwrap();
    s.payment_terms_put(&PaymentTerms {
        payment_id: id.into(),
        merchant_name: "M".into(),
        acquirer_merchant_id: "m".into(),
        merchant_country: "CN".into(),
        mcc: "5812".into(),
        payer_country: "MN".into(),
        fx_provider: None,
        fx_rate: None,
        markup_bps: None,
        fx_provider_minor: 0,
        fx_markup_minor: 0,
        fx_rounding_minor: 0,
        fee_discount: 0,
        fee_acquirer: 0,
        fee_wallet: 0,
        fee_gateway: 0,
        fee_scheme: 0,
        created_at_ms: 1,
        payer_residency: "MN".into(),
        merchant_residency: "CN".into(),
        purpose: "GDDS".into(),
    })
    .await
    .unwrap();
}

async fn refund(s: &Store, id: &str, refund_id: &str, amount: i64, total: i64) {
    assert!(matches!(
        s.refund_claim(id, refund_id, amount, total).await.unwrap(),
        store::RefundClaim::Claimed { .. }
    ));
    s.refund_settle(id, refund_id, amount, true).await.unwrap();
}

#[tokio::test]
async fn counters_are_released_on_cancel_and_refund_where_the_rule_says_so() {
    for s in engines("risk_release").await {
        let windows = vec![
            window("refundable", "cancel_and_refund"),
            window("kept", "never"),
            window("cancellable", "cancel"),
        ];
        // A payment that fails after it was counted.
        payment(&s, "p-fail", 10_000).await;
        check(&s, windows.clone(), "p-fail", 2_101, true).await;
        assert_eq!(read(&s, &windows).await, vec![(1, 2_101); 3]);
        let mut v = 1;
        for e in [
            Event::ReserveOk,
            Event::CreditSent,
            Event::DownstreamDeclined,
        ] {
            v = s
                .payment_transition("p-fail", v, &e, "", "node-a", 2)
                .await
                .unwrap()
                .seq;
        }
        assert_eq!(
            read(&s, &windows).await,
            vec![(0, 0), (1, 2_101), (0, 0)],
            "a failed payment stops counting where its rule says so"
        );

        // A payment refunded in two parts: its share goes with each, the
        // count once it is all refunded; never twice.
        payment(&s, "p-ref", 10_000).await;
        check(&s, windows.clone(), "p-ref", 2_101, true).await;
        refund(&s, "p-ref", "r-1", 4_000, 10_000).await;
        assert_eq!(
            read(&s, &windows).await,
            vec![(1, 1_260), (2, 4_202), (1, 2_101)],
            "60% of 2101, rounded down, stays"
        );
        refund(&s, "p-ref", "r-2", 6_000, 10_000).await;
        assert_eq!(
            read(&s, &windows).await,
            vec![(0, 0), (2, 4_202), (1, 2_101)]
        );
        // A declined check counts nothing.
        check(&s, windows.clone(), "p-no", 5_000, false).await;
        assert_eq!(
            read(&s, &windows).await,
            vec![(0, 0), (2, 4_202), (1, 2_101)]
        );
    }
}

#[tokio::test]
async fn a_payers_history_is_read_and_added_to_with_its_corridors() {
    for s in engines("risk_history").await {
        let history = |corridor: &str| HistoryRequest {
            key: "payer:w:u-1".into(),
            corridor: corridor.into(),
            since_ms: 0,
            corridors_since_ms: 0,
        };
        let seen = |s: &Store, corridor: &str, approve: bool| {
            let (s, h) = (s.clone(), history(corridor));
            async move {
                s.risk_check(vec![], Some(h), "p", 1_000, 1_000, move |_, seen| {
                    (seen, approve, row("p"))
                })
                .await
                .unwrap()
                .unwrap()
            }
        };
        assert_eq!(seen(&s, "MN-CN", true).await.count, 0);
        seen(&s, "MN-TH", true).await;
        seen(&s, "MN-TH", false).await;
        let h = seen(&s, "MN-SG", false).await;
        assert_eq!((h.count, h.total_minor), (2, 2_000));
        assert_eq!(h.corridors, vec!["MN-CN".to_string(), "MN-TH".to_string()]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_payments_on_two_nodes_take_a_limit_exactly() {
    for pair in store::testing::node_pairs("risk_two_nodes").await {
        const LIMIT: i64 = 5;
        let tries = (0..24).map(|n| {
            let s = if n % 2 == 0 {
                pair.first.clone()
            } else {
                pair.second.clone()
            };
            async move {
                let id = format!("p-{n}");
                let id2 = id.clone();
                s.risk_check(
                    vec![window("velocity", "never")],
                    None,
                    &id,
                    100,
                    1_000,
                    move |values, _| {
                        let ok = values[0].0 < LIMIT;
                        (ok, ok, row(&id2))
                    },
                )
                .await
                .unwrap()
            }
        });
        let handles: Vec<_> = tries.map(tokio::spawn).collect();
        let mut approved = 0;
        for h in handles {
            approved += usize::from(h.await.unwrap());
        }
        assert_eq!(approved, 5, "the limit was taken exactly, across two nodes");
        assert_eq!(
            read(&pair.first, &[window("velocity", "never")]).await,
            vec![(LIMIT, LIMIT * 100)]
        );
        pair.cleanup().await;
    }
}

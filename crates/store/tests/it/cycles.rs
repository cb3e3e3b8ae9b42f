//! Clearing cycles on both engines: created once, closed once even when
//! closes race, settled once.

use store::{Closed, CycleClose, InstructionRow, PositionRow};

use crate::engines;

fn close(node: &str) -> CycleClose {
    let position = |party: &str, net: i64| PositionRow {
        clearing_date: "2026-11-20".into(),
        party: party.into(),
        currency: "CNY".into(),
        gross_debits: net.min(0).abs(),
        gross_credits: net.max(0),
        fees: 0,
        net,
    };
    CycleClose {
        positions: vec![position("w", -100), position("a", 100)],
        instructions: vec![InstructionRow {
            clearing_date: "2026-11-20".into(),
            seq: 1,
            payer: "w".into(),
            payee: "a".into(),
            currency: "CNY".into(),
            amount: 100,
            payer_account: "W-1".into(),
            payee_account: "A-1".into(),
            value_date: "2026-11-23".into(),
        }],
        payments: 1,
        refunds: 0,
        node: node.into(),
        early: false,
        now_ms: 5_000,
    }
}

#[tokio::test]
async fn racing_closes_close_once_and_settling_is_once() {
    for s in engines("cycles_race").await {
        let first = s.cycle_ensure("2026-11-20", 1_000, 2_000).await.unwrap();
        assert_eq!(first.state, "open");
        // Ensuring again changes nothing.
        let again = s.cycle_ensure("2026-11-20", 9, 9).await.unwrap();
        assert_eq!(again, first);
        let tries = (0..6).map(|n| {
            let s = s.clone();
            tokio::spawn(async move { s.cycle_close("2026-11-20", close(&format!("n{n}"))).await })
        });
        let mut now = 0;
        for t in tries {
            match t.await.unwrap().unwrap() {
                Closed::Now => now += 1,
                Closed::Already(state) => assert_eq!(state, "closed"),
            }
        }
        assert_eq!(now, 1, "exactly one close");
        assert_eq!(s.cycle_positions("2026-11-20").await.unwrap().len(), 2);
        assert_eq!(s.cycle_instructions("2026-11-20").await.unwrap().len(), 1);
        let c = s.cycle_get("2026-11-20").await.unwrap().unwrap();
        assert_eq!((c.state.as_str(), c.payments), ("closed", 1));
        s.cycle_mark_settled("2026-11-20", 6_000).await.unwrap();
        assert!(matches!(
            s.cycle_mark_settled("2026-11-20", 7_000).await,
            Err(store::StoreError::IllegalMove(_))
        ));
        assert!(matches!(
            s.cycle_mark_settled("2026-01-01", 7_000).await,
            Err(store::StoreError::NotFound(_))
        ));
        assert!(matches!(
            s.cycle_close("2026-01-01", close("x")).await,
            Err(store::StoreError::NotFound(_))
        ));
    }
}

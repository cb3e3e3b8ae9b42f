//! Participants and their stages on both engines.

use participant::{Record, Role, Stage};
use store::StoreError;

use crate::engines;

fn record(id: &str) -> Record {
    Record {
        id: id.into(),
        legal_name: "HiPay LLC".into(),
        roles: vec![Role::Wallet, Role::FxProvider],
        country: "MN".into(),
        currencies: vec!["MNT".into(), "USD".into()],
        settlement_currency: "USD".into(),
        settlement_account: "MN12 3456".into(),
        callback_base_url: "https://api.hipay.mn/unigate".into(),
        contacts: vec!["ops@hipay.mn".into(), "+976 1234".into()],
    }
}

#[tokio::test]
async fn register_walk_to_live_and_keep_the_history() {
    for s in engines("participants").await {
        let p = s
            .participant_create(record("hipay-mn"), "op-1", 100)
            .await
            .unwrap();
        assert_eq!(p.stage, Stage::Applied);
        assert!(matches!(
            s.participant_create(record("hipay-mn"), "op-1", 101).await,
            Err(StoreError::Conflict(_))
        ));
        let got = s.participant_get("hipay-mn").await.unwrap().unwrap();
        assert_eq!(got.record, record("hipay-mn"));
        let mut t = 200;
        for to in [
            Stage::Admitted,
            Stage::JointTesting,
            Stage::ProductionVerification,
            Stage::Signed,
            Stage::Live,
        ] {
            t += 1;
            s.participant_move("hipay-mn", to, "op-2", "checks passed", t)
                .await
                .unwrap();
        }
        assert_eq!(
            s.participant_get("hipay-mn").await.unwrap().unwrap().stage,
            Stage::Live
        );
        let e = s
            .participant_move("hipay-mn", Stage::Applied, "op-2", "oops", 300)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::IllegalMove(_)), "{e}");
        assert!(matches!(
            s.participant_move("nobody", Stage::Live, "op", "x", 1)
                .await,
            Err(StoreError::NotFound(_))
        ));
        let history = s.participant_history("hipay-mn").await.unwrap();
        assert_eq!(history.len(), 6);
        assert_eq!((history[0].from, history[0].to), (None, Stage::Applied));
        assert_eq!(
            (history[5].from, history[5].to, history[5].actor.as_str()),
            (Some(Stage::Signed), Stage::Live, "op-2")
        );
        // The refused move changed nothing.
        assert_eq!(
            s.participant_get("hipay-mn").await.unwrap().unwrap().stage,
            Stage::Live
        );
        s.participant_create(record("abank-th"), "op-1", 400)
            .await
            .unwrap();
        let ids: Vec<String> = s
            .participant_list()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.record.id)
            .collect();
        assert_eq!(ids, ["abank-th", "hipay-mn"]);
        s.close().await;
    }
}

#[tokio::test]
async fn update_replaces_the_record_and_keeps_the_stage() {
    for s in engines("participant_update").await {
        let mut r = record("hipay-mn");
        assert!(matches!(
            s.participant_update(r.clone(), 5).await,
            Err(StoreError::NotFound(_))
        ));
        s.participant_create(r.clone(), "op", 10).await.unwrap();
        s.participant_move("hipay-mn", Stage::Admitted, "op", "kyc done", 11)
            .await
            .unwrap();
        r.legal_name = "HiPay Mongolia LLC".into();
        r.roles = vec![Role::Wallet];
        r.contacts = vec![];
        let p = s.participant_update(r.clone(), 20).await.unwrap();
        assert_eq!(p.record, r);
        assert_eq!(p.stage, Stage::Admitted);
        assert_eq!((p.created_at_ms, p.updated_at_ms), (10, 20));
    }
}

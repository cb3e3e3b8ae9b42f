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

/// Each node keeps a short-lived copy of participants and keys (see
/// `store::StoreOptions::cache_ttl_ms`): its own changes show at once,
/// another node's new participants and keys at once too (what is missing
/// is read again), and another node's changes within the copy's lifetime.
#[tokio::test]
async fn a_node_sees_another_nodes_changes_within_the_cache_lifetime() {
    for pair in store::testing::node_pairs("participant_cache").await {
        let (a, b) = (&pair.first, &pair.second);
        assert!(a.participant_get("hipay-mn").await.unwrap().is_none());
        b.participant_create(record("hipay-mn"), "op", 1)
            .await
            .unwrap();
        assert!(
            a.participant_get("hipay-mn").await.unwrap().is_some(),
            "a participant made on another node is found at once"
        );
        assert!(a.key_get("hipay-mn", 1).await.unwrap().is_none());
        b.key_register("hipay-mn", "ED25519", "pem-1", 1_000, 2)
            .await
            .unwrap();
        assert_eq!(
            a.key_get("hipay-mn", 1).await.unwrap().unwrap().public_pem,
            "pem-1",
            "a key registered on another node is found at once"
        );
        // This node's own change: at once.
        a.participant_move("hipay-mn", Stage::Admitted, "op", "ok", 3)
            .await
            .unwrap();
        assert_eq!(
            a.participant_get("hipay-mn").await.unwrap().unwrap().stage,
            Stage::Admitted
        );
        // The other node's change: within the lifetime (1 s by default).
        b.participant_move("hipay-mn", Stage::JointTesting, "op", "ok", 4)
            .await
            .unwrap();
        b.key_revoke("hipay-mn", 1, "op", 5).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        assert_eq!(
            a.participant_get("hipay-mn").await.unwrap().unwrap().stage,
            Stage::JointTesting
        );
        assert!(
            a.participant_list().await.unwrap()[0].stage == Stage::JointTesting,
            "the list too"
        );
        assert_eq!(
            a.key_get("hipay-mn", 1)
                .await
                .unwrap()
                .unwrap()
                .revoked_at_ms,
            Some(5)
        );
    }
}

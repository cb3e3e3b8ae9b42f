//! Participant keys, gateway keys and the merchant registry on both engines.

use participant::{Identifier, Merchant, Record, Role};
use store::{GatewayKey, StoreError, Upserted};

use crate::engines;

fn record(id: &str) -> Record {
    Record {
        id: id.into(),
        legal_name: "Kasikorn Acquiring".into(),
        roles: vec![Role::Acquirer],
        country: "TH".into(),
        currencies: vec!["THB".into()],
        settlement_currency: "THB".into(),
        settlement_account: "TH-0001".into(),
        callback_base_url: "https://acq.example.th/unigate".into(),
        contacts: vec![],
    }
}

fn merchant(amid: &str, proxy: &str) -> Merchant {
    Merchant {
        acquirer_merchant_id: amid.into(),
        name: "Siam Noodle House".into(),
        mcc: "5812".into(),
        country: "TH".into(),
        city: "Bangkok".into(),
        time_zone: "Asia/Bangkok".into(),
        kyb_status: "verified".into(),
        identifiers: vec![Identifier {
            kind: "promptpay_proxy".into(),
            value: proxy.into(),
        }],
    }
}

#[tokio::test]
async fn keys_rotate_with_an_overlap_and_revoke_at_once() {
    for s in engines("keys").await {
        assert!(matches!(
            s.key_register("nobody", "ED25519", "pem", 1_000, 0).await,
            Err(StoreError::NotFound(_))
        ));
        s.participant_create(record("kbank"), "op", 0)
            .await
            .unwrap();
        let k1 = s
            .key_register("kbank", "ED25519", "pem-1", 1_000, 10)
            .await
            .unwrap();
        assert_eq!(k1.version, 1);
        assert!(k1.usable_at(10_000_000));
        let k2 = s
            .key_register("kbank", "RSA256", "pem-2", 1_000, 20)
            .await
            .unwrap();
        assert_eq!(k2.version, 2);
        let k1 = s.key_get("kbank", 1).await.unwrap().unwrap();
        assert_eq!(k1.valid_until_ms, Some(1_020));
        assert!(k1.usable_at(1_019));
        assert!(!k1.usable_at(1_020));
        let k2 = s.key_revoke("kbank", 2, "kbank", 30).await.unwrap();
        assert!(!k2.usable_at(31));
        assert_eq!(k2.revoked_by.as_deref(), Some("kbank"));
        // Revoking again keeps the first revocation.
        let again = s.key_revoke("kbank", 2, "op", 40).await.unwrap();
        assert_eq!(again.revoked_at_ms, Some(30));
        assert!(matches!(
            s.key_revoke("kbank", 9, "op", 40).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(s.key_list("kbank").await.unwrap().len(), 2);
        assert!(s.key_list("other").await.unwrap().is_empty());

        let g = GatewayKey {
            version: 1,
            algorithm: "ED25519".into(),
            public_pem: "pub".into(),
            sealed_private: vec![1, 2, 3, 0, 255],
            kek_id: "local-x".into(),
            created_at_ms: 5,
            activates_at_ms: 5,
        };
        assert!(s.gateway_key_insert(&g).await.unwrap());
        assert!(!s.gateway_key_insert(&g).await.unwrap());
        let g2 = GatewayKey {
            version: 2,
            ..g.clone()
        };
        assert!(s.gateway_key_insert(&g2).await.unwrap());
        let latest = s.gateway_keys_latest(2).await.unwrap();
        assert_eq!(latest, vec![g2, g]);
    }
}

#[tokio::test]
async fn merchants_upsert_find_and_refuse_a_taken_identifier() {
    for s in engines("merchants").await {
        let (m, how) = s
            .merchant_upsert("kbank", merchant("M1", "0066811111111"), "gm-1", 10)
            .await
            .unwrap();
        assert_eq!((m.id.as_str(), how), ("gm-1", Upserted::Created));
        // The same acquirer id again is an update that keeps the gateway id.
        let mut changed = merchant("M1", "0066822222222");
        changed.name = "Siam Noodle House 2".into();
        let (m2, how) = s
            .merchant_upsert("kbank", changed, "gm-x", 20)
            .await
            .unwrap();
        assert_eq!((m2.id.as_str(), how), ("gm-1", Upserted::Updated));
        assert_eq!(m2.created_at_ms, 10);
        assert!(
            s.merchant_find("promptpay_proxy", "0066811111111")
                .await
                .unwrap()
                .is_none()
        );
        let found = s
            .merchant_find("promptpay_proxy", "0066822222222")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.merchant.name, "Siam Noodle House 2");
        assert_eq!(found.acquirer_id, "kbank");
        // Another acquirer cannot take the identifier; nothing changes.
        assert!(matches!(
            s.merchant_upsert("scb", merchant("M9", "0066822222222"), "gm-2", 30)
                .await,
            Err(StoreError::Conflict(_))
        ));
        assert!(s.merchant_get("gm-2").await.unwrap().is_none());
        // The same acquirer merchant id under another acquirer is another merchant.
        let (other, _) = s
            .merchant_upsert("scb", merchant("M1", "0066833333333"), "gm-3", 40)
            .await
            .unwrap();
        assert_eq!(other.id, "gm-3");
        assert_eq!(s.merchant_list("kbank", "", 10).await.unwrap().len(), 1);
        let scb = s.merchant_list("scb", "", 10).await.unwrap();
        assert_eq!(scb.len(), 1);
        assert_eq!(scb[0].merchant.identifiers[0].value, "0066833333333");
        assert!(s.merchant_list("scb", "gm-3", 10).await.unwrap().is_empty());
    }
}

//! The route table on both engines.

use store::{RouteRecord, StoreError};

use crate::engines;

fn route(id: &str, side: &str, kind: &str, value: &str, participant: &str) -> RouteRecord {
    RouteRecord {
        id: id.into(),
        side: side.into(),
        kind: kind.into(),
        value: value.into(),
        participant_id: participant.into(),
        created_by: "op-1".into(),
        created_at_ms: 1_000,
    }
}

#[tokio::test]
async fn routes_insert_list_get_load_and_delete() {
    for s in engines("routes_crud").await {
        let a = route("rt-a", "merchant", "account", "a000000727", "acq-vn");
        let b = route(
            "rt-b",
            "merchant",
            "account",
            "A000000727:970436",
            "acq-vcb",
        );
        let w = route("rt-w", "wallet", "payment_code_prefix", "62", "wallet-up");
        for r in [&a, &b, &w] {
            assert_eq!(&s.route_insert(r.clone(), 100).await.unwrap(), r);
        }
        // Listed by side, kind and value.
        let all = s.route_list().await.unwrap();
        let ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["rt-b", "rt-a", "rt-w"]);
        assert_eq!(s.route_get("rt-b").await.unwrap(), Some(b.clone()));
        assert_eq!(s.route_get("rt-none").await.unwrap(), None);
        let merchant = s.route_load("merchant").await.unwrap();
        assert_eq!(merchant, vec![a.clone(), b.clone()]);
        assert_eq!(s.route_load("wallet").await.unwrap(), vec![w.clone()]);

        assert_eq!(s.route_delete("rt-a").await.unwrap(), a);
        assert!(matches!(
            s.route_delete("rt-a").await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(s.route_list().await.unwrap().len(), 2);
        s.close().await;
    }
}

#[tokio::test]
async fn a_second_route_for_one_side_kind_and_value_is_a_conflict() {
    for s in engines("routes_conflict").await {
        s.route_insert(
            route("rt-1", "merchant", "url_host", "qr.alipay.com", "acq-1"),
            100,
        )
        .await
        .unwrap();
        // Same side, kind and value, another participant: refused, naming
        // the route that holds it.
        match s
            .route_insert(
                route("rt-2", "merchant", "url_host", "qr.alipay.com", "acq-2"),
                100,
            )
            .await
        {
            Err(StoreError::Conflict(m)) => assert!(m.contains("rt-1"), "{m}"),
            other => panic!("{other:?}"),
        }
        // The same id again: refused.
        assert!(matches!(
            s.route_insert(
                route("rt-1", "merchant", "url_host", "*.alipay.com", "acq-1"),
                100
            )
            .await,
            Err(StoreError::Conflict(_))
        ));
        // The same value of another kind or side is another route.
        s.route_insert(
            route("rt-3", "wallet", "url_host", "qr.alipay.com", "w-1"),
            100,
        )
        .await
        .unwrap();
        assert_eq!(s.route_list().await.unwrap().len(), 2);
        s.close().await;
    }
}

#[tokio::test]
async fn the_table_is_bounded() {
    for s in engines("routes_bounded").await {
        s.route_insert(route("rt-1", "wallet", "payment_code_prefix", "1", "w"), 2)
            .await
            .unwrap();
        s.route_insert(route("rt-2", "wallet", "payment_code_prefix", "2", "w"), 2)
            .await
            .unwrap();
        assert!(matches!(
            s.route_insert(route("rt-3", "wallet", "payment_code_prefix", "3", "w"), 2)
                .await,
            Err(StoreError::Refused(_))
        ));
        s.close().await;
    }
}

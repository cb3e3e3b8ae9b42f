//! Leases on both engines: one holder at a time, expiry, renewal, release,
//! and a race of many contenders with exactly one winner.

use crate::engines;

#[tokio::test]
async fn one_holder_until_expiry() {
    for s in engines("one_holder").await {
        assert!(
            s.lease_acquire("close", "node-a", 1_000, 10_000)
                .await
                .unwrap()
        );
        assert!(
            !s.lease_acquire("close", "node-b", 1_000, 10_500)
                .await
                .unwrap()
        );
        let held = s.lease_get("close", 10_500).await.unwrap().unwrap();
        assert_eq!(held.holder, "node-a");
        // The holder renews; another node still cannot take it.
        assert!(
            s.lease_renew("close", "node-a", 1_000, 10_900)
                .await
                .unwrap()
        );
        assert!(
            !s.lease_acquire("close", "node-b", 1_000, 11_500)
                .await
                .unwrap()
        );
        // Expired: the other node takes it, and the old holder's renewal fails.
        assert!(
            s.lease_acquire("close", "node-b", 1_000, 11_900)
                .await
                .unwrap()
        );
        assert!(
            !s.lease_renew("close", "node-a", 1_000, 11_950)
                .await
                .unwrap()
        );
        assert_eq!(
            s.lease_get("close", 11_950).await.unwrap().unwrap().holder,
            "node-b"
        );
        // Only the holder releases.
        assert!(!s.lease_release("close", "node-a").await.unwrap());
        assert!(s.lease_release("close", "node-b").await.unwrap());
        assert!(s.lease_get("close", 11_950).await.unwrap().is_none());
        assert!(
            s.lease_acquire("close", "node-a", 1_000, 12_000)
                .await
                .unwrap()
        );
        // Nothing held after its expiry.
        assert!(s.lease_get("close", 13_000).await.unwrap().is_none());
        s.close().await;
    }
}

#[tokio::test]
async fn reacquiring_ones_own_lease_extends_it() {
    for s in engines("reacquire").await {
        assert!(s.lease_acquire("job", "a", 100, 1_000).await.unwrap());
        assert!(s.lease_acquire("job", "a", 100, 1_050).await.unwrap());
        let l = s.lease_get("job", 1_100).await.unwrap().unwrap();
        assert_eq!(
            (l.acquired_at_ms, l.expires_at_ms, l.renewals),
            (1_000, 1_150, 1)
        );
        s.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_contenders_one_winner() {
    for s in engines("contenders").await {
        for round in 0..5i64 {
            let now = 100_000 + round * 10_000;
            let mut tasks = Vec::new();
            for n in 0..12 {
                let s = s.clone();
                tasks.push(tokio::spawn(async move {
                    s.lease_acquire("resolver", &format!("node-{n}"), 5_000, now)
                        .await
                        .unwrap()
                }));
            }
            let mut winners = 0;
            for t in tasks {
                winners += usize::from(t.await.unwrap());
            }
            assert_eq!(winners, 1, "round {round} on {:?}", s.engine());
        }
        s.close().await;
    }
}

/// A SQLite file (several connections, write-ahead log) keeps the same
/// promise, and survives being reopened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_contenders_and_reopen() {
    let dir = std::env::temp_dir().join(format!(
        "unigate-store-{}-{}",
        std::process::id(),
        crate::unique()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("leases.db").display());
    let s = store::Store::open(&url, store::StoreOptions::default())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for n in 0..12 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.lease_acquire("job", &format!("n{n}"), 60_000, 1_000)
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1);
    let holder = s.lease_get("job", 2_000).await.unwrap().unwrap().holder;
    s.close().await;
    let again = store::Store::open(&url, store::StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(
        again.lease_get("job", 2_000).await.unwrap().unwrap().holder,
        holder
    );
    again.close().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn bad_urls_are_refused_clearly() {
    for url in ["mysql://x", "sqlite://", "http://localhost"] {
        let e = store::Store::open(url, store::StoreOptions::default())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("unsupported store URL"), "{e}");
    }
    let e = store::Store::open(
        "postgres://nobody@127.0.0.1:1/none",
        store::StoreOptions {
            acquire_timeout_ms: 2_000,
            ..store::StoreOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("unreachable"), "{e}");
}

//! Idempotency records and the replay guard on both engines.

use store::Begin;

use crate::engines;

#[tokio::test]
async fn request_ids_new_in_flight_done_and_mismatch() {
    for s in engines("idem").await {
        let begin = |rid: &'static str, fp: &'static str, now: i64| {
            let s = s.clone();
            async move {
                s.idem_begin("wallet-1", "payments.create", rid, fp, "pay_1", now, 1_000)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(begin("r1", "fp-a", 10).await, Begin::New);
        assert_eq!(
            begin("r1", "fp-a", 11).await,
            Begin::InFlight {
                gateway_id: "pay_1".into()
            }
        );
        assert_eq!(begin("r1", "fp-b", 12).await, Begin::Mismatch);
        s.idem_finish(
            "wallet-1",
            "payments.create",
            "r1",
            200,
            r#"{"result":{"status":"S"}}"#,
        )
        .await
        .unwrap();
        assert_eq!(
            begin("r1", "fp-a", 13).await,
            Begin::Done {
                status_code: 200,
                response: r#"{"result":{"status":"S"}}"#.into()
            }
        );
        assert_eq!(begin("r1", "fp-b", 14).await, Begin::Mismatch);
        // Keys are per participant and operation.
        assert_eq!(
            s.idem_begin(
                "wallet-2",
                "payments.create",
                "r1",
                "fp-b",
                "pay_2",
                15,
                1_000
            )
            .await
            .unwrap(),
            Begin::New
        );
        assert_eq!(
            s.idem_begin(
                "wallet-1",
                "refunds.create",
                "r1",
                "fp-b",
                "ref_1",
                15,
                1_000
            )
            .await
            .unwrap(),
            Begin::New
        );
        // After retention the record is purged and the id is new again.
        assert_eq!(s.idem_purge(2_000).await.unwrap(), 3);
        assert_eq!(begin("r1", "fp-b", 2_001).await, Begin::New);
        s.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_repeats_have_one_owner() {
    for s in engines("idem_race").await {
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.idem_begin("acq-1", "payments.create", "same", "fp", "pay_9", 5, 60_000)
                    .await
                    .unwrap()
            }));
        }
        let mut new = 0;
        for t in tasks {
            match t.await.unwrap() {
                Begin::New => new += 1,
                Begin::InFlight { gateway_id } => assert_eq!(gateway_id, "pay_9"),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(new, 1);
        s.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_is_accepted_once_within_its_window() {
    for s in engines("replay").await {
        assert!(
            s.signature_first_use("sig-a", 1_000, 300_000)
                .await
                .unwrap()
        );
        assert!(
            !s.signature_first_use("sig-a", 2_000, 300_000)
                .await
                .unwrap()
        );
        assert!(
            s.signature_first_use("sig-b", 2_000, 300_000)
                .await
                .unwrap()
        );
        // Past its window it may be seen again (the skew check refuses the
        // stale time anyway) and is purged.
        assert!(
            s.signature_first_use("sig-a", 301_001, 300_000)
                .await
                .unwrap()
        );
        assert_eq!(s.signature_purge(302_001).await.unwrap(), 1);
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.signature_first_use("sig-race", 5_000, 300_000)
                    .await
                    .unwrap()
            }));
        }
        let mut firsts = 0;
        for t in tasks {
            firsts += usize::from(t.await.unwrap());
        }
        assert_eq!(firsts, 1);
        s.close().await;
    }
}

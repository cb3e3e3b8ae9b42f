//! The durable write path on both engines: every caller answered after its
//! commit, a failing caller rolled back alone, and on SQLite many callers
//! sharing one commit.

use std::sync::Arc;

use store::{Engine, Store, StoreError};

use crate::engines;

/// Insert a lease row named `name` through the write path.
async fn insert(s: &Store, name: String, fail_after: bool) -> Result<String, StoreError> {
    s.write(move |conn| {
        Box::pin(async move {
            sqlx::query("INSERT INTO leases (name, holder, expires_at_ms, acquired_at_ms) VALUES ($1, 'w', 1, 1)")
                .bind(&name)
                .execute(&mut *conn)
                .await?;
            if fail_after {
                return Err(StoreError::Commit(format!("{name} gives up after writing")));
            }
            Ok(name)
        })
    })
    .await
}

async fn count(s: &Store) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM leases")
        .fetch_one(s.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_all_commit_and_failures_roll_back_alone() {
    for s in engines("writes").await {
        let mut tasks = Vec::new();
        for n in 0..200 {
            let s = s.clone();
            // Every tenth caller fails after writing; every 25th repeats a
            // name (a constraint violation).
            let name = if n % 25 == 24 {
                format!("w{}", n - 1)
            } else {
                format!("w{n}")
            };
            tasks.push(tokio::spawn(async move {
                (n, insert(&s, name, n % 10 == 9).await)
            }));
        }
        let mut ok = 0;
        for t in tasks {
            let (n, r) = t.await.unwrap();
            match r {
                Ok(name) => {
                    let expected = if n % 25 == 24 { n - 1 } else { n };
                    assert_eq!(name, format!("w{expected}"));
                    ok += 1;
                }
                // A repeated name fails for whichever of the two callers
                // comes second.
                Err(_) => assert!(
                    n % 10 == 9 || n % 25 == 24 || n % 25 == 23,
                    "caller {n} failed"
                ),
            }
        }
        // Exactly the callers answered Ok are in the table.
        assert_eq!(count(&s).await, ok);
        assert!(ok >= 170, "{ok}");
        for n in (9..200).step_by(10) {
            let present: Option<String> =
                sqlx::query_scalar("SELECT name FROM leases WHERE name = $1")
                    .bind(format!("w{n}"))
                    .fetch_optional(s.pool())
                    .await
                    .unwrap();
            assert!(present.is_none(), "w{n} gave up but its row was kept");
        }
        if s.engine() == Engine::Sqlite {
            let commits = s.writer_commits();
            assert!(
                commits < 200,
                "no batching: {commits} commits for 200 callers"
            );
        }
        s.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_refused_not_waited_on() {
    let url = format!(
        "sqlite://writes-full-{}?mode=memory&cache=shared",
        crate::unique()
    );
    let options = store::StoreOptions {
        writer: store::WriterOptions {
            queue_len_max: 1,
            batch_max: 1,
        },
        ..store::StoreOptions::default()
    };
    let s = Arc::new(Store::open(&url, options).await.unwrap());
    // The first caller holds the writer for a while.
    let slow = {
        let s = s.clone();
        tokio::spawn(async move {
            s.write(|_conn| {
                Box::pin(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                    Ok(())
                })
            })
            .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let queued = {
        let s = s.clone();
        tokio::spawn(async move { insert(&s, "queued".into(), false).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let refused = insert(&s, "refused".into(), false).await;
    assert!(matches!(refused, Err(StoreError::Busy)), "{refused:?}");
    slow.await.unwrap().unwrap();
    assert_eq!(queued.await.unwrap().unwrap(), "queued");
}

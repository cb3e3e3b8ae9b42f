//! The durable write path: [`Store::write`] runs a caller's work in a
//! transaction and answers only once it is committed.
//!
//! SQLite has one writer, and every commit is an fsync: so one writer task
//! takes callers' work from a bounded queue and commits many callers in one
//! transaction, each caller's work in its own savepoint (a caller whose work
//! fails is rolled back alone; the others commit). New ledger transfers are
//! a job of their own, folded across the callers of one commit
//! (`ledger::apply_folded`). PostgreSQL runs each caller's transaction on
//! the pool.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::AnyConnection;
use tokio::sync::{mpsc, oneshot};

use crate::{Engine, Store, StoreError};

/// One statement with its values bound, for [`Store::write_statement`].
pub type Statement = sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>;

/// A boxed future borrowing the connection.
pub type WriteFuture<'c, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'c>>;

/// Limits of the write path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterOptions {
    /// Callers waiting for the SQLite writer before `write` refuses
    /// (`StoreError::Busy`).
    pub queue_len_max: usize,
    /// Most callers committed together.
    pub batch_max: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            queue_len_max: 4096,
            batch_max: 256,
        }
    }
}

/// One caller's work, type-erased: run it on the writer's connection, and
/// report whether it succeeded plus how to answer the caller once the
/// commit's outcome is known.
type Finish = Box<dyn FnOnce(Result<(), String>) + Send>;
type Run = Box<
    dyn for<'c> FnOnce(
            &'c mut AnyConnection,
        ) -> Pin<Box<dyn Future<Output = (bool, Finish)> + Send + 'c>>
        + Send,
>;

/// What a caller waits on the writer for.
enum Job {
    /// A caller's work and whether it needs a savepoint of its own: one
    /// statement does not (SQLite undoes a failed statement by itself),
    /// and leaving the savepoint out saves two round trips to the driver.
    Work { savepoint: bool, run: Run },
    /// New ledger transfers: the writer folds every caller's of one commit
    /// together (`ledger::apply_folded`).
    Ledger(crate::ledger::FoldJob),
}

/// The SQLite writer task's handle.
#[derive(Debug)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Job>,
    pub(crate) commits: Arc<AtomicU64>,
    /// Ledger folds undone and run one caller at a time.
    pub(crate) folds_undone: Arc<AtomicU64>,
}

impl Writer {
    pub(crate) fn start(pool: sqlx::AnyPool, options: WriterOptions) -> Writer {
        let (queue, mut rx) = mpsc::channel::<Job>(options.queue_len_max.max(1));
        let commits = Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        let folds_undone = Arc::new(AtomicU64::new(0));
        let undone = folds_undone.clone();
        let batch_max = options.batch_max.max(1);
        // Registered (by adding nothing: a second store in the process must
        // not set a counter back), so a scrape tells "none yet" from "not
        // exported".
        metrics::counter!("unigate_store_writer_commits_total").increment(0);
        metrics::counter!("unigate_store_ledger_folds_undone_total").increment(0);
        tokio::spawn(async move {
            let mut batch: Vec<Job> = Vec::with_capacity(batch_max);
            while let Some(first) = rx.recv().await {
                batch.push(first);
                while batch.len() < batch_max {
                    match rx.try_recv() {
                        Ok(run) => batch.push(run),
                        Err(_) => break,
                    }
                }
                let jobs = batch.len();
                if commit_batch(&pool, &mut batch).await {
                    undone.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("unigate_store_ledger_folds_undone_total").increment(1);
                }
                counter.fetch_add(1, Ordering::Relaxed);
                // Callers per commit shows how much the writer folds: near 1
                // when idle, up to `batch_max` under load.
                metrics::counter!("unigate_store_writer_commits_total").increment(1);
                metrics::histogram!("unigate_store_writer_jobs_per_commit").record(jobs as f64);
            }
        });
        Writer {
            queue,
            commits,
            folds_undone,
        }
    }

    fn enqueue(&self, job: Job) -> Result<(), StoreError> {
        self.queue.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::Busy,
            mpsc::error::TrySendError::Closed(_) => {
                StoreError::Commit("the writer has stopped".into())
            }
        })
    }
}

impl Store {
    /// Whether new ledger transfers go through [`Store::ledger_fold`].
    pub(crate) fn folds_ledger(&self) -> bool {
        self.writer.is_some() && self.engine == Engine::Sqlite
    }

    /// SQLite with its writer: apply new transfers in the writer's next
    /// commit, folded with every other caller's (see
    /// `ledger::apply_folded`).
    pub(crate) async fn ledger_fold(
        &self,
        transfers: Vec<::ledger::Transfer>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let writer = self
            .writer
            .as_ref()
            .ok_or_else(|| StoreError::Commit("no writer to fold the transfers".into()))?;
        let (reply, answer) = oneshot::channel();
        let job = crate::ledger::FoldJob::new(transfers, now_ms, reply)?;
        writer.enqueue(Job::Ledger(job))?;
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::Commit("the writer dropped the work".into())))
    }
}

/// Run every job of `batch` in one transaction, each in its own savepoint,
/// commit, then answer each caller with its own outcome. True when the
/// ledger fold was undone and its callers run one at a time.
async fn commit_batch(pool: &sqlx::AnyPool, batch: &mut Vec<Job>) -> bool {
    let mut fold_undone = false;
    let mut finishes: Vec<(bool, Finish)> = Vec::with_capacity(batch.len());
    let mut folded: Vec<crate::ledger::FoldJob> = Vec::new();
    let mut fold_outcomes: Vec<Result<(), StoreError>> = Vec::new();
    let outcome: Result<(), String> = async {
        let mut conn = pool.acquire().await.map_err(|e| e.to_string())?;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .map_err(|e| e.to_string())?;
        for job in batch.drain(..) {
            let (savepoint, run) = match job {
                Job::Work { savepoint, run } => (savepoint, run),
                Job::Ledger(fold) => {
                    folded.push(fold);
                    continue;
                }
            };
            if !savepoint {
                finishes.push(run(&mut conn).await);
                continue;
            }
            if sqlx::query("SAVEPOINT caller")
                .execute(&mut *conn)
                .await
                .is_err()
            {
                finishes.push((false, Box::new(|_| {})));
                continue;
            }
            let (ok, finish) = run(&mut conn).await;
            let end = if ok {
                "RELEASE caller"
            } else {
                "ROLLBACK TO caller"
            };
            let ended = sqlx::query(end).execute(&mut *conn).await.is_ok();
            if !ok && ended {
                let _ = sqlx::query("RELEASE caller").execute(&mut *conn).await;
            }
            finishes.push((ok, finish));
        }
        (fold_outcomes, fold_undone) = crate::ledger::apply_folded(&mut conn, &folded).await;
        match sqlx::query("COMMIT").execute(&mut *conn).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                Err(e.to_string())
            }
        }
    }
    .await;
    // Jobs never run (the transaction could not begin) are answered too.
    for run in batch.drain(..) {
        drop(run);
    }
    for (_, finish) in finishes {
        finish(outcome.clone());
    }
    // A ledger caller refused by its own checks hears why; the others hear
    // how the commit went (never run: the transaction could not begin).
    let mut fold_outcomes = fold_outcomes.into_iter();
    for job in folded {
        let answer = match (fold_outcomes.next(), &outcome) {
            (Some(Err(refused)), _) => Err(refused),
            (Some(Ok(())), Ok(())) => Ok(()),
            (Some(Ok(())), Err(e)) => Err(StoreError::Commit(e.clone())),
            (None, _) => Err(StoreError::Commit(match &outcome {
                Err(e) => e.clone(),
                Ok(()) => "the writer did not apply the transfers".into(),
            })),
        };
        let _ = job.reply.send(answer);
    }
    fold_undone
}

impl Store {
    /// Run `work` in a transaction and return its result once the
    /// transaction is durably committed; if `work` fails, nothing it did is
    /// kept. On SQLite many callers share one commit (see the module doc).
    pub async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> WriteFuture<'c, T> + Send + 'static,
    {
        self.write_job(true, work).await
    }

    async fn write_job<T, F>(&self, savepoint: bool, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> WriteFuture<'c, T> + Send + 'static,
    {
        match (&self.writer, self.engine) {
            (Some(writer), Engine::Sqlite) => {
                let (tx, rx) = oneshot::channel::<Result<T, StoreError>>();
                let run: Run = Box::new(move |conn: &mut AnyConnection| {
                    Box::pin(async move {
                        match work(conn).await {
                            Ok(value) => {
                                let finish: Finish =
                                    Box::new(move |committed: Result<(), String>| {
                                        let _ = tx.send(
                                            committed.map(|()| value).map_err(StoreError::Commit),
                                        );
                                    });
                                (true, finish)
                            }
                            Err(e) => {
                                let finish: Finish = Box::new(move |_| {
                                    let _ = tx.send(Err(e));
                                });
                                (false, finish)
                            }
                        }
                    })
                });
                writer.enqueue(Job::Work { savepoint, run })?;
                rx.await
                    .map_err(|_| StoreError::Commit("the writer dropped the work".into()))?
            }
            _ => {
                let mut tx = self.pool().begin().await?;
                let value = work(&mut tx).await?;
                tx.commit().await?;
                Ok(value)
            }
        }
    }

    /// Run one statement durably and return the rows it affected. On SQLite
    /// it joins the writer's next batch (one fsync shared with every other
    /// caller) instead of committing on its own and waiting for the write
    /// lock; PostgreSQL runs it on the pool as it stands (one statement is
    /// its own transaction).
    pub async fn write_statement(&self, statement: Statement) -> Result<u64, StoreError> {
        match self.engine {
            Engine::Sqlite if self.writer.is_some() => {
                self.write_job(false, move |conn| {
                    Box::pin(
                        async move { Ok(statement.execute(&mut *conn).await?.rows_affected()) },
                    )
                })
                .await
            }
            _ => Ok(statement.execute(self.pool()).await?.rows_affected()),
        }
    }

    /// How many times the SQLite writer undid a ledger fold and ran its
    /// callers one at a time (a transfer id used before, an engine error);
    /// 0 elsewhere.
    pub fn ledger_folds_undone(&self) -> u64 {
        self.writer
            .as_ref()
            .map(|w| w.folds_undone.load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    /// How many transactions the SQLite writer has committed (0 elsewhere):
    /// with many concurrent callers, fewer than the callers.
    pub fn writer_commits(&self) -> u64 {
        self.writer
            .as_ref()
            .map(|w| w.commits.load(Ordering::Relaxed))
            .unwrap_or(0)
    }
}

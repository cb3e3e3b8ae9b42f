//! The books on both engines: random sequences of reserve / post / void /
//! single / top-up / fee moves applied to the store and to the in-memory
//! model give the same outcomes and balances; every currency sums to zero;
//! replaying the transfers rebuilds every balance; no limit is breached,
//! also when many tasks race for one wallet's last headroom.

use ledger::{AccountId, Book, Code, Kind, Phase, Transfer};
use money::Currency;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use store::{Store, StoreError};

use crate::engines;

fn cny() -> Currency {
    Currency::parse("CNY").unwrap()
}

#[derive(Clone, Debug)]
enum Op {
    Reserve {
        wallet: usize,
        amount: i64,
    },
    Post {
        k: usize,
    },
    Void {
        k: usize,
    },
    Single {
        from: usize,
        to: usize,
        amount: i64,
    },
    TopUp {
        wallet: usize,
        amount: i64,
    },
    Fee {
        amount: i64,
    },
    /// A payment's legs in one batch: wallet → acquirer, acquirer → the
    /// gateway, wallet → the gateway, reserved or posted.
    Payment {
        wallet: usize,
        amount: i64,
        fee: i64,
        pending: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize, 1..600i64).prop_map(|(wallet, amount)| Op::Reserve { wallet, amount }),
        (0..8usize).prop_map(|k| Op::Post { k }),
        (0..8usize).prop_map(|k| Op::Void { k }),
        (0..5usize, 0..5usize, 1..300i64).prop_map(|(from, to, amount)| Op::Single {
            from,
            to,
            amount
        }),
        (0..2usize, 1..400i64).prop_map(|(wallet, amount)| Op::TopUp { wallet, amount }),
        (1..50i64).prop_map(|amount| Op::Fee { amount }),
        (0..2usize, 1..400i64, 1..60i64, any::<bool>()).prop_map(
            |(wallet, amount, fee, pending)| {
                Op::Payment {
                    wallet,
                    amount,
                    fee,
                    pending,
                }
            }
        ),
    ]
}

struct Case {
    prefix: String,
    accounts: Vec<(AccountId, Option<i64>)>,
}

impl Case {
    fn new(prefix: String) -> Case {
        let c = cny();
        let accounts = vec![
            (
                AccountId::new(&format!("{prefix}-wallet0"), Kind::Settlement, c),
                Some(1_000),
            ),
            (
                AccountId::new(&format!("{prefix}-wallet1"), Kind::Settlement, c),
                Some(0),
            ),
            (
                AccountId::new(&format!("{prefix}-acq"), Kind::Settlement, c),
                Some(500),
            ),
            (
                AccountId::new(&format!("{prefix}-gw"), Kind::FeeIncome, c),
                None,
            ),
            (
                AccountId::new(&format!("{prefix}-bank"), Kind::Funding, c),
                None,
            ),
        ];
        Case { prefix, accounts }
    }

    fn id(&self, i: usize) -> AccountId {
        self.accounts[i % self.accounts.len()].0.clone()
    }
}

fn transfer(
    id: String,
    debit: AccountId,
    credit: AccountId,
    amount: i64,
    code: Code,
    phase: Phase,
) -> Transfer {
    Transfer {
        id,
        debit,
        credit,
        amount,
        code,
        reference: "p".into(),
        phase,
    }
}

async fn run_case(store: &Store, case: &Case, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut model = Book::default();
    for (id, limit) in &case.accounts {
        model.open_account(id.clone(), *limit);
        store.ledger_open(id, *limit, 1).await.unwrap();
    }
    let mut open: Vec<Transfer> = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        let tid = format!("{}-t{n}", case.prefix);
        if let Op::Payment {
            wallet,
            amount,
            fee,
            pending,
        } = op
        {
            let phase = if *pending {
                Phase::Pending {
                    expires_at_ms: 1_000,
                }
            } else {
                Phase::Single
            };
            let legs = vec![
                transfer(
                    format!("{tid}a"),
                    case.id(*wallet),
                    case.id(2),
                    *amount,
                    Code::Payment,
                    phase.clone(),
                ),
                transfer(
                    format!("{tid}b"),
                    case.id(2),
                    case.id(3),
                    *fee,
                    Code::Fee,
                    phase.clone(),
                ),
                transfer(
                    format!("{tid}c"),
                    case.id(*wallet),
                    case.id(3),
                    1,
                    Code::Rounding,
                    phase,
                ),
            ];
            let in_model = model.apply_all(&legs);
            let in_store = store
                .ledger_apply(legs.clone(), 10 + i64::try_from(n).unwrap())
                .await;
            prop_assert_eq!(
                in_model.is_ok(),
                in_store.is_ok(),
                "{:?}: model {:?}, store {:?}",
                legs,
                in_model,
                in_store
            );
            if in_model.is_ok() {
                open.extend(
                    legs.into_iter()
                        .filter(|t| matches!(t.phase, Phase::Pending { .. })),
                );
            }
            continue;
        }
        let t = match op {
            Op::Payment { .. } => continue,
            Op::Reserve { wallet, amount } => transfer(
                tid,
                case.id(*wallet),
                case.id(2),
                *amount,
                Code::Payment,
                Phase::Pending {
                    expires_at_ms: 1_000,
                },
            ),
            Op::Post { k } | Op::Void { k } => {
                if open.is_empty() {
                    continue;
                }
                let p = open.remove(k % open.len());
                let phase = if matches!(op, Op::Post { .. }) {
                    Phase::Post {
                        pending_id: p.id.clone(),
                    }
                } else {
                    Phase::Void {
                        pending_id: p.id.clone(),
                    }
                };
                transfer(tid, p.debit, p.credit, p.amount, Code::Payment, phase)
            }
            Op::Single { from, to, amount } => transfer(
                tid,
                case.id(*from),
                case.id(*to),
                *amount,
                Code::Correction,
                Phase::Single,
            ),
            Op::TopUp { wallet, amount } => transfer(
                tid,
                case.id(4),
                case.id(*wallet),
                *amount,
                Code::TopUp,
                Phase::Single,
            ),
            Op::Fee { amount } => transfer(
                tid,
                case.id(2),
                case.id(3),
                *amount,
                Code::Fee,
                Phase::Single,
            ),
        };
        let in_model = model.apply(&t);
        let in_store = store
            .ledger_apply(vec![t.clone()], 10 + i64::try_from(n).unwrap())
            .await;
        prop_assert_eq!(
            in_model.is_ok(),
            in_store.is_ok(),
            "{:?}: model {:?}, store {:?}",
            t,
            in_model,
            in_store
        );
        if let Err(e) = &in_store {
            prop_assert!(
                matches!(
                    e,
                    StoreError::LimitExceeded(_) | StoreError::Refused(_) | StoreError::Conflict(_)
                ),
                "{e}"
            );
        }
        if in_model.is_ok() && matches!(t.phase, Phase::Pending { .. }) {
            open.push(t);
        }
    }
    for (id, limit) in &case.accounts {
        let stored = store.ledger_account(id).await.unwrap().unwrap();
        prop_assert_eq!(Some(stored.balance), model.balance(id), "{}", id.key());
        if let Some(limit) = limit {
            prop_assert!(
                stored.balance.exposure() <= i128::from(*limit),
                "{} over its limit",
                id.key()
            );
        }
        // Replaying the transfers rebuilds the balance.
        let replayed = store.ledger_replay(id).await.unwrap();
        // As of before the first transfer: nothing.
        prop_assert_eq!(
            store.ledger_balance_at(id, 0).await.unwrap(),
            ledger::Balance::default()
        );
        prop_assert_eq!(replayed, stored.balance, "replay of {}", id.key());
    }
    books_balance(store).await
}

#[test]
fn random_moves_match_the_model_and_keep_the_invariants() {
    on_every_engine(
        "ledger_props",
        24,
        prop::collection::vec(op(), 1..40),
        |rt, store, prefix, ops| rt.block_on(run_case(store, &Case::new(prefix), &ops)),
    );
}

#[tokio::test]
async fn racing_reservations_cannot_both_take_the_last_headroom() {
    for store in engines("ledger_race").await {
        let wallet = AccountId::new("hipay", Kind::Settlement, cny());
        let acquirer = AccountId::new("kbank", Kind::Settlement, cny());
        store.ledger_open(&wallet, Some(1_000), 1).await.unwrap();
        store.ledger_open(&acquirer, None, 1).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (store, wallet, acquirer) = (store.clone(), wallet.clone(), acquirer.clone());
            tasks.push(tokio::spawn(async move {
                store
                    .ledger_apply(
                        vec![transfer(
                            format!("r{i}"),
                            wallet,
                            acquirer,
                            100,
                            Code::Payment,
                            Phase::Pending { expires_at_ms: 99 },
                        )],
                        5,
                    )
                    .await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => ok += 1,
                Err(StoreError::LimitExceeded(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(ok, 10);
        let b = store
            .ledger_account(&wallet)
            .await
            .unwrap()
            .unwrap()
            .balance;
        assert_eq!(b.debits_pending, 1_000);
        // The gateway's house accounts spread over shards and still sum.
        let fees = AccountId::gateway(Kind::FeeIncome, cny());
        store.ledger_open(&fees, None, 1).await.unwrap();
        let mut all = Vec::new();
        for i in 0..64 {
            all.push(transfer(
                format!("fee{i}"),
                acquirer.clone(),
                fees.clone(),
                3,
                Code::Fee,
                Phase::Single,
            ));
        }
        store.ledger_apply(all, 6).await.unwrap();
        let f = store.ledger_account(&fees).await.unwrap().unwrap().balance;
        assert_eq!(f.credits_posted, 192);
        assert_eq!(store.ledger_balance_at(&fees, 6).await.unwrap(), f);
        assert_eq!(
            store
                .ledger_balance_at(&fees, 5)
                .await
                .unwrap()
                .credits_posted,
            0,
            "the balance at a time before"
        );
        assert_eq!(store.ledger_transfers("p").await.unwrap().len(), 10 + 64);
        // All or none: one bad transfer in a batch leaves everything as it was.
        let before = store.ledger_account(&acquirer).await.unwrap();
        let batch = vec![
            transfer(
                "ok-1".into(),
                acquirer.clone(),
                fees.clone(),
                1,
                Code::Fee,
                Phase::Single,
            ),
            transfer(
                "fee0".into(),
                acquirer.clone(),
                fees.clone(),
                1,
                Code::Fee,
                Phase::Single,
            ),
        ];
        assert!(matches!(
            store.ledger_apply(batch, 7).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.ledger_account(&acquirer).await.unwrap(), before);
        assert!(
            store
                .ledger_transfers("p")
                .await
                .unwrap()
                .iter()
                .all(|t| t.id != "ok-1")
        );
    }
}

/// Payments whose legs cross (one reserves or posts A → B then B → A, the
/// other B → A then A → B), many at once: on PostgreSQL each write takes its
/// accounts in key order, so none waits on another in a cycle (a deadlock
/// costs PostgreSQL a second to find), and the books come out right.
#[tokio::test]
async fn crossing_legs_posted_at_once_never_deadlock() {
    for store in engines("ledger_crossing").await {
        let a = AccountId::new("hipay", Kind::Settlement, cny());
        let b = AccountId::new("kbank", Kind::Settlement, cny());
        store.ledger_open(&a, None, 1).await.unwrap();
        store.ledger_open(&b, None, 1).await.unwrap();
        let pair = |i: usize| {
            let there = transfer(
                format!("x{i}-ab"),
                a.clone(),
                b.clone(),
                7,
                Code::Payment,
                Phase::Pending {
                    expires_at_ms: 1 << 40,
                },
            );
            let back = transfer(
                format!("x{i}-ba"),
                b.clone(),
                a.clone(),
                5,
                Code::Payment,
                Phase::Pending {
                    expires_at_ms: 1 << 40,
                },
            );
            (there, back)
        };
        const N: usize = 60;
        // Reserved at once too, half in each order: a batch of new
        // transfers takes its accounts in key order in its one `UPDATE`.
        let mut tasks = Vec::new();
        for i in 0..N {
            let store = store.clone();
            let (there, back) = pair(i);
            let legs = if i % 2 == 0 {
                vec![there, back]
            } else {
                vec![back, there]
            };
            tasks.push(tokio::spawn(
                async move { store.ledger_apply(legs, 2).await },
            ));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let mut tasks = Vec::new();
        for i in 0..N {
            let store = store.clone();
            let (there, back) = pair(i);
            let post = |t: &Transfer| Transfer {
                id: format!("{}-post", t.id),
                phase: Phase::Post {
                    pending_id: t.id.clone(),
                },
                ..t.clone()
            };
            // Half the payments post their legs in one order, half in the
            // other.
            let legs = if i % 2 == 0 {
                vec![post(&there), post(&back)]
            } else {
                vec![post(&back), post(&there)]
            };
            tasks.push(tokio::spawn(
                async move { store.ledger_apply(legs, 3).await },
            ));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(store.ledger_deadlocks(), 0, "{:?}", store.engine());
        let bal = store.ledger_account(&a).await.unwrap().unwrap().balance;
        assert_eq!(bal.debits_posted, 7 * N as i64);
        assert_eq!(bal.credits_posted, 5 * N as i64);
        assert_eq!((bal.debits_pending, bal.credits_pending), (0, 0));
    }
}

#[tokio::test]
async fn an_expired_reservation_moves_to_suspense_and_is_never_released() {
    for store in engines("ledger_expiry").await {
        let wallet = AccountId::new("hipay", Kind::Settlement, cny());
        let acquirer = AccountId::new("kbank", Kind::Settlement, cny());
        store.ledger_open(&wallet, Some(1_000), 1).await.unwrap();
        store.ledger_open(&acquirer, None, 1).await.unwrap();
        let reserve = |id: &str, expires| {
            transfer(
                id.into(),
                wallet.clone(),
                acquirer.clone(),
                300,
                Code::Payment,
                Phase::Pending {
                    expires_at_ms: expires,
                },
            )
        };
        store
            .ledger_apply(vec![reserve("r-old", 100)], 10)
            .await
            .unwrap();
        store
            .ledger_apply(vec![reserve("r-new", 10_000)], 10)
            .await
            .unwrap();
        assert_eq!(store.ledger_expire_to_suspense(5_000, 10).await.unwrap(), 1);
        // Again: nothing left to move.
        assert_eq!(store.ledger_expire_to_suspense(5_000, 10).await.unwrap(), 0);
        let w = store
            .ledger_account(&wallet)
            .await
            .unwrap()
            .unwrap()
            .balance;
        // The old reservation is held in suspense, still debited from the
        // wallet (never released); the new one is still pending.
        assert_eq!((w.debits_pending, w.debits_posted), (300, 300));
        let suspense = AccountId::gateway(Kind::Suspense, cny());
        let s = store
            .ledger_account(&suspense)
            .await
            .unwrap()
            .unwrap()
            .balance;
        assert_eq!(s.credits_posted, 300);
        for (currency, posted, pending) in store.ledger_trial_balance().await.unwrap() {
            assert_eq!((posted, pending), (0, 0), "{currency}");
        }
    }
}

#[tokio::test]
async fn opening_many_accounts_opens_the_missing_ones_and_keeps_limits() {
    for store in engines("ledger_open_many").await {
        let c = Currency::parse("CNY").unwrap();
        let wallet = AccountId::new("w1", Kind::Settlement, c);
        let fees = AccountId::gateway(Kind::FeeIncome, c);
        store.ledger_open(&wallet, Some(500), 1).await.unwrap();
        // The wallet is open with its cap: opening it again (with another
        // limit) changes nothing; the house account opens in every shard;
        // a repeat in the list is one account.
        store
            .ledger_open_many(
                &[
                    (wallet.clone(), Some(0)),
                    (fees.clone(), None),
                    (fees.clone(), None),
                ],
                2,
            )
            .await
            .unwrap();
        let w = store.ledger_account(&wallet).await.unwrap().unwrap();
        assert_eq!(w.debit_limit, Some(500));
        assert!(store.ledger_account(&fees).await.unwrap().is_some());
        let shards: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM ledger_accounts WHERE id = $1")
            .bind(fees.key())
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(shards.0, store::house_shards(store.engine()));
        store.ledger_open_many(&[], 3).await.unwrap();
    }
}

/// Every currency's posted and pending sums are zero.
async fn books_balance(store: &Store) -> Result<(), TestCaseError> {
    for (currency, posted, pending) in store.ledger_trial_balance().await.expect("trial balance") {
        prop_assert_eq!(
            (posted, pending),
            (0, 0),
            "{} does not sum to zero",
            currency
        );
    }
    Ok(())
}

/// One caller's payment in the fold test: its legs and what it is about.
#[derive(Clone, Debug)]
struct Call {
    wallet: usize,
    amount: i64,
    fee: i64,
    pending: bool,
    /// Reuse the transfer ids of an earlier call (a retried payment).
    repeat: Option<usize>,
    /// Credit an account that was never opened.
    ghost: bool,
}

fn call() -> impl Strategy<Value = Call> {
    (
        0..2usize,
        1..300i64,
        0..50i64,
        any::<bool>(),
        prop::option::weighted(0.1, 0..8usize),
        prop::bool::weighted(0.05),
    )
        .prop_map(|(wallet, amount, fee, pending, repeat, ghost)| Call {
            wallet,
            amount,
            fee: fee.min(amount - 1).max(0),
            pending,
            repeat,
            ghost,
        })
}

/// Many payments at once: on SQLite the writer folds the callers of one
/// commit into one read, one `UPDATE` and one `INSERT`; each caller still
/// gets its own outcome (applied, over its limit, an account missing, its
/// ids used before), nothing of a refused caller is kept, no limit is
/// breached, every balance is its transfers' replay and every currency
/// sums to zero — on both engines.
#[test]
fn concurrent_payments_keep_their_own_outcomes_when_folded() {
    on_every_engine(
        "ledger_fold",
        12,
        (any::<bool>(), prop::collection::vec(call(), 8..64)),
        |rt, store, prefix, (reuse, calls)| {
            rt.block_on(run_fold_case(store, &prefix, reuse, &calls))
        },
    );
}

/// Run `case` for `cases` random inputs of `strategy` on every engine (in
/// schema `schema`), each input with a prefix of its own for its accounts.
fn on_every_engine<S: Strategy>(
    schema: &str,
    cases: u32,
    strategy: S,
    case: impl Fn(&tokio::runtime::Runtime, &Store, String, S::Value) -> Result<(), TestCaseError>,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for store in rt.block_on(engines(schema)) {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let counter = std::sync::atomic::AtomicU64::new(0);
        runner
            .run(&strategy, |value| {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                case(&rt, &store, format!("c{n}"), value)
            })
            .unwrap();
    }
}

/// `reuse`: whether calls may reuse an earlier call's transfer ids.
async fn run_fold_case(
    store: &Store,
    prefix: &str,
    reuse: bool,
    calls: &[Call],
) -> Result<(), TestCaseError> {
    let c = cny();
    let wallets = [
        (
            AccountId::new(&format!("{prefix}-w0"), Kind::Settlement, c),
            1_000,
        ),
        (
            AccountId::new(&format!("{prefix}-w1"), Kind::Settlement, c),
            300,
        ),
    ];
    let acquirer = AccountId::new(&format!("{prefix}-acq"), Kind::Settlement, c);
    let fees = AccountId::gateway(Kind::FeeIncome, c);
    let ghost = AccountId::new(&format!("{prefix}-ghost"), Kind::Settlement, c);
    for (w, cap) in &wallets {
        store.ledger_open(w, Some(*cap), 1).await.unwrap();
    }
    store.ledger_open(&acquirer, Some(0), 1).await.unwrap();
    store.ledger_open(&fees, None, 1).await.unwrap();

    let commits_before = store.writer_commits();
    let undone_before = store.ledger_folds_undone();
    let mut tasks = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        let ids = call.repeat.filter(|r| reuse && *r < i).unwrap_or(i);
        let (wallet, _) = wallets[call.wallet].clone();
        let credit = if call.ghost {
            ghost.clone()
        } else {
            acquirer.clone()
        };
        let phase = if call.pending {
            Phase::Pending {
                expires_at_ms: 1_000_000,
            }
        } else {
            Phase::Single
        };
        let mut legs = vec![transfer(
            format!("{prefix}-{ids}-pay"),
            wallet,
            credit,
            call.amount,
            Code::Payment,
            phase.clone(),
        )];
        if call.fee > 0 {
            legs.push(transfer(
                format!("{prefix}-{ids}-fee"),
                acquirer.clone(),
                fees.clone(),
                call.fee,
                Code::Fee,
                phase,
            ));
        } else {
            legs.push(transfer(
                format!("{prefix}-{ids}-zero"),
                acquirer.clone(),
                fees.clone(),
                1,
                Code::Fee,
                phase,
            ));
        }
        let reference = format!("{prefix}-call{i}");
        for leg in &mut legs {
            leg.reference = reference.clone();
        }
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            (reference, store.ledger_apply(legs, 5).await)
        }));
    }
    let mut applied = 0;
    for t in tasks {
        let (reference, outcome) = t.await.unwrap();
        let kept = store.ledger_transfers(&reference).await.unwrap().len();
        match outcome {
            Ok(()) => {
                applied += 1;
                prop_assert_eq!(kept, 2, "{} was applied but not kept", reference);
            }
            Err(
                StoreError::LimitExceeded(_) | StoreError::NotFound(_) | StoreError::Conflict(_),
            ) => {
                prop_assert_eq!(kept, 0, "{} was refused but kept", reference);
            }
            Err(e) => return Err(TestCaseError::fail(format!("{reference}: {e}"))),
        }
    }
    prop_assert!(applied > 0, "nothing was applied");
    if store.engine() == store::Engine::Sqlite && calls.len() >= 32 {
        prop_assert!(
            store.writer_commits() - commits_before < calls.len() as u64,
            "the writer committed every caller alone"
        );
    }
    // Refusals (limits, missing accounts) are the fold's own to give; only
    // an id used before, which the engine finds, undoes it.
    if !reuse {
        prop_assert_eq!(
            store.ledger_folds_undone(),
            undone_before,
            "a fold without reused ids was undone"
        );
    }
    for (account, cap) in wallets
        .iter()
        .map(|(a, cap)| (a, Some(*cap)))
        .chain([(&acquirer, Some(0)), (&fees, None)])
    {
        let stored = store.ledger_account(account).await.unwrap().unwrap();
        prop_assert_eq!(
            &stored.balance,
            &store.ledger_replay(account).await.unwrap()
        );
        if let Some(cap) = cap {
            let b = &stored.balance;
            prop_assert!(
                b.debits_pending + b.debits_posted - b.credits_posted <= cap,
                "{} is past its limit: {:?}",
                account.key(),
                b
            );
        }
    }
    books_balance(store).await
}

/// PostgreSQL: a book written with 16 shards per house account (before
/// migration 0020) gets the other 48 at zero: every balance stays what it
/// was, new transfers land in any of the 64, and running the migration
/// again changes nothing. (SQLite keeps 16.)
#[tokio::test]
async fn house_accounts_opened_with_sixteen_shards_get_the_rest_at_zero() {
    let migration = include_str!("../../migrations/postgres/0020_house_shards.sql");
    for store in engines("ledger_house_shards").await {
        if store.engine() == store::Engine::Sqlite {
            assert_eq!(store::house_shards(store.engine()), 16);
            continue;
        }
        let c = cny();
        let fees = AccountId::gateway(Kind::FeeIncome, c);
        let wallet = AccountId::new("old-book-wallet", Kind::Settlement, c);
        let acquirer = AccountId::new("old-book-acq", Kind::Settlement, c);
        for a in [&fees, &wallet, &acquirer] {
            store.ledger_open(a, None, 1).await.unwrap();
        }
        let pay = |i: usize| {
            vec![
                transfer(
                    format!("old-{i}-pay"),
                    wallet.clone(),
                    acquirer.clone(),
                    1_000,
                    Code::Payment,
                    Phase::Single,
                ),
                transfer(
                    format!("old-{i}-fee"),
                    acquirer.clone(),
                    fees.clone(),
                    7,
                    Code::Fee,
                    Phase::Single,
                ),
            ]
        };
        for i in 0..20 {
            store.ledger_apply(pay(i), 2).await.unwrap();
        }
        // The book as 16 shards left it: fold the higher shards' sums into
        // shard 0 and drop them.
        sqlx::query(
            "UPDATE ledger_accounts SET \
               debits_posted = (SELECT SUM(debits_posted) FROM ledger_accounts s \
                 WHERE s.id = ledger_accounts.id AND (s.shard = 0 OR s.shard >= 16)), \
               credits_posted = (SELECT SUM(credits_posted) FROM ledger_accounts s \
                 WHERE s.id = ledger_accounts.id AND (s.shard = 0 OR s.shard >= 16)) \
             WHERE id = $1 AND shard = 0",
        )
        .bind(fees.key())
        .execute(store.pool())
        .await
        .unwrap();
        sqlx::query("DELETE FROM ledger_accounts WHERE id = $1 AND shard >= 16")
            .bind(fees.key())
            .execute(store.pool())
            .await
            .unwrap();
        let before = store.ledger_account(&fees).await.unwrap().unwrap().balance;
        assert_eq!(before.credits_posted, 20 * 7);

        for _ in 0..2 {
            sqlx::query(migration).execute(store.pool()).await.unwrap();
        }
        let shards: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT shard, debits_posted + credits_posted FROM ledger_accounts WHERE id = $1 ORDER BY shard",
        )
        .bind(fees.key())
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(shards.len() as i64, store::house_shards(store.engine()));
        assert!(shards.iter().all(|(s, sums)| *s < 16 || *sums == 0));
        let settled: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM ledger_accounts WHERE id = $1")
            .bind(wallet.key())
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(settled.0, 1, "a participant's account keeps one row");
        assert_eq!(
            store.ledger_account(&fees).await.unwrap().unwrap().balance,
            before
        );

        for i in 20..60 {
            store.ledger_apply(pay(i), 3).await.unwrap();
        }
        let after = store.ledger_account(&fees).await.unwrap().unwrap().balance;
        assert_eq!(after.credits_posted, 60 * 7);
        assert_eq!(after, store.ledger_replay(&fees).await.unwrap());
        for (currency, posted, pending) in store.ledger_trial_balance().await.unwrap() {
            assert_eq!((posted, pending), (0, 0), "{currency}");
        }
    }
}

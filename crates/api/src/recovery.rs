//! Recovery (SPEC §2.6, §6): the background work that finishes what a
//! request left open — after a timeout, a `U`, a crash, or a node that
//! died — and tells the participants the results.
//!
//! - **The resolver** finds every payment in an intermediate state that
//!   has been left alone for `min_age_ms` (the node running it has given
//!   up on it by then), and does what `payment::recovery` says of its
//!   state: fail what never reached the downstream, inquire (with
//!   backoff) what did, cancel once the inquiry budget is used up, and
//!   park it in `exception` with its reservation in suspense once even the
//!   cancel budget is used up. The payments are split into shards by id;
//!   a node works on a shard only while it holds the shard's lease, so two
//!   nodes never work on one payment at once, and the shards of a node
//!   that died are taken over when its leases expire.
//! - **Refunds** left `pending` or `unknown` are sent again (a refund is
//!   idempotent by its request id) until the wallet says yes or no.
//! - **The notifier** sends the notifications outbox (written with each
//!   final state) at least once, with backoff, and parks what keeps
//!   failing as `dead` for the operator to replay.
//!
//! Every ledger step here is computed from what the ledger holds already
//! (which reservations are still open, which fee legs exist), so doing it
//! twice — two nodes, or a node that crashed half-way — changes nothing.

use std::time::Duration;

use connector::model::{self, Call, Message};
use futures_util::StreamExt;
use ledger::{AccountId, Code, Phase, Transfer};
use money::Currency;
use payment::{Event, Mode, Recovery, State as PayState};
use serde::{Deserialize, Serialize};
use store::{PaymentRecord, StoreError, TransferRecord};

use crate::problem::ApiError;
use crate::{AppState, now_ms};

/// `[payments.recovery]`: the resolver's and the notifier's limits.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecoveryConfig {
    /// How often a node looks for work.
    pub interval_ms: u64,
    /// How long a payment is left to the node running it before the
    /// resolver takes it up: longer than a request's whole callback
    /// budget.
    pub min_age_ms: i64,
    /// Inquiries about an unknown outcome before the payment is cancelled.
    pub inquiry_budget: usize,
    /// Cancels sent before the payment goes to `exception`.
    pub cancel_budget: usize,
    /// The wait before retry n is `backoff_base_ms × 2ⁿ`, at most
    /// `backoff_max_ms` (and never less than `min_age_ms`).
    pub backoff_base_ms: i64,
    pub backoff_max_ms: i64,
    /// The resolver's batches: payments are split by id into this many
    /// shards, each worked by the node holding its lease.
    pub shards: u32,
    /// How long a lease lasts unless renewed (a dead node's work is taken
    /// over after this).
    pub lease_ttl_ms: i64,
    /// Most payments, refunds or notifications one sweep takes up.
    pub batch: i64,
    /// Downstream calls one sweep has in flight at once.
    pub concurrency: usize,
    /// Attempts at a notification before it is `dead`.
    pub notify_attempts: i64,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            interval_ms: 1_000,
            min_age_ms: 30_000,
            inquiry_budget: 5,
            cancel_budget: 5,
            backoff_base_ms: 5_000,
            backoff_max_ms: 600_000,
            shards: 4,
            lease_ttl_ms: 30_000,
            batch: 200,
            concurrency: 8,
            notify_attempts: 10,
        }
    }
}

impl RecoveryConfig {
    pub fn check(&self) -> Result<(), String> {
        let bad = |what: &str| Err(format!("[payments.recovery] {what}"));
        if self.interval_ms == 0 || self.interval_ms > 3_600_000 {
            return bad("interval_ms is 1 to 3600000");
        }
        if !(0..=86_400_000).contains(&self.min_age_ms) {
            return bad("min_age_ms is 0 to 86400000");
        }
        if !(1..=100).contains(&self.inquiry_budget) || !(1..=100).contains(&self.cancel_budget) {
            return bad("inquiry_budget and cancel_budget are 1 to 100");
        }
        if self.backoff_base_ms < 1 || self.backoff_max_ms < self.backoff_base_ms {
            return bad("backoff_base_ms is at least 1 and at most backoff_max_ms");
        }
        if !(1..=256).contains(&self.shards) {
            return bad("shards is 1 to 256");
        }
        if self.lease_ttl_ms < 1_000 {
            return bad("lease_ttl_ms is at least 1000");
        }
        if !(1..=store::PAYMENT_LIST_MAX).contains(&self.batch) {
            return bad("batch is 1 to 1000");
        }
        if !(1..=256).contains(&self.concurrency) {
            return bad("concurrency is 1 to 256");
        }
        if !(1..=1_000).contains(&self.notify_attempts) {
            return bad("notify_attempts is 1 to 1000");
        }
        Ok(())
    }

    /// The wait after `retries` inconclusive answers.
    pub fn backoff_ms(&self, retries: usize) -> i64 {
        let shift = u32::try_from(retries.min(30)).unwrap_or(30);
        self.backoff_base_ms
            .saturating_mul(1i64 << shift)
            .min(self.backoff_max_ms)
    }
}

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SweepReport {
    /// The shards this node held.
    pub shards: Vec<u32>,
    /// Payments taken up, and what became of them (new state → count).
    pub payments: std::collections::BTreeMap<String, u64>,
    /// Payments found but waiting for their backoff.
    pub waiting: u64,
    /// Refunds sent again, and what became of them.
    pub refunds: std::collections::BTreeMap<String, u64>,
    pub notifications_sent: u64,
    pub notifications_retried: u64,
    pub notifications_dead: u64,
    /// Work that failed here (logged); it is taken up again next sweep.
    pub errors: u64,
}

/// The shard of a payment id (FNV-1a: stable across nodes and versions).
pub fn shard_of(id: &str, shards: u32) -> u32 {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    u32::try_from(hash % u64::from(shards.max(1))).unwrap_or(0)
}

/// Run the sweeps every `interval_ms` until the task is aborted.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_millis(state.payments.recovery.interval_ms);
        // Cycles close once a day: looking for one every minute is plenty.
        let close_every = Duration::from_secs(60);
        let mut closed_at: Option<std::time::Instant> = None;
        loop {
            tokio::time::sleep(every).await;
            if crate::faults::hung() {
                continue;
            }
            // Rules or a sanctions list loaded on another node.
            if let Err(e) = state.risk_rules.refresh(&state.store).await {
                tracing::warn!(error = %e, "reloading the risk rules failed");
            }
            if closed_at.is_none_or(|t| t.elapsed() >= close_every) {
                closed_at = Some(std::time::Instant::now());
                if let Err(e) = crate::clearing::close_due(&state).await {
                    tracing::warn!(error = %e.detail, "the clearing close job failed");
                }
            }
            match sweep(&state).await {
                Ok(r) if r.errors > 0 => {
                    tracing::warn!(errors = r.errors, "recovery sweep had errors")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e.detail, "recovery sweep failed"),
            }
        }
    })
}

/// Give this node's leases back at once (a clean shutdown), rather than
/// after their TTL.
pub async fn release_leases(state: &AppState) {
    for shard in 0..state.payments.recovery.shards {
        let _ = state
            .store
            .lease_release(&format!("resolver:{shard}"), &state.node_id)
            .await;
    }
    let _ = state.store.lease_release("notifier", &state.node_id).await;
    let _ = state
        .store
        .lease_release("clearing-close", &state.node_id)
        .await;
}

/// One pass of every kind of recovery work this node holds the lease of.
pub async fn sweep(state: &AppState) -> Result<SweepReport, ApiError> {
    let config = &state.payments.recovery;
    let fail = |e: StoreError| ApiError::internal(&e);
    let node = state.node_id.as_str();
    let now = now_ms();
    let mut report = SweepReport::default();
    for shard in 0..config.shards {
        if state
            .store
            .lease_acquire(&format!("resolver:{shard}"), node, config.lease_ttl_ms, now)
            .await
            .map_err(fail)?
        {
            report.shards.push(shard);
        }
    }
    if !report.shards.is_empty() {
        let before = now.saturating_sub(config.min_age_ms);
        let candidates: Vec<PaymentRecord> = state
            .store
            .payments_to_recover(before, config.batch)
            .await
            .map_err(fail)?
            .into_iter()
            .filter(|r| {
                report
                    .shards
                    .contains(&shard_of(&r.payment.id, config.shards))
            })
            .collect();
        let outcomes: Vec<Result<Option<PayState>, ApiError>> =
            futures_util::stream::iter(candidates)
                .map(|record| async move { recover_payment(state, record).await })
                .buffer_unordered(config.concurrency)
                .collect()
                .await;
        for outcome in outcomes {
            match outcome {
                Ok(Some(s)) => *report.payments.entry(s.as_str().into()).or_default() += 1,
                Ok(None) => report.waiting += 1,
                Err(e) => {
                    report.errors += 1;
                    tracing::warn!(error = %e.detail, "recovering a payment failed");
                }
            }
        }
        let refunds: Vec<store::RefundRecord> = state
            .store
            .refunds_open(before, config.batch)
            .await
            .map_err(fail)?
            .into_iter()
            .filter(|r| {
                report
                    .shards
                    .contains(&shard_of(&r.payment_id, config.shards))
            })
            .collect();
        let outcomes: Vec<Result<Option<String>, ApiError>> = futures_util::stream::iter(refunds)
            .map(|refund| async move { crate::refunds::recover(state, refund).await })
            .buffer_unordered(config.concurrency)
            .collect()
            .await;
        for outcome in outcomes {
            match outcome {
                Ok(Some(s)) => *report.refunds.entry(s).or_default() += 1,
                Ok(None) => report.waiting += 1,
                Err(e) => {
                    report.errors += 1;
                    tracing::warn!(error = %e.detail, "recovering a refund failed");
                }
            }
        }
    }
    if state
        .store
        .lease_acquire("notifier", node, config.lease_ttl_ms, now)
        .await
        .map_err(fail)?
    {
        notify_due(state, &mut report).await?;
    }
    Ok(report)
}

/// The downstream call a payment made: (participant, call, outbound
/// purpose).
fn downstream_of(record: &PaymentRecord) -> (&str, Call, String) {
    let p = &record.payment;
    match p.mode {
        Mode::Mpm => (&p.acquirer, Call::Pay, format!("pay:{}", p.id)),
        Mode::Cpm => (&p.wallet, Call::Authorize, format!("authorize:{}", p.id)),
    }
}

/// Move a payment by `event`; `None` when another node (or the request
/// that runs it) moved it first: the caller leaves it.
async fn step(
    state: &AppState,
    record: &PaymentRecord,
    version: i64,
    event: Event,
    detail: &str,
) -> Result<Option<i64>, ApiError> {
    match state
        .store
        .payment_transition(
            &record.payment.id,
            version,
            &event,
            detail,
            &state.node_id,
            now_ms(),
        )
        .await
    {
        Ok(entry) => Ok(Some(entry.seq)),
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(e) => Err(ApiError::internal(&e)),
    }
}

/// Finish or reverse one payment as its state requires. `Ok(None)`: not
/// due yet (backoff), or moved by someone else meanwhile.
pub async fn recover_payment(
    state: &AppState,
    record: PaymentRecord,
) -> Result<Option<PayState>, ApiError> {
    let config = &state.payments.recovery;
    let fail = |e: StoreError| ApiError::internal(&e);
    let history = state
        .store
        .payment_history(&record.payment.id)
        .await
        .map_err(fail)?;
    let steps: Vec<(PayState, Event, PayState)> = history
        .iter()
        .filter_map(|h| Some((h.from?, h.event?, h.to)))
        .collect();
    let retries = payment::retries(&steps);
    let wait = config.backoff_ms(retries).max(config.min_age_ms);
    if now_ms().saturating_sub(record.updated_at_ms) < wait && retries > 0 {
        return Ok(None);
    }
    let id = record.payment.id.clone();
    let version = record.version;
    let moved = |v: Option<i64>, to: PayState| v.map(|_| to);
    match payment::recovery(record.state) {
        Recovery::Nothing | Recovery::AwaitOperator => Ok(None),
        Recovery::Fail | Recovery::VoidAndFail => {
            // Nothing was sent downstream. The state moves first: a request
            // still running it then cannot send it (its next move loses the
            // compare-and-set), and only then is the reservation given back.
            let v = step(
                state,
                &record,
                version,
                Event::Abandoned,
                "recovery: abandoned",
            )
            .await?;
            if v.is_some() {
                books(state, &id, Books::Void).await?;
                release_order(state, &record).await;
            }
            Ok(moved(v, PayState::Failed))
        }
        Recovery::Inquire => {
            let (target, call, purpose) = downstream_of(&record);
            let Some(peer) = crate::payments::peer(state, target).await? else {
                return Err(ApiError::internal(&format!(
                    "participant {target} vanished"
                )));
            };
            let original = crate::payments::outbound_id(state, &purpose, target, call, &id).await?;
            let inquiry_id = crate::payments::outbound_id(
                state,
                &format!("inquiry:{id}:{version}"),
                target,
                Call::Inquiry,
                &id,
            )
            .await?;
            let message = Message::Inquiry(model::Inquiry {
                request_id: inquiry_id,
                payment_id: id.clone(),
                call,
                original_request_id: original,
            });
            let reply = state.connectors.call(&peer, &message).await;
            let (status, code) = match &reply {
                Ok(r) => (r.outcome.status, r.outcome.code.clone()),
                Err(e) => (model::Status::U, e.to_string()),
            };
            let detail = format!("inquiry: {} {code}", status.as_str());
            match status {
                model::Status::S => {
                    books(state, &id, Books::Post).await?;
                    let v = step(state, &record, version, Event::DownstreamOk, &detail).await?;
                    Ok(moved(v, PayState::Succeeded))
                }
                // "Not found" may still arrive: it is no answer.
                model::Status::F if code != "NOT_FOUND" => {
                    books(state, &id, Books::Void).await?;
                    let v =
                        step(state, &record, version, Event::DownstreamDeclined, &detail).await?;
                    if v.is_some() {
                        release_order(state, &record).await;
                    }
                    Ok(moved(v, PayState::Failed))
                }
                _ => {
                    let mut version = version;
                    if record.state != PayState::Unknown {
                        let Some(v) =
                            step(state, &record, version, Event::DownstreamUnknown, &detail)
                                .await?
                        else {
                            return Ok(None);
                        };
                        version = v;
                    }
                    // The inquiries made so far: this one and the
                    // inconclusive ones before it.
                    let made = if record.state == PayState::Unknown {
                        retries + 1
                    } else {
                        1
                    };
                    if made >= config.inquiry_budget {
                        let v = step(
                            state,
                            &record,
                            version,
                            Event::InquiryBudgetExhausted,
                            &format!("{detail}; {made} inquiries: cancelling"),
                        )
                        .await?;
                        Ok(moved(v, PayState::Cancelling))
                    } else if record.state == PayState::Unknown {
                        let v = step(state, &record, version, Event::DownstreamUnknown, &detail)
                            .await?;
                        Ok(moved(v, PayState::Unknown))
                    } else {
                        Ok(Some(PayState::Unknown))
                    }
                }
            }
        }
        Recovery::ResendCancel => {
            let confirmed = send_cancel(state, &record).await?;
            match confirmed {
                Ok(()) => {
                    books(state, &id, Books::Reverse).await?;
                    let v = step(
                        state,
                        &record,
                        version,
                        Event::CancelConfirmed,
                        "recovery: cancel confirmed",
                    )
                    .await?;
                    if v.is_some() {
                        release_order(state, &record).await;
                    }
                    Ok(moved(v, PayState::Cancelled))
                }
                Err(detail) if retries + 1 >= config.cancel_budget => {
                    // Even the cancel stays unknown: hold the reservation
                    // in suspense until the operator resolves it.
                    books(state, &id, Books::Suspense).await?;
                    let v = step(
                        state,
                        &record,
                        version,
                        Event::CancelBudgetExhausted,
                        &format!("{detail}; {} cancels: exception", retries + 1),
                    )
                    .await?;
                    if v.is_some() {
                        tracing::warn!(payment = %id, "payment moved to exception: the operator resolves it");
                    }
                    Ok(moved(v, PayState::Exception))
                }
                Err(detail) => {
                    let v = step(state, &record, version, Event::CancelFailed, &detail).await?;
                    Ok(moved(v, PayState::Cancelling))
                }
            }
        }
    }
}

/// Send (again) the cancel of the downstream call a payment made, under
/// the one request id its cancel has. `Ok(Err(detail))`: not confirmed.
pub(crate) async fn send_cancel(
    state: &AppState,
    record: &PaymentRecord,
) -> Result<Result<(), String>, ApiError> {
    let id = &record.payment.id;
    let (target, call, purpose) = downstream_of(record);
    let amount = match record.payment.mode {
        Mode::Mpm => record.payment.merchant_amount,
        Mode::Cpm => record
            .payment
            .payer_amount
            .unwrap_or(record.payment.merchant_amount),
    };
    let Some(peer) = crate::payments::peer(state, target).await? else {
        return Err(ApiError::internal(&format!(
            "participant {target} vanished"
        )));
    };
    let original = crate::payments::outbound_id(state, &purpose, target, call, id).await?;
    let request =
        crate::payments::outbound_id(state, &format!("cancel:{id}"), target, Call::Cancel, id)
            .await?;
    let message = Message::Cancel(model::Cancel {
        request_id: request,
        payment_id: id.clone(),
        call,
        original_request_id: original,
        amount,
    });
    Ok(match state.connectors.call(&peer, &message).await {
        Ok(r) if r.outcome.status == model::Status::S => Ok(()),
        Ok(r) => Err(format!(
            "cancel: {} {}",
            r.outcome.status.as_str(),
            r.outcome.code
        )),
        Err(e) => Err(format!("cancel not sent: {e}")),
    })
}

async fn release_order(state: &AppState, record: &PaymentRecord) {
    if let Some(order) = &record.payment.order_id {
        let _ = state
            .store
            .order_release(&record.payment.acquirer, order, &record.payment.id)
            .await;
    }
}

/// What to make of a payment's books.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Books {
    /// It succeeded: post its open reservations, release what suspense
    /// holds of it to the payee's side, and post its fees.
    Post,
    /// It did not happen: void its open reservations and give back what
    /// suspense holds of it.
    Void,
    /// Unknown for good: its open reservations go to suspense.
    Suspense,
    /// Reversed: void what is open, and reverse by new transfers
    /// (corrections) everything that was posted.
    Reverse,
}

fn account(key: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(key).ok_or_else(|| ApiError::internal(&format!("account {key}")))
}

/// Bring a payment's books to `what`, from what the ledger holds now:
/// done twice, the second time finds nothing left to do.
pub(crate) async fn books(state: &AppState, id: &str, what: Books) -> Result<(), ApiError> {
    // A second writer (another node) may get in between the read and the
    // write: read again and retry, and the retry finds it done.
    for _ in 0..3 {
        match books_once(state, id, what).await {
            Err(Retry::Conflict) => continue,
            Err(Retry::Fault(e)) => return Err(e),
            Ok(()) => return Ok(()),
        }
    }
    Err(ApiError::internal(&format!(
        "the books of {id} kept changing"
    )))
}

enum Retry {
    Conflict,
    Fault(ApiError),
}

impl From<ApiError> for Retry {
    fn from(e: ApiError) -> Retry {
        Retry::Fault(e)
    }
}

async fn books_once(state: &AppState, id: &str, what: Books) -> Result<(), Retry> {
    let store_fail = |e: StoreError| match e {
        StoreError::Conflict(_) => Retry::Conflict,
        other => Retry::Fault(ApiError::internal(&other)),
    };
    let transfers = state.store.ledger_transfers(id).await.map_err(store_fail)?;
    let exists = |tid: &str| transfers.iter().any(|t| t.id == tid);
    // The payment's own reservations (a refund's have ids of its own).
    let own = |t: &&TransferRecord| t.id.starts_with(&format!("{id}:"));
    let open: Vec<&TransferRecord> = transfers
        .iter()
        .filter(own)
        .filter(|t| t.phase == "pending" && t.open)
        .collect();
    // Suspense holds not yet released.
    let held: Vec<&TransferRecord> = transfers
        .iter()
        .filter(own)
        .filter(|t| t.id.ends_with(":suspense") && !exists(&format!("{}:released", t.id)))
        .collect();
    let now = now_ms();
    let mut batch: Vec<Transfer> = Vec::new();
    let close = |t: &TransferRecord, post: bool| -> Result<Transfer, ApiError> {
        Ok(Transfer {
            id: format!("{}:{}", t.id, if post { "post" } else { "void" }),
            debit: account(&t.debit)?,
            credit: account(&t.credit)?,
            amount: t.amount,
            code: code_of(&t.code),
            reference: t.reference.clone(),
            phase: if post {
                Phase::Post {
                    pending_id: t.id.clone(),
                }
            } else {
                Phase::Void {
                    pending_id: t.id.clone(),
                }
            },
        })
    };
    // A hold's release: to the reservation's payee (success) or back to
    // its payer (failure).
    let release = |hold: &TransferRecord, to_payee: bool| -> Result<Transfer, ApiError> {
        let pending_id = hold.id.trim_end_matches(":suspense");
        let original = transfers
            .iter()
            .find(|t| t.id == pending_id)
            .ok_or_else(|| ApiError::internal(&format!("no reservation {pending_id}")))?;
        Ok(Transfer {
            id: format!("{}:released", hold.id),
            debit: account(&hold.credit)?,
            credit: account(if to_payee {
                &original.credit
            } else {
                &original.debit
            })?,
            amount: hold.amount,
            code: Code::Suspense,
            reference: hold.reference.clone(),
            phase: Phase::Single,
        })
    };
    match what {
        Books::Post => {
            for t in &open {
                batch.push(close(t, true)?);
            }
            for h in &held {
                batch.push(release(h, true)?);
            }
            let record = state
                .store
                .payment_get(id)
                .await
                .map_err(store_fail)?
                .ok_or_else(|| Retry::Fault(ApiError::internal(&format!("no payment {id}"))))?;
            let terms = state
                .store
                .payment_terms_get(id)
                .await
                .map_err(store_fail)?
                .ok_or_else(|| Retry::Fault(ApiError::internal(&format!("no terms of {id}"))))?;
            let m: Currency = record.payment.merchant_amount.currency;
            for fee in crate::payments::fee_legs(
                id,
                &record.payment.wallet,
                &record.payment.acquirer,
                m,
                terms.fee_gateway.saturating_add(terms.fee_scheme),
                terms.fee_wallet,
            ) {
                if !exists(&fee.id) {
                    batch.push(fee);
                }
            }
        }
        Books::Void => {
            for t in &open {
                batch.push(close(t, false)?);
            }
            for h in &held {
                batch.push(release(h, false)?);
            }
        }
        Books::Suspense => {
            for t in &open {
                if !state
                    .store
                    .ledger_hold_in_suspense(t, now)
                    .await
                    .map_err(store_fail)?
                {
                    return Err(Retry::Conflict);
                }
            }
        }
        Books::Reverse => {
            for t in &open {
                batch.push(close(t, false)?);
            }
            let posted = |t: &TransferRecord| {
                t.phase == "single"
                    || (t.phase == "pending" && !t.open && exists(&format!("{}:post", t.id)))
            };
            for t in transfers.iter().filter(own) {
                let reversal = format!("{}:cancel", t.id);
                if posted(t) && !t.id.ends_with(":cancel") && !exists(&reversal) {
                    batch.push(Transfer {
                        id: reversal,
                        debit: account(&t.credit)?,
                        credit: account(&t.debit)?,
                        amount: t.amount,
                        code: Code::Correction,
                        reference: t.reference.clone(),
                        phase: Phase::Single,
                    });
                }
            }
        }
    }
    if batch.is_empty() {
        return Ok(());
    }
    // Voids first: a reversal may need the headroom a void gives back.
    let (closes, rest): (Vec<Transfer>, Vec<Transfer>) = batch
        .into_iter()
        .partition(|t| matches!(t.phase, Phase::Void { .. } | Phase::Post { .. }));
    for part in [closes, rest] {
        if part.is_empty() {
            continue;
        }
        state
            .store
            .ledger_apply(part, now)
            .await
            .map_err(store_fail)?;
    }
    Ok(())
}

fn code_of(code: &str) -> Code {
    Code::parse(code).unwrap_or(Code::Correction)
}

/// Send the notifications due, and record each attempt.
async fn notify_due(state: &AppState, report: &mut SweepReport) -> Result<(), ApiError> {
    let config = &state.payments.recovery;
    let due = state
        .store
        .notifications_due(now_ms(), config.batch)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let results: Vec<Result<Option<Attempt>, ApiError>> = futures_util::stream::iter(due)
        .map(|n| async move {
            let sent = match crate::payments::peer(state, &n.participant).await? {
                None => Err(format!("participant {} cannot be called", n.participant)),
                Some(peer) => {
                    let message = Message::Notify(model::Notify {
                        request_id: n.id.clone(),
                        payment_id: n.payment_id.clone(),
                        state: n.payment_state.as_str().to_string(),
                        amount: n.amount,
                    });
                    match state.connectors.call(&peer, &message).await {
                        Ok(r) if r.outcome.status == model::Status::S => Ok(()),
                        Ok(r) => Err(format!(
                            "{} {}: {}",
                            r.outcome.status.as_str(),
                            r.outcome.code,
                            r.outcome.message
                        )),
                        Err(e) => Err(e.to_string()),
                    }
                }
            };
            let dead = n.attempts.saturating_add(1) >= config.notify_attempts;
            let now = now_ms();
            let next =
                now.saturating_add(config.backoff_ms(usize::try_from(n.attempts).unwrap_or(0)));
            let (outcome, attempt) = match &sent {
                Ok(()) => (Ok(()), Attempt::Sent),
                Err(why) if dead => (Err((why.as_str(), next, true)), Attempt::Dead),
                Err(why) => (Err((why.as_str(), next, false)), Attempt::Retried),
            };
            if let Err(why) = &sent {
                tracing::info!(notification = %n.id, error = %why, dead, "a notification was not taken");
            }
            let recorded = state
                .store
                .notification_attempted(&n.id, outcome, now)
                .await
                .map_err(|e| ApiError::internal(&e))?;
            Ok(recorded.then_some(attempt))
        })
        .buffer_unordered(config.concurrency)
        .collect()
        .await;
    for r in results {
        match r {
            Ok(Some(Attempt::Sent)) => report.notifications_sent += 1,
            Ok(Some(Attempt::Retried)) => report.notifications_retried += 1,
            Ok(Some(Attempt::Dead)) => report.notifications_dead += 1,
            Ok(None) => {}
            Err(e) => {
                report.errors += 1;
                tracing::warn!(error = %e.detail, "sending a notification failed");
            }
        }
    }
    Ok(())
}

enum Attempt {
    Sent,
    Retried,
    Dead,
}

// The operator's side: exceptions, notifications, a sweep now.

/// An exception waiting for the operator.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExceptionOut {
    pub payment: crate::payments::PaymentOut,
    /// The last thing that happened to it (the unanswered cancel).
    pub detail: String,
    /// What its reservation holds in suspense, per currency (minor units).
    pub in_suspense: std::collections::BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExceptionList {
    pub exceptions: Vec<ExceptionOut>,
}

/// `GET /v1/admin/exceptions`: payments whose outcome stayed unknown
/// through the inquiry and cancel budgets, oldest first.
#[utoipa::path(
    get,
    path = "/v1/admin/exceptions",
    tag = "recovery",
    security(("bearer" = [])),
    params(("limit" = Option<i64>, Query, description = "At most this many (1 to 1000, default 100)")),
    responses(
        (status = 200, body = ExceptionList),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 403, body = crate::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn exceptions(
    axum::extract::State(state): axum::extract::State<AppState>,
    crate::auth::OperatorOnly(_): crate::auth::OperatorOnly,
    axum::extract::Query(q): axum::extract::Query<LimitQuery>,
) -> Result<axum::Json<ExceptionList>, ApiError> {
    let fail = |e: StoreError| ApiError::internal(&e);
    let limit = q.limit()?;
    let mut out = Vec::new();
    for record in state
        .store
        .payments_in_state(PayState::Exception, limit)
        .await
        .map_err(fail)?
    {
        let detail = state
            .store
            .payment_history(&record.payment.id)
            .await
            .map_err(fail)?
            .last()
            .map(|h| h.detail.clone())
            .unwrap_or_default();
        let mut in_suspense = std::collections::BTreeMap::new();
        let transfers = state
            .store
            .ledger_transfers(&record.payment.id)
            .await
            .map_err(fail)?;
        for t in &transfers {
            if t.id.ends_with(":suspense")
                && !transfers
                    .iter()
                    .any(|r| r.id == format!("{}:released", t.id))
            {
                *in_suspense.entry(t.currency.clone()).or_insert(0) += t.amount;
            }
        }
        out.push(ExceptionOut {
            payment: crate::payments::render(&state, &record).await?,
            detail,
            in_suspense,
        });
    }
    Ok(axum::Json(ExceptionList { exceptions: out }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub payment_id: Option<String>,
}

impl LimitQuery {
    fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(100),
            Some(n) if (1..=1_000).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::new("FIELD_INVALID", "1 to 1000").field("limit")),
        }
    }
}

/// `POST /v1/admin/payments/{id}/resolve`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveIn {
    /// `succeeded` (the payment stands: what suspense holds goes to the
    /// payee and the fees are posted) or `cancelled` (reversed: suspense
    /// gives it back to the payer, anything posted is reversed).
    pub outcome: String,
    /// Why, for the history (1 to 256 characters).
    pub reason: String,
}

/// Resolve an exception, as the operator found it out of band.
#[utoipa::path(
    post,
    path = "/v1/admin/payments/{id}/resolve",
    tag = "recovery",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The payment id")),
    request_body = ResolveIn,
    responses(
        (status = 200, body = crate::payments::PaymentOut),
        (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn resolve(
    axum::extract::State(state): axum::extract::State<AppState>,
    crate::auth::OperatorOnly(who): crate::auth::OperatorOnly,
    axum::extract::Path(id): axum::extract::Path<String>,
    crate::json::Json(body): crate::json::Json<ResolveIn>,
) -> Result<axum::Json<crate::payments::PaymentOut>, ApiError> {
    let fail = |e: StoreError| ApiError::internal(&e);
    let (event, books_to) = match body.outcome.as_str() {
        "succeeded" => (Event::ResolveSucceeded, Books::Post),
        "cancelled" => (Event::ResolveCancelled, Books::Reverse),
        _ => {
            return Err(
                ApiError::new("FIELD_INVALID", "`succeeded` or `cancelled`").field("outcome")
            );
        }
    };
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 256 || reason.chars().any(char::is_control) {
        return Err(ApiError::new("FIELD_INVALID", "1 to 256 characters").field("reason"));
    }
    let record = state
        .store
        .payment_get(&id)
        .await
        .map_err(fail)?
        .ok_or_else(|| ApiError::new("NOT_FOUND", format!("no payment {id}")))?;
    if record.state != PayState::Exception {
        return Err(ApiError::new(
            "STATE_CONFLICT",
            format!("payment {id} is {}, not exception", record.state),
        ));
    }
    books(&state, &id, books_to).await?;
    match state
        .store
        .payment_transition(
            &id,
            record.version,
            &event,
            &format!("resolved by operator token {}: {reason}", who.token_id),
            &state.node_id,
            now_ms(),
        )
        .await
    {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::new(
                "STATE_CONFLICT",
                format!("payment {id} changed meanwhile"),
            ));
        }
        Err(e) => return Err(fail(e)),
    }
    if event == Event::ResolveCancelled {
        release_order(&state, &record).await;
    }
    let record = state
        .store
        .payment_get(&id)
        .await
        .map_err(fail)?
        .ok_or_else(|| ApiError::internal(&"vanished"))?;
    Ok(axum::Json(crate::payments::render(&state, &record).await?))
}

/// One notification of the outbox.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationOut {
    pub id: String,
    pub payment_id: String,
    pub participant: String,
    pub payment_state: String,
    /// `pending`, `sent` or `dead`.
    pub status: String,
    pub attempts: i64,
    pub next_at: String,
    pub last_error: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<store::Notification> for NotificationOut {
    fn from(n: store::Notification) -> Self {
        NotificationOut {
            id: n.id,
            payment_id: n.payment_id,
            participant: n.participant,
            payment_state: n.payment_state.as_str().into(),
            status: n.status.as_str().into(),
            attempts: n.attempts,
            next_at: crate::rfc3339(n.next_at_ms),
            last_error: n.last_error,
            created_at: crate::rfc3339(n.created_at_ms),
            updated_at: crate::rfc3339(n.updated_at_ms),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationList {
    pub notifications: Vec<NotificationOut>,
}

/// `GET /v1/admin/notifications`: the outbox, newest first; `status=dead`
/// lists the ones to replay.
#[utoipa::path(
    get,
    path = "/v1/admin/notifications",
    tag = "recovery",
    security(("bearer" = [])),
    params(
        ("status" = Option<String>, Query, description = "`pending`, `sent` or `dead`"),
        ("payment_id" = Option<String>, Query, description = "Of one payment"),
        ("limit" = Option<i64>, Query, description = "At most this many (1 to 1000, default 100)")
    ),
    responses(
        (status = 200, body = NotificationList),
        (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn notifications(
    axum::extract::State(state): axum::extract::State<AppState>,
    crate::auth::OperatorOnly(_): crate::auth::OperatorOnly,
    axum::extract::Query(q): axum::extract::Query<LimitQuery>,
) -> Result<axum::Json<NotificationList>, ApiError> {
    let limit = q.limit()?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(store::NotificationStatus::parse(s).ok_or_else(|| {
            ApiError::new("FIELD_INVALID", "`pending`, `sent` or `dead`").field("status")
        })?),
    };
    if q.payment_id
        .as_ref()
        .is_some_and(|p| p.chars().count() > 128)
    {
        return Err(ApiError::new("FIELD_INVALID", "at most 128 characters").field("payment_id"));
    }
    let rows = state
        .store
        .notifications_list(status, q.payment_id.as_deref(), limit)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(axum::Json(NotificationList {
        notifications: rows.into_iter().map(NotificationOut::from).collect(),
    }))
}

/// `POST /v1/admin/notifications/{id}/replay`: send a dead notification
/// again (due now, attempts counted afresh).
#[utoipa::path(
    post,
    path = "/v1/admin/notifications/{id}/replay",
    tag = "recovery",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The notification id")),
    responses(
        (status = 200, body = NotificationOut),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn replay(
    axum::extract::State(state): axum::extract::State<AppState>,
    crate::auth::OperatorOnly(_): crate::auth::OperatorOnly,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<axum::Json<NotificationOut>, ApiError> {
    match state.store.notification_replay(&id, now_ms()).await {
        Ok(n) => Ok(axum::Json(n.into())),
        Err(StoreError::NotFound(what)) => Err(ApiError::new("NOT_FOUND", format!("no {what}"))),
        Err(StoreError::IllegalMove(why)) => Err(ApiError::new("STATE_CONFLICT", why)),
        Err(e) => Err(ApiError::internal(&e)),
    }
}

/// `POST /v1/admin/recovery/sweep`: run one sweep on this node now (the
/// shards whose lease it gets), and say what it did.
#[utoipa::path(
    post,
    path = "/v1/admin/recovery/sweep",
    tag = "recovery",
    security(("bearer" = [])),
    responses(
        (status = 200, body = SweepReport),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn sweep_now(
    axum::extract::State(state): axum::extract::State<AppState>,
    crate::auth::OperatorOnly(_): crate::auth::OperatorOnly,
) -> Result<axum::Json<SweepReport>, ApiError> {
    Ok(axum::Json(sweep(&state).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        let c = RecoveryConfig {
            backoff_base_ms: 100,
            backoff_max_ms: 1_000,
            ..RecoveryConfig::default()
        };
        let waits: Vec<i64> = (0..6).map(|n| c.backoff_ms(n)).collect();
        assert_eq!(waits, vec![100, 200, 400, 800, 1_000, 1_000]);
        // No overflow however many retries.
        assert_eq!(c.backoff_ms(usize::MAX), 1_000);
    }

    #[test]
    fn shards_are_stable_and_cover_every_shard() {
        assert_eq!(shard_of("pay-1", 4), shard_of("pay-1", 4));
        let mut seen = [false; 4];
        for n in 0..200 {
            seen[usize::try_from(shard_of(&format!("pay-{n}"), 4)).unwrap()] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(shard_of("anything", 1), 0);
        assert_eq!(shard_of("anything", 0), 0);
    }

    #[test]
    fn the_limits_are_checked_at_load() {
        assert!(RecoveryConfig::default().check().is_ok());
        for bad in [
            RecoveryConfig {
                shards: 0,
                ..RecoveryConfig::default()
            },
            RecoveryConfig {
                inquiry_budget: 0,
                ..RecoveryConfig::default()
            },
            RecoveryConfig {
                backoff_max_ms: 1,
                ..RecoveryConfig::default()
            },
            RecoveryConfig {
                lease_ttl_ms: 10,
                ..RecoveryConfig::default()
            },
            RecoveryConfig {
                batch: 0,
                ..RecoveryConfig::default()
            },
            RecoveryConfig {
                notify_attempts: 0,
                ..RecoveryConfig::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}

//! Clearing and settlement (SPEC §2.8, §6): cycles, multilateral netting,
//! settlement instructions and reconciliation files. The netting is the
//! `clearing` crate's; this module runs it over a cycle's posted
//! movements, under the rules of when a cycle may close, and serves the
//! results to the operator and to each participant (its own files only).
//! `unigate settle` calls the same functions on a database URL.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ledger::{AccountId, Code, Kind, Transfer};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use store::{Closed, Cycle, InstructionRow, PositionRow, Store, StoreError};

use crate::auth::OperatorOnly;
use crate::payments::PaymentsConfig;
use crate::problem::ApiError;
use crate::signed::SignedCaller;
use crate::{AppState, now_ms};

/// `[payments.clearing]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClearingConfig {
    /// Value dates: business days per currency.
    pub calendar: clearing::Calendar,
    /// Close each cycle on its own once its grace period is over (on the
    /// node holding the `clearing-close` lease).
    pub auto_close: bool,
    /// The gateway's own settlement account (the payee or payer of its
    /// fee share, FX markup and rounding).
    pub gateway_account: String,
}

impl Default for ClearingConfig {
    fn default() -> Self {
        ClearingConfig {
            calendar: clearing::Calendar {
                lag_days: 1,
                ..clearing::Calendar::default()
            },
            auto_close: true,
            gateway_account: "UNIGATE-SETTLEMENT".into(),
        }
    }
}

impl ClearingConfig {
    pub fn check(&self) -> Result<(), String> {
        self.calendar.check().map_err(|e| e.to_string())?;
        if self.gateway_account.is_empty() || self.gateway_account.chars().count() > 64 {
            return Err("[payments.clearing] gateway_account is 1 to 64 characters".into());
        }
        Ok(())
    }
}

/// Why a clearing step was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClearingError {
    #[error("{0:?} is not a clearing date (YYYY-MM-DD)")]
    BadDate(String),
    #[error("no cycle {0}")]
    NotFound(String),
    #[error("cycle {date} is {state}: {why}")]
    WrongState {
        date: String,
        state: String,
        why: &'static str,
    },
    #[error("cycle {date}'s grace period ends at {until}: close it then, or early (operator)")]
    GraceNotOver { date: String, until: String },
    #[error(
        "cycle {date} has {open} payments or refunds still open: the resolver finishes them first"
    )]
    OpenWork { date: String, open: i64 },
    #[error("netting cycle {0}: {1}")]
    Netting(String, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ClearingError> for ApiError {
    fn from(e: ClearingError) -> ApiError {
        match &e {
            ClearingError::BadDate(_) => {
                ApiError::new("FIELD_INVALID", e.to_string()).field("date")
            }
            ClearingError::NotFound(_) => ApiError::new("NOT_FOUND", e.to_string()),
            ClearingError::WrongState { .. }
            | ClearingError::GraceNotOver { .. }
            | ClearingError::OpenWork { .. } => ApiError::new("STATE_CONFLICT", e.to_string()),
            ClearingError::Netting(..) | ClearingError::Store(_) => ApiError::internal(&e),
        }
    }
}

pub(crate) fn check_date(date: &str) -> Result<jiff::civil::Date, ClearingError> {
    if date.len() != 10 {
        return Err(ClearingError::BadDate(date.chars().take(32).collect()));
    }
    date.parse()
        .map_err(|_| ClearingError::BadDate(date.to_string()))
}

/// The cycle of `date`, created if its date has come.
pub async fn cycle(
    store: &Store,
    config: &PaymentsConfig,
    date: &str,
) -> Result<Cycle, ClearingError> {
    check_date(date)?;
    let cutoff = crate::cancels::cancel_deadline_ms(config, date, false)
        .map_err(|_| ClearingError::BadDate(date.into()))?;
    let grace = crate::cancels::cancel_deadline_ms(config, date, true)
        .map_err(|_| ClearingError::BadDate(date.into()))?;
    let cycle = store.cycle_ensure(date, cutoff, grace).await?;
    if cycle.state == "open" && now_ms() >= cycle.cutoff_at_ms {
        store.cycle_cut_off(date).await?;
        return Ok(store.cycle_get(date).await?.unwrap_or(cycle));
    }
    Ok(cycle)
}

/// The date before a cycle's, and the time its late movements fall in:
/// from the previous date's cut-off to its own.
pub(crate) fn window(
    config: &PaymentsConfig,
    date: &str,
) -> Result<(String, (i64, i64)), ClearingError> {
    let day = check_date(date)?;
    let before = day
        .yesterday()
        .map_err(|_| ClearingError::BadDate(date.into()))?
        .to_string();
    let cutoff = |d: &str| {
        crate::cancels::cancel_deadline_ms(config, d, false)
            .map_err(|_| ClearingError::BadDate(date.into()))
    };
    Ok((before.clone(), (cutoff(&before)?, cutoff(date)?)))
}

/// What a close came to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CloseOut {
    /// `closed` (now) or `already` (closed or settled before: nothing
    /// changed).
    pub outcome: String,
    pub cycle: CycleOut,
}

/// Close the cycle of `date`: net its posted movements, derive the
/// instructions, write both and the state in one transaction. Refused
/// before the end of the grace period (unless `early`) and while any of
/// its payments or refunds is still open; a closed cycle is left as it
/// was.
pub async fn close(
    store: &Store,
    config: &PaymentsConfig,
    node: &str,
    date: &str,
    early: bool,
) -> Result<Closed, ClearingError> {
    let c = cycle(store, config, date).await?;
    if c.state == "closed" || c.state == "settled" {
        return Ok(Closed::Already(c.state));
    }
    let now = now_ms();
    if !early && now < c.grace_until_ms {
        return Err(ClearingError::GraceNotOver {
            date: date.into(),
            until: crate::rfc3339(c.grace_until_ms),
        });
    }
    let open = store.cycle_open_work(date).await?;
    if open > 0 {
        return Err(ClearingError::OpenWork {
            date: date.into(),
            open,
        });
    }
    let (previous, window) = window(config, date)?;
    let (transfers, payments, refunds) =
        store.cycle_movements(date, &previous, window, now).await?;
    let netting = |why: String| ClearingError::Netting(date.into(), why);
    let movements = transfers
        .iter()
        .map(|t| {
            Ok(clearing::Movement {
                debit: AccountId::parse(&t.debit).ok_or_else(|| netting(t.debit.clone()))?,
                credit: AccountId::parse(&t.credit).ok_or_else(|| netting(t.credit.clone()))?,
                amount: t.amount,
                code: Code::parse(&t.code).unwrap_or(Code::Correction),
            })
        })
        .collect::<Result<Vec<_>, ClearingError>>()?;
    let positions = clearing::net(&movements).map_err(|e| netting(e.to_string()))?;
    let instructions = clearing::instructions(&positions);
    let clearing_date = check_date(date)?;
    let mut rows = Vec::new();
    for (seq, i) in instructions.iter().enumerate() {
        let value_date = config
            .clearing
            .calendar
            .value_date(i.currency, clearing_date)
            .map_err(|e| netting(e.to_string()))?;
        rows.push(InstructionRow {
            clearing_date: date.into(),
            seq: i64::try_from(seq).unwrap_or(i64::MAX) + 1,
            payer: i.payer.clone(),
            payee: i.payee.clone(),
            currency: i.currency.code().into(),
            amount: i.amount,
            payer_account: bank_account(store, config, &i.payer).await?,
            payee_account: bank_account(store, config, &i.payee).await?,
            value_date: value_date.to_string(),
        });
    }
    let positions = positions
        .into_iter()
        .map(|p| PositionRow {
            clearing_date: date.into(),
            party: p.party,
            currency: p.currency.code().into(),
            gross_debits: p.gross_debits,
            gross_credits: p.gross_credits,
            fees: p.fees,
            net: p.net,
        })
        .collect();
    Ok(store
        .cycle_close(
            date,
            store::CycleClose {
                positions,
                instructions: rows,
                payments,
                refunds,
                node: node.into(),
                early,
                now_ms: now,
            },
        )
        .await?)
}

/// A party's settlement (bank) account: a participant's from its record,
/// the gateway's from the configuration.
async fn bank_account(
    store: &Store,
    config: &PaymentsConfig,
    party: &str,
) -> Result<String, ClearingError> {
    if party == ledger::GATEWAY {
        return Ok(config.clearing.gateway_account.clone());
    }
    Ok(store
        .participant_get(party)
        .await?
        .map(|p| p.record.settlement_account)
        .unwrap_or_default())
}

/// Mark a closed cycle settled: post its instructions as settlement
/// transfers (each payer's position credited, each payee's debited, so
/// every position of the cycle is back to zero), then the state. Done
/// twice, the second finds the transfers posted and the cycle settled.
pub async fn settle(store: &Store, date: &str) -> Result<usize, ClearingError> {
    check_date(date)?;
    let c = store
        .cycle_get(date)
        .await?
        .ok_or_else(|| ClearingError::NotFound(date.into()))?;
    if c.state != "closed" {
        return Err(ClearingError::WrongState {
            date: date.into(),
            state: c.state,
            why: "only a closed cycle is settled, once",
        });
    }
    let instructions = store.cycle_instructions(date).await?;
    let now = now_ms();
    let mut transfers = Vec::new();
    let mut accounts = Vec::new();
    for i in &instructions {
        let currency = money::Currency::parse(&i.currency)
            .map_err(|e| ClearingError::Netting(date.into(), e.to_string()))?;
        let account = |party: &str| AccountId::new(party, Kind::Settlement, currency);
        let (payer, payee) = (account(&i.payer), account(&i.payee));
        accounts.push((payer.clone(), None));
        accounts.push((payee.clone(), None));
        transfers.push(Transfer {
            id: format!("settle:{date}:{}", i.seq),
            // The payer pays in: its position goes up; the payee is paid
            // out: its position goes down.
            debit: payee,
            credit: payer,
            amount: i.amount,
            code: Code::Settlement,
            reference: format!("settle:{date}"),
            phase: ledger::Phase::Single,
        });
    }
    if !transfers.is_empty() {
        // Accounts that exist keep their limits; the gateway's own
        // settlement account is opened without one.
        let missing: Vec<(AccountId, Option<i64>)> = accounts
            .into_iter()
            .filter(|(a, _)| a.owner == ledger::GATEWAY)
            .collect();
        store.ledger_open_many(&missing, now).await?;
        match store.ledger_apply(transfers, now).await {
            Ok(()) => {}
            // Posted by an earlier attempt that stopped before the state.
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    store.cycle_mark_settled(date, now).await?;
    Ok(instructions.len())
}

// ---------------------------------------------------------------------
// Reconciliation files.

/// The header of every reconciliation file (docs/clearing.md).
pub const RECON_HEADER: &str = "record,id,payment_id,created_at,state,mode,direction,role,counterparty,\
merchant_amount,merchant_currency,payer_amount,payer_currency,fx_rate,markup_bps,fee_discount,fee_acquirer,\
fee_wallet,fee_gateway,fee_scheme,position_change,position_currency";

/// One participant's reconciliation file of a closed cycle: a row per
/// payment, refund and cancel it took part in, each with what it changed
/// in the participant's position, and summary rows per currency that tie
/// out to its net position and its settlement instructions.
pub async fn reconciliation(
    store: &Store,
    config: &PaymentsConfig,
    date: &str,
    participant: &str,
) -> Result<(String, String), ClearingError> {
    check_date(date)?;
    let c = store
        .cycle_get(date)
        .await?
        .ok_or_else(|| ClearingError::NotFound(date.into()))?;
    if c.state != "closed" && c.state != "settled" {
        return Err(ClearingError::WrongState {
            date: date.into(),
            state: c.state,
            why: "files are made when the cycle is closed",
        });
    }
    let (previous, window) = window(config, date)?;
    let (transfers, _, _) = store
        .cycle_movements(date, &previous, window, now_ms())
        .await?;
    // Each movement's change of the participant's position, by what it
    // belongs to: the payment, one of its refunds, or its cancel.
    let mut changes: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for t in &transfers {
        let (Some(debit), Some(credit)) = (AccountId::parse(&t.debit), AccountId::parse(&t.credit))
        else {
            continue;
        };
        let mut delta = 0i64;
        if credit.owner == participant {
            delta = delta.saturating_add(t.amount);
        }
        if debit.owner == participant {
            delta = delta.saturating_sub(t.amount);
        }
        if delta == 0 {
            continue;
        }
        let record = if t.id.starts_with("rf-") {
            (
                "refund",
                t.id.split(':').next().unwrap_or(&t.id).to_string(),
            )
        } else if t.id.ends_with(":cancel") {
            ("cancel", t.reference.clone())
        } else {
            ("payment", t.reference.clone())
        };
        *changes
            .entry((record.0.to_string(), record.1, t.currency.clone()))
            .or_insert(0) += delta;
    }
    let mut out = String::from(RECON_HEADER);
    out.push('\n');
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    let field = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    // Rows for the payments of the cycle this participant is party to,
    // even those that changed nothing (failed, or cancelled the same day).
    let payments = store.cycle_payments_of(date, participant).await?;
    let mut by_payment: BTreeMap<&str, Vec<(&str, &str, i64)>> = BTreeMap::new();
    for ((record, id, ccy), change) in &changes {
        if record != "refund" {
            by_payment.entry(id.as_str()).or_default().push((
                record.as_str(),
                ccy.as_str(),
                *change,
            ));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for p in &payments {
        let terms = store.payment_terms_get(&p.payment.id).await?;
        let (role, counterparty) = role_of(p, participant);
        let lines = by_payment
            .get(p.payment.id.as_str())
            .cloned()
            .unwrap_or_default();
        if lines.is_empty() {
            out.push_str(&row(
                "payment",
                &p.payment.id,
                p,
                terms.as_ref(),
                role,
                counterparty,
                0,
                "",
                &field,
            ));
        }
        for (record, ccy, change) in lines {
            seen.insert((record.to_string(), p.payment.id.clone(), ccy.to_string()));
            *totals.entry(ccy.to_string()).or_insert(0) += change;
            out.push_str(&row(
                record,
                &p.payment.id,
                p,
                terms.as_ref(),
                role,
                counterparty,
                change,
                ccy,
                &field,
            ));
        }
    }
    // Refunds of the cycle (their payments may be of an earlier one).
    for ((record, id, ccy), change) in &changes {
        if record != "refund" {
            continue;
        }
        let Some(r) = store.refund_get(id).await? else {
            continue;
        };
        let Some(p) = store.payment_get(&r.payment_id).await? else {
            continue;
        };
        let terms = store.payment_terms_get(&p.payment.id).await?;
        let (role, counterparty) = role_of(&p, participant);
        *totals.entry(ccy.clone()).or_insert(0) += change;
        let mut line = row(
            "refund",
            id,
            &p,
            terms.as_ref(),
            role,
            counterparty,
            *change,
            ccy,
            &field,
        );
        // A refund's own amounts, not its payment's.
        line = line.replacen(
            &format!(
                ",{},{},",
                p.payment.merchant_amount.minor,
                p.payment.merchant_amount.currency.code()
            ),
            &format!(",{},{},", r.merchant_minor, r.merchant_currency),
            1,
        );
        out.push_str(&line);
        seen.insert((record.clone(), id.clone(), ccy.clone()));
    }
    // Anything else (a refund or cancel whose payment is not listed).
    for ((record, id, ccy), change) in &changes {
        if !seen.contains(&(record.clone(), id.clone(), ccy.clone())) {
            *totals.entry(ccy.clone()).or_insert(0) += change;
            out.push_str(&format!(
                "{record},{},,,,,,,,,,,,,,,,,,,{change},{ccy}\n",
                field(id)
            ));
        }
    }
    // The tie-out: per currency, the rows' sum, the net position, and the
    // instructions that settle it.
    let positions = store.cycle_positions(date).await?;
    let instructions = store.cycle_instructions(date).await?;
    let mut currencies: std::collections::BTreeSet<String> = totals.keys().cloned().collect();
    currencies.extend(
        positions
            .iter()
            .filter(|p| p.party == participant)
            .map(|p| p.currency.clone()),
    );
    for ccy in currencies {
        let rows_sum = totals.get(&ccy).copied().unwrap_or(0);
        let net = positions
            .iter()
            .find(|p| p.party == participant && p.currency == ccy)
            .map_or(0, |p| p.net);
        let settled: i64 = instructions
            .iter()
            .filter(|i| i.currency == ccy)
            .map(|i| {
                if i.payee == participant {
                    i.amount
                } else if i.payer == participant {
                    -i.amount
                } else {
                    0
                }
            })
            .sum();
        out.push_str(&format!(
            "summary,rows,,,,,,,,,,,,,,,,,,,{rows_sum},{ccy}\nsummary,net_position,,,,,,,,,,,,,,,,,,,{net},{ccy}\nsummary,instructions,,,,,,,,,,,,,,,,,,,{settled},{ccy}\n"
        ));
    }
    let sha = hex(&sha2::Sha256::digest(out.as_bytes()));
    Ok((out, sha))
}

/// The participant's role in a payment, and the other party.
fn role_of<'a>(p: &'a store::PaymentRecord, participant: &str) -> (&'static str, &'a str) {
    if p.payment.wallet == participant {
        ("wallet", &p.payment.acquirer)
    } else {
        ("acquirer", &p.payment.wallet)
    }
}

#[allow(clippy::too_many_arguments)]
fn row(
    record: &str,
    id: &str,
    p: &store::PaymentRecord,
    terms: Option<&store::PaymentTerms>,
    role: &str,
    counterparty: &str,
    change: i64,
    ccy: &str,
    field: &dyn Fn(&str) -> String,
) -> String {
    let t = |f: fn(&store::PaymentTerms) -> String| terms.map(f).unwrap_or_default();
    format!(
        "{record},{},{},{},{},{},{},{role},{},{},{},{},{},{},{},{},{},{},{},{},{change},{ccy}\n",
        field(id),
        field(&p.payment.id),
        crate::rfc3339(p.created_at_ms),
        p.state.as_str(),
        p.payment.mode.as_str(),
        p.payment.direction.as_str(),
        field(counterparty),
        p.payment.merchant_amount.minor,
        p.payment.merchant_amount.currency.code(),
        p.payment
            .payer_amount
            .map(|m| m.minor.to_string())
            .unwrap_or_default(),
        p.payment
            .payer_amount
            .map(|m| m.currency.code().to_string())
            .unwrap_or_default(),
        t(|t| t.fx_rate.clone().unwrap_or_default()),
        t(|t| t.markup_bps.map(|b| b.to_string()).unwrap_or_default()),
        t(|t| t.fee_discount.to_string()),
        t(|t| t.fee_acquirer.to_string()),
        t(|t| t.fee_wallet.to_string()),
        t(|t| t.fee_gateway.to_string()),
        t(|t| t.fee_scheme.to_string()),
    )
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The instructions of a closed cycle as CSV (docs/clearing.md).
pub fn instructions_csv(rows: &[InstructionRow]) -> String {
    let mut out = String::from(
        "clearing_date,seq,payer,payer_account,payee,payee_account,currency,amount,value_date\n",
    );
    for i in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            i.clearing_date,
            i.seq,
            i.payer,
            i.payer_account,
            i.payee,
            i.payee_account,
            i.currency,
            i.amount,
            i.value_date
        ));
    }
    out
}

// ---------------------------------------------------------------------
// The close job.

/// Close every cycle whose grace period is over, on the node holding the
/// `clearing-close` lease. Cycles with open work wait for the resolver.
pub async fn close_due(state: &AppState) -> Result<u64, ApiError> {
    let config = &state.payments;
    if !config.clearing.auto_close {
        return Ok(0);
    }
    let now = now_ms();
    if !state
        .store
        .lease_acquire(
            "clearing-close",
            &state.node_id,
            config.recovery.lease_ttl_ms,
            now,
        )
        .await
        .map_err(|e| ApiError::internal(&e))?
    {
        return Ok(0);
    }
    let mut closed = 0;
    for date in state
        .store
        .cycles_unclosed_dates()
        .await
        .map_err(|e| ApiError::internal(&e))?
    {
        match close(&state.store, config, &state.node_id, &date, false).await {
            Ok(Closed::Now) => {
                closed += 1;
                tracing::info!(cycle = %date, "clearing cycle closed");
            }
            Ok(Closed::Already(_)) | Err(ClearingError::GraceNotOver { .. }) => {}
            Err(ClearingError::OpenWork { open, .. }) => {
                tracing::info!(cycle = %date, open, "clearing cycle waits for open work");
            }
            Err(e) => tracing::warn!(cycle = %date, error = %e, "closing a clearing cycle failed"),
        }
    }
    // Each closed cycle's daily regulatory report (docs/reports.md).
    crate::reports::make_missing(state).await?;
    Ok(closed)
}

// ---------------------------------------------------------------------
// HTTP.

/// A cycle.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CycleOut {
    pub clearing_date: String,
    /// `open`, `cut_off`, `closed` or `settled`.
    pub state: String,
    pub cutoff_at: String,
    pub grace_until: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    pub closed_early: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<String>,
    pub payments: i64,
    pub refunds: i64,
}

impl From<Cycle> for CycleOut {
    fn from(c: Cycle) -> Self {
        CycleOut {
            clearing_date: c.clearing_date,
            state: c.state,
            cutoff_at: crate::rfc3339(c.cutoff_at_ms),
            grace_until: crate::rfc3339(c.grace_until_ms),
            closed_at: c.closed_at_ms.map(crate::rfc3339),
            closed_early: c.closed_early != 0,
            settled_at: c.settled_at_ms.map(crate::rfc3339),
            payments: c.payments,
            refunds: c.refunds,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CycleList {
    pub cycles: Vec<CycleOut>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PositionOut {
    pub party: String,
    pub currency: String,
    pub gross_debits: i64,
    pub gross_credits: i64,
    pub fees: i64,
    pub net: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InstructionOut {
    pub seq: i64,
    pub payer: String,
    pub payer_account: String,
    pub payee: String,
    pub payee_account: String,
    pub currency: String,
    pub amount: i64,
    pub value_date: String,
}

impl From<InstructionRow> for InstructionOut {
    fn from(i: InstructionRow) -> Self {
        InstructionOut {
            seq: i.seq,
            payer: i.payer,
            payer_account: i.payer_account,
            payee: i.payee,
            payee_account: i.payee_account,
            currency: i.currency,
            amount: i.amount,
            value_date: i.value_date,
        }
    }
}

/// A cycle with its positions and instructions (empty until closed).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CycleDetail {
    pub cycle: CycleOut,
    pub positions: Vec<PositionOut>,
    pub instructions: Vec<InstructionOut>,
}

/// `GET /v1/admin/cycles`.
#[utoipa::path(get, path = "/v1/admin/cycles", tag = "clearing", security(("bearer" = [])),
    responses((status = 200, body = CycleList)))]
pub async fn list(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
) -> Result<axum::Json<CycleList>, ApiError> {
    let cycles = state
        .store
        .cycles_list(store::CYCLE_LIST_MAX)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(axum::Json(CycleList {
        cycles: cycles.into_iter().map(CycleOut::from).collect(),
    }))
}

pub async fn detail(
    store: &Store,
    config: &PaymentsConfig,
    date: &str,
) -> Result<CycleDetail, ClearingError> {
    check_date(date)?;
    // A cycle with no payments yet exists once asked about.
    let c = cycle(store, config, date).await?;
    let positions = store.cycle_positions(date).await?;
    let instructions = store.cycle_instructions(date).await?;
    Ok(CycleDetail {
        cycle: c.into(),
        positions: positions
            .into_iter()
            .map(|p| PositionOut {
                party: p.party,
                currency: p.currency,
                gross_debits: p.gross_debits,
                gross_credits: p.gross_credits,
                fees: p.fees,
                net: p.net,
            })
            .collect(),
        instructions: instructions.into_iter().map(InstructionOut::from).collect(),
    })
}

/// `GET /v1/admin/cycles/{date}`.
#[utoipa::path(get, path = "/v1/admin/cycles/{date}", tag = "clearing", security(("bearer" = [])),
    params(("date" = String, Path, description = "The clearing date, YYYY-MM-DD")),
    responses((status = 200, body = CycleDetail), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Path(date): Path<String>,
) -> Result<axum::Json<CycleDetail>, ApiError> {
    Ok(axum::Json(
        detail(&state.store, &state.payments, &date).await?,
    ))
}

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseIn {
    /// Close before the grace period is over (tests, drills).
    #[serde(default)]
    pub early: bool,
}

/// `POST /v1/admin/cycles/{date}/close`: closing a closed cycle answers
/// `already` and changes nothing.
#[utoipa::path(post, path = "/v1/admin/cycles/{date}/close", tag = "clearing", security(("bearer" = [])),
    params(("date" = String, Path, description = "The clearing date, YYYY-MM-DD")),
    request_body = CloseIn,
    responses((status = 200, body = CloseOut), (status = 409, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn close_now(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Path(date): Path<String>,
    crate::json::Json(body): crate::json::Json<CloseIn>,
) -> Result<axum::Json<CloseOut>, ApiError> {
    let outcome = close(
        &state.store,
        &state.payments,
        &state.node_id,
        &date,
        body.early,
    )
    .await?;
    // Its daily report; a failure here is retried by the close job.
    if let Err(e) = crate::reports::make_daily(
        &state.store,
        &state.payments,
        &state.fx.reporting_currency,
        &state.node_id,
        &date,
    )
    .await
    {
        tracing::warn!(cycle = %date, error = ?e, "making the daily report failed");
    }
    let c = state
        .store
        .cycle_get(&date)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::new("NOT_FOUND", format!("no cycle {date}")))?;
    Ok(axum::Json(CloseOut {
        outcome: match outcome {
            Closed::Now => "closed".into(),
            Closed::Already(_) => "already".into(),
        },
        cycle: c.into(),
    }))
}

/// `POST /v1/admin/cycles/{date}/settle`: post the settlement transfers;
/// once.
#[utoipa::path(post, path = "/v1/admin/cycles/{date}/settle", tag = "clearing", security(("bearer" = [])),
    params(("date" = String, Path, description = "The clearing date, YYYY-MM-DD")),
    responses((status = 200, body = CycleDetail), (status = 409, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn settle_now(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Path(date): Path<String>,
) -> Result<axum::Json<CycleDetail>, ApiError> {
    settle(&state.store, &date).await?;
    Ok(axum::Json(
        detail(&state.store, &state.payments, &date).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FormatQuery {
    /// `json` (default) or `csv`.
    #[serde(default)]
    pub format: Option<String>,
}

/// `GET /v1/admin/cycles/{date}/instructions?format=csv|json`.
#[utoipa::path(get, path = "/v1/admin/cycles/{date}/instructions", tag = "clearing", security(("bearer" = [])),
    params(("date" = String, Path, description = "The clearing date"), FormatQuery),
    responses((status = 200, body = Vec<InstructionOut>), (status = 409, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn instructions_export(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Path(date): Path<String>,
    Query(q): Query<FormatQuery>,
) -> Result<Response, ApiError> {
    let c = state
        .store
        .cycle_get(&date)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::new("NOT_FOUND", format!("no cycle {date}")))?;
    if c.state != "closed" && c.state != "settled" {
        return Err(ApiError::new(
            "STATE_CONFLICT",
            format!(
                "cycle {date} is {}: instructions come with the close",
                c.state
            ),
        ));
    }
    let rows = state
        .store
        .cycle_instructions(&date)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    match q.format.as_deref() {
        None | Some("json") => Ok(axum::Json(
            rows.into_iter()
                .map(InstructionOut::from)
                .collect::<Vec<_>>(),
        )
        .into_response()),
        Some("csv") => Ok(csv_response(
            instructions_csv(&rows),
            &format!("instructions-{date}.csv"),
        )),
        Some(_) => Err(ApiError::new("FIELD_INVALID", "`json` or `csv`").field("format")),
    }
}

fn csv_response(body: String, name: &str) -> Response {
    download(body, name, "text/csv; charset=utf-8")
}

/// A file to download, its SHA-256 in `X-Content-SHA256`.
pub(crate) fn download(body: String, name: &str, content_type: &'static str) -> Response {
    let sha = hex(&sha2::Sha256::digest(body.as_bytes()));
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&sha) {
        h.insert("x-content-sha256", v);
    }
    r
}

/// `GET /v1/admin/cycles/{date}/reconciliation/{participant}`: a
/// participant's reconciliation file (CSV; its SHA-256 in
/// `X-Content-SHA256`).
#[utoipa::path(get, path = "/v1/admin/cycles/{date}/reconciliation/{participant}", tag = "clearing", security(("bearer" = [])),
    params(("date" = String, Path, description = "The clearing date"), ("participant" = String, Path, description = "The participant id")),
    responses((status = 200, content_type = "text/csv", body = String), (status = 409, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn reconciliation_admin(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Path((date, participant)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    if state
        .store
        .participant_get(&participant)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .is_none()
    {
        return Err(ApiError::new(
            "NOT_FOUND",
            format!("no participant {participant}"),
        ));
    }
    let (body, _) = reconciliation(&state.store, &state.payments, &date, &participant).await?;
    Ok(csv_response(
        body,
        &format!("reconciliation-{date}-{participant}.csv"),
    ))
}

/// `GET /v1/reconciliation/{date}`: the calling participant's own
/// reconciliation file of a closed cycle (signed).
#[utoipa::path(get, path = "/v1/reconciliation/{date}", tag = "clearing", security(("signature" = [])),
    params(("date" = String, Path, description = "The clearing date")),
    responses((status = 200, content_type = "text/csv", body = String), (status = 409, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn reconciliation_mine(
    State(state): State<AppState>,
    caller: SignedCaller,
    Path(date): Path<String>,
) -> Result<Response, ApiError> {
    caller.allow(&state, participant::policy::CallKind::Read, None)?;
    let (body, _) = reconciliation(&state.store, &state.payments, &date, caller.id()).await?;
    Ok(csv_response(
        body,
        &format!("reconciliation-{date}-{}.csv", caller.id()),
    ))
}

//! Payments and the history of their states: the `payment` crate's machine,
//! persisted. Every change of state is a compare-and-set on the payment's
//! version and appends one history row, in one durable transaction; so a
//! crash anywhere leaves a state whose `payment::recovery` finishes or
//! reverses the payment, and the history replays to the current state.

use money::{Currency, Money};
use payment::{Direction, Event, Mode, State};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError, TRANSFER_AMOUNT_MAX};

/// Most characters of an id (payment, participant, request, order, quote).
pub const PAYMENT_ID_CHARS_MAX: usize = 128;
/// Most characters of a history row's detail; longer text is cut.
pub const PAYMENT_DETAIL_CHARS_MAX: usize = 1_000;
/// Most payments one recovery or state listing returns.
pub const PAYMENT_LIST_MAX: i64 = 1_000;

/// A payment as the gateway accepts it. Amounts are in minor units of
/// their own currency; the ones not known yet are `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPayment {
    pub id: String,
    pub mode: Mode,
    pub direction: Direction,
    /// The wallet participant (the payer's side).
    pub wallet: String,
    /// The acquirer participant (the merchant's side).
    pub acquirer: String,
    /// The gateway merchant id, when the merchant is in the registry.
    pub merchant_id: Option<String>,
    /// The participant that started the payment, and its request id
    /// (unique per initiator).
    pub initiator: String,
    pub request_id: String,
    pub order_id: Option<String>,
    /// Fixed by the code or the acquirer, in the merchant's currency.
    pub merchant_amount: Money,
    /// In the wallet's currency.
    pub payer_amount: Option<Money>,
    /// What the wallet pays and the acquirer receives, each in its
    /// settlement currency.
    pub wallet_settlement_amount: Option<Money>,
    pub acquirer_settlement_amount: Option<Money>,
    /// In the reporting currency at the book's mid rate.
    pub reporting_amount: Option<Money>,
    pub quote_id: Option<String>,
    /// `YYYY-MM-DD`, given when the gateway accepts it.
    pub clearing_date: Option<String>,
}

/// A payment as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRecord {
    pub payment: NewPayment,
    pub state: State,
    /// 1 when created, one more at each transition: the `expected_version`
    /// of the next [`Store::payment_transition`].
    pub version: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// One row of a payment's history. The first (`seq` 1) records its
/// creation: no `from`, no `event`. Row `seq` n is the transition that
/// produced version n.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    pub seq: i64,
    pub from: Option<State>,
    pub to: State,
    pub event: Option<Event>,
    pub detail: String,
    /// The gateway node that wrote it.
    pub node: String,
    pub at_ms: i64,
}

const COLUMNS: &str = "id, mode, direction, wallet, acquirer, merchant_id, initiator, request_id, order_id, \
    merchant_amount, merchant_currency, payer_amount, payer_currency, wallet_settlement_amount, \
    wallet_settlement_currency, acquirer_settlement_amount, acquirer_settlement_currency, reporting_amount, \
    reporting_currency, quote_id, clearing_date, state, version, created_at_ms, updated_at_ms";

/// What a transition reads of its payment: mode, state, version, wallet,
/// acquirer, initiator, merchant amount and currency, payer amount and
/// currency.
type TransitionRow = (
    String,
    String,
    i64,
    String,
    String,
    String,
    i64,
    String,
    Option<i64>,
    Option<String>,
);

/// The states the recovery sweep works on: not final, and not waiting for
/// the operator. Literal, so that SQLite matches the partial index.
const OPEN_STATES: &str = "state NOT IN ('succeeded', 'failed', 'cancelled', 'exception')";

fn corrupt(what: String) -> StoreError {
    StoreError::Query(sqlx::Error::Decode(what.into()))
}

fn check_id(field: &str, value: &str) -> Result<(), StoreError> {
    if value.is_empty() || value.chars().count() > PAYMENT_ID_CHARS_MAX {
        return Err(StoreError::Refused(format!(
            "{field} must be 1 to {PAYMENT_ID_CHARS_MAX} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(StoreError::Refused(format!(
            "{field} has a control character"
        )));
    }
    Ok(())
}

fn check_amount(field: &str, amount: &Money) -> Result<(), StoreError> {
    if amount.minor <= 0 || amount.minor > TRANSFER_AMOUNT_MAX {
        return Err(StoreError::Refused(format!(
            "{field} must be 1 to {TRANSFER_AMOUNT_MAX} minor units"
        )));
    }
    Ok(())
}

fn check_date(value: &str) -> Result<(), StoreError> {
    let b = value.as_bytes();
    let ok = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if ok {
        Ok(())
    } else {
        Err(StoreError::Refused(
            "clearing_date must be YYYY-MM-DD".into(),
        ))
    }
}

impl NewPayment {
    /// The checks made where a payment is written.
    pub fn validate(&self) -> Result<(), StoreError> {
        check_id("id", &self.id)?;
        check_id("wallet", &self.wallet)?;
        check_id("acquirer", &self.acquirer)?;
        check_id("initiator", &self.initiator)?;
        check_id("request_id", &self.request_id)?;
        for (field, value) in [
            ("merchant_id", &self.merchant_id),
            ("order_id", &self.order_id),
            ("quote_id", &self.quote_id),
        ] {
            if let Some(v) = value {
                check_id(field, v)?;
            }
        }
        check_amount("merchant_amount", &self.merchant_amount)?;
        for (field, value) in [
            ("payer_amount", &self.payer_amount),
            ("wallet_settlement_amount", &self.wallet_settlement_amount),
            (
                "acquirer_settlement_amount",
                &self.acquirer_settlement_amount,
            ),
            ("reporting_amount", &self.reporting_amount),
        ] {
            if let Some(v) = value {
                check_amount(field, v)?;
            }
        }
        if let Some(d) = &self.clearing_date {
            check_date(d)?;
        }
        Ok(())
    }
}

fn money_of(row: &AnyRow, amount: &str, currency: &str) -> Result<Option<Money>, StoreError> {
    let value: Option<i64> = row.try_get(amount)?;
    let code: Option<String> = row.try_get(currency)?;
    match (value, code) {
        (Some(v), Some(c)) => Ok(Some(Money::new(
            v,
            Currency::parse(&c).map_err(|e| corrupt(format!("{currency}: {e}")))?,
        ))),
        (None, None) => Ok(None),
        _ => Err(corrupt(format!("{amount} and {currency} disagree"))),
    }
}

fn record_of(row: &AnyRow) -> Result<PaymentRecord, StoreError> {
    let mode: String = row.try_get("mode")?;
    let direction: String = row.try_get("direction")?;
    let state: String = row.try_get("state")?;
    let merchant_amount = money_of(row, "merchant_amount", "merchant_currency")?
        .ok_or_else(|| corrupt("merchant_amount is missing".into()))?;
    Ok(PaymentRecord {
        payment: NewPayment {
            id: row.try_get("id")?,
            mode: Mode::parse(&mode).ok_or_else(|| corrupt(format!("mode {mode:?}")))?,
            direction: Direction::parse(&direction)
                .ok_or_else(|| corrupt(format!("direction {direction:?}")))?,
            wallet: row.try_get("wallet")?,
            acquirer: row.try_get("acquirer")?,
            merchant_id: row.try_get("merchant_id")?,
            initiator: row.try_get("initiator")?,
            request_id: row.try_get("request_id")?,
            order_id: row.try_get("order_id")?,
            merchant_amount,
            payer_amount: money_of(row, "payer_amount", "payer_currency")?,
            wallet_settlement_amount: money_of(
                row,
                "wallet_settlement_amount",
                "wallet_settlement_currency",
            )?,
            acquirer_settlement_amount: money_of(
                row,
                "acquirer_settlement_amount",
                "acquirer_settlement_currency",
            )?,
            reporting_amount: money_of(row, "reporting_amount", "reporting_currency")?,
            quote_id: row.try_get("quote_id")?,
            clearing_date: row.try_get("clearing_date")?,
        },
        state: State::parse(&state).ok_or_else(|| corrupt(format!("state {state:?}")))?,
        version: row.try_get("version")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

type HistoryRow = (
    i64,
    Option<String>,
    String,
    Option<String>,
    String,
    String,
    i64,
);

fn entry_of(row: HistoryRow) -> Result<HistoryEntry, StoreError> {
    let (seq, from, to, event, detail, node, at_ms) = row;
    let state = |s: &str| State::parse(s).ok_or_else(|| corrupt(format!("state {s:?}")));
    Ok(HistoryEntry {
        seq,
        from: from.as_deref().map(state).transpose()?,
        to: state(&to)?,
        event: event
            .as_deref()
            .map(|e| Event::parse(e).ok_or_else(|| corrupt(format!("event {e:?}"))))
            .transpose()?,
        detail,
        node,
        at_ms,
    })
}

fn cut(detail: &str) -> String {
    detail.chars().take(PAYMENT_DETAIL_CHARS_MAX).collect()
}

fn amount_parts(m: Option<&Money>) -> (Option<i64>, Option<&'static str>) {
    (m.map(|m| m.minor), m.map(|m| m.currency.code()))
}

impl Store {
    /// Record a new payment in state `received`, with its first history
    /// row, atomically. `Conflict` when its id, or its initiator's
    /// request id, is taken (find the first with
    /// [`Store::payment_by_request`]); `Refused` when a field fails the
    /// checks of [`NewPayment::validate`].
    pub async fn payment_create(
        &self,
        new: NewPayment,
        node: &str,
        now_ms: i64,
    ) -> Result<PaymentRecord, StoreError> {
        new.validate()?;
        check_id("node", node)?;
        let node = node.to_string();
        let p = new.clone();
        self.write(move |conn| {
            Box::pin(async move {
                let (payer, payer_ccy) = amount_parts(p.payer_amount.as_ref());
                let (wallet_s, wallet_s_ccy) = amount_parts(p.wallet_settlement_amount.as_ref());
                let (acq_s, acq_s_ccy) = amount_parts(p.acquirer_settlement_amount.as_ref());
                let (rep, rep_ccy) = amount_parts(p.reporting_amount.as_ref());
                let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO payments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
                     $13, $14, $15, $16, $17, $18, $19, $20, $21, 'received', 1, $22, $22) ON CONFLICT DO NOTHING"
                )))
                .bind(&p.id)
                .bind(p.mode.as_str())
                .bind(p.direction.as_str())
                .bind(&p.wallet)
                .bind(&p.acquirer)
                .bind(&p.merchant_id)
                .bind(&p.initiator)
                .bind(&p.request_id)
                .bind(&p.order_id)
                .bind(p.merchant_amount.minor)
                .bind(p.merchant_amount.currency.code())
                .bind(payer)
                .bind(payer_ccy)
                .bind(wallet_s)
                .bind(wallet_s_ccy)
                .bind(acq_s)
                .bind(acq_s_ccy)
                .bind(rep)
                .bind(rep_ccy)
                .bind(&p.quote_id)
                .bind(&p.clearing_date)
                .bind(now_ms)
                .execute(&mut *conn)
                .await?;
                if inserted.rows_affected() != 1 {
                    return Err(StoreError::Conflict(format!(
                        "payment {} or request {} of {} exists",
                        p.id, p.request_id, p.initiator
                    )));
                }
                crate::terms::copy_dimensions(conn, &p.id).await?;
                sqlx::query(
                    "INSERT INTO payment_history (payment_id, seq, from_state, to_state, event, detail, node, at_ms) \
                     VALUES ($1, 1, NULL, 'received', NULL, 'created', $2, $3)",
                )
                .bind(&p.id)
                .bind(&node)
                .bind(now_ms)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await?;
        Ok(PaymentRecord {
            payment: new,
            state: State::Received,
            version: 1,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        })
    }

    pub async fn payment_get(&self, id: &str) -> Result<Option<PaymentRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM payments WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(record_of).transpose()
    }

    /// The payment an initiator started with `request_id` (SPEC §4.3).
    pub async fn payment_by_request(
        &self,
        initiator: &str,
        request_id: &str,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM payments WHERE initiator = $1 AND request_id = $2"
        )))
        .bind(initiator)
        .bind(request_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(record_of).transpose()
    }

    /// Apply `event` to the payment at `expected_version`: the next state
    /// is `payment::transition_for`'s, written by a compare-and-set on the
    /// version together with its history row, in one durable transaction.
    /// Returns the history row (its `seq` is the new version).
    ///
    /// `NotFound` for an unknown id; `Conflict` when the payment is no
    /// longer at `expected_version` (another node moved it: read it again);
    /// `Refused` when the machine does not allow the event in the current
    /// state. A refusal changes nothing.
    pub async fn payment_transition(
        &self,
        id: &str,
        expected_version: i64,
        event: &Event,
        detail: &str,
        node: &str,
        now_ms: i64,
    ) -> Result<HistoryEntry, StoreError> {
        check_id("node", node)?;
        let (id, event, detail, node) = (id.to_string(), *event, cut(detail), node.to_string());
        self.write(move |conn| {
            Box::pin(async move {
                let current: Option<TransitionRow> = sqlx::query_as(
                    "SELECT mode, state, version, wallet, acquirer, initiator, merchant_amount, \
                     merchant_currency, payer_amount, payer_currency FROM payments WHERE id = $1",
                )
                .bind(&id)
                .fetch_optional(&mut *conn)
                .await?;
                let (mode, state, version, wallet, acquirer, initiator, m_minor, m_ccy, p_minor, p_ccy) =
                    current.ok_or_else(|| StoreError::NotFound(format!("payment {id}")))?;
                if version != expected_version {
                    return Err(StoreError::Conflict(format!(
                        "payment {id} is at version {version}, not {expected_version}"
                    )));
                }
                let mode = Mode::parse(&mode).ok_or_else(|| corrupt(format!("mode {mode:?}")))?;
                let from = State::parse(&state).ok_or_else(|| corrupt(format!("state {state:?}")))?;
                let to = payment::transition_for(mode, from, &event)
                    .map_err(|e| StoreError::Refused(e.to_string()))?;
                let seq = expected_version
                    .checked_add(1)
                    .ok_or_else(|| StoreError::Refused(format!("payment {id} has too many versions")))?;
                let updated = sqlx::query(
                    "UPDATE payments SET state = $1, version = $2, updated_at_ms = $3 WHERE id = $4 AND version = $5",
                )
                .bind(to.as_str())
                .bind(seq)
                .bind(now_ms)
                .bind(&id)
                .bind(expected_version)
                .execute(&mut *conn)
                .await?;
                if updated.rows_affected() != 1 {
                    return Err(StoreError::Conflict(format!(
                        "payment {id} moved on from version {expected_version}"
                    )));
                }
                sqlx::query(
                    "INSERT INTO payment_history (payment_id, seq, from_state, to_state, event, detail, node, at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&id)
                .bind(seq)
                .bind(from.as_str())
                .bind(to.as_str())
                .bind(event.as_str())
                .bind(&detail)
                .bind(&node)
                .bind(now_ms)
                .execute(&mut *conn)
                .await?;
                if matches!(to, State::Failed | State::Cancelled) {
                    crate::risk::release_on_cancel(conn, &id).await?;
                }
                if to.is_final() {
                    // The outbox: told to the initiator, and to the other
                    // party once a downstream call involved it.
                    let involved = !matches!(from, State::Received | State::Reserved);
                    let parties = [
                        (&wallet, p_minor.zip(p_ccy.clone()).unwrap_or((m_minor, m_ccy.clone()))),
                        (&acquirer, (m_minor, m_ccy.clone())),
                    ];
                    for (party, (amount, currency)) in parties {
                        if *party != initiator && !involved {
                            continue;
                        }
                        crate::notifications::enqueue(
                            conn,
                            &format!("ntf:{id}:{seq}:{party}"),
                            &id,
                            party,
                            to,
                            (amount, &currency),
                            now_ms,
                        )
                        .await?;
                    }
                }
                Ok(HistoryEntry {
                    seq,
                    from: Some(from),
                    to,
                    event: Some(event),
                    detail,
                    node,
                    at_ms: now_ms,
                })
            })
        })
        .await
    }

    /// A payment's history, oldest first.
    pub async fn payment_history(&self, id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let rows: Vec<HistoryRow> = sqlx::query_as(
            "SELECT seq, from_state, to_state, event, detail, node, at_ms FROM payment_history \
             WHERE payment_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(entry_of).collect()
    }

    /// The recovery sweep's work: payments whose state a node must finish
    /// or reverse (`payment::Recovery::is_automatic`: not final and not
    /// `exception`), last changed before `updated_before_ms`, oldest first,
    /// at most `limit` (capped at [`PAYMENT_LIST_MAX`]). Exceptions wait
    /// for the operator and are listed by [`Store::payments_in_state`], so
    /// they never crowd out the payments a node can finish.
    pub async fn payments_to_recover(
        &self,
        updated_before_ms: i64,
        limit: i64,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM payments WHERE {OPEN_STATES} AND updated_at_ms < $1 \
             ORDER BY updated_at_ms, id LIMIT $2"
        )))
        .bind(updated_before_ms)
        .bind(limit.clamp(0, PAYMENT_LIST_MAX))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(record_of).collect()
    }

    /// The payments of one clearing date that `participant` is party to
    /// (as wallet or acquirer), by id.
    pub async fn cycle_payments_of(
        &self,
        clearing_date: &str,
        participant: &str,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM payments WHERE clearing_date = $1 AND (wallet = $2 OR acquirer = $2) \
             ORDER BY id"
        )))
        .bind(clearing_date)
        .bind(participant)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(record_of).collect()
    }

    /// Payments in one state, oldest change first, at most `limit` (capped
    /// at [`PAYMENT_LIST_MAX`]): the operator's queue of exceptions.
    pub async fn payments_in_state(
        &self,
        state: State,
        limit: i64,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM payments WHERE state = $1 ORDER BY updated_at_ms, id LIMIT $2"
        )))
        .bind(state.as_str())
        .bind(limit.clamp(0, PAYMENT_LIST_MAX))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(record_of).collect()
    }
}

#[cfg(test)]
mod tests {
    use payment::Recovery;

    use super::*;

    #[test]
    fn the_open_states_are_those_a_node_recovers() {
        for s in State::ALL {
            let listed = !OPEN_STATES.contains(&format!("'{}'", s.as_str()));
            assert_eq!(listed, payment::recovery(s).is_automatic(), "{s}");
        }
        assert!(!Recovery::AwaitOperator.is_automatic());
    }
}

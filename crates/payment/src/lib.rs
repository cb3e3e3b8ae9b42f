//! The payment state machine (SPEC §2.6, §6), as data: one [`State`], one
//! [`Event`], and [`transition`], the one table of legal moves. Anything not
//! in the table is refused and leaves the state as it was. Pure: no I/O; the
//! store persists every transition with a history row in one transaction
//! (`store::payments`), and `docs/payments.md` draws the graph.
//!
//! The crash rule: a node persists the state *before* it acts on it (it
//! writes `crediting` before it sends the `pay` callback, `cancelling`
//! before the cancel). So whatever state a node finds after a crash, the
//! [`recovery`] of that state finishes or reverses the payment.
//!
//! The paths:
//!
//! - MPM: `received → reserved → crediting → succeeded`;
//! - CPM: `received → reserved → authorizing → succeeded`;
//! - a timeout or a `U` answer: `→ unknown`, inquired until the outcome is
//!   known, then cancelled if it stays unknown (`→ cancelling → cancelled`);
//! - a cancel whose outcome stays unknown: `→ exception`, resolved by the
//!   operator to `succeeded` or `cancelled`;
//! - a cancel wins over a late success, which is then reversed.

use std::fmt;

/// How the payment was presented (SPEC §1): the wallet scans the merchant's
/// code, or the merchant scans the payer's.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Merchant-presented: the wallet starts it; the gateway asks the
    /// acquirer to credit the merchant (`pay`).
    Mpm,
    /// Consumer-presented: the acquirer starts it; the gateway asks the
    /// wallet to debit its user (`authorize`).
    Cpm,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Mpm, Mode::Cpm];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Mpm => "mpm",
            Mode::Cpm => "cpm",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether a payment of this mode may take `event` at all: only CPM
    /// asks the wallet to authorise, only MPM asks the acquirer to credit.
    pub fn allows(self, event: Event) -> bool {
        !matches!(
            (self, event),
            (Mode::Mpm, Event::AuthorizeSent) | (Mode::Cpm, Event::CreditSent)
        )
    }
}

/// Which way the money goes, from the home country's point of view
/// (SPEC §1).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A foreign wallet pays a domestic merchant.
    Inbound,
    /// A domestic wallet pays a foreign merchant.
    Outbound,
    /// Neither side is at home.
    Transit,
}

impl Direction {
    pub const ALL: [Direction; 3] = [Direction::Inbound, Direction::Outbound, Direction::Transit];

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Transit => "transit",
        }
    }

    pub fn parse(s: &str) -> Option<Direction> {
        Direction::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// Where a payment is. Written before the node acts on it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Accepted and persisted; nothing has moved.
    Received,
    /// The payer's side is reserved in the ledger (a pending transfer
    /// within the wallet's net debit cap or prefunding); nothing has been
    /// sent downstream.
    Reserved,
    /// CPM: the wallet is being asked to debit its user (`authorize`).
    Authorizing,
    /// MPM: the acquirer is being asked to credit the merchant (`pay`).
    Crediting,
    /// A downstream call's outcome is not known (a timeout, a `U`): inquire.
    Unknown,
    /// A reversal is in progress: the cancel is sent (again) until the
    /// downstream confirms it.
    Cancelling,
    /// Final: the payment went through; the reservation is posted.
    Succeeded,
    /// Final: the payment did not go through; nothing moved, or the
    /// reservation was released.
    Failed,
    /// Final: the payment was reversed.
    Cancelled,
    /// The outcome stayed unknown after the inquiry and cancel budget: the
    /// amounts are held in suspense until the operator resolves it to
    /// `succeeded` or `cancelled`.
    Exception,
}

impl State {
    pub const ALL: [State; 10] = [
        State::Received,
        State::Reserved,
        State::Authorizing,
        State::Crediting,
        State::Unknown,
        State::Cancelling,
        State::Succeeded,
        State::Failed,
        State::Cancelled,
        State::Exception,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Received => "received",
            State::Reserved => "reserved",
            State::Authorizing => "authorizing",
            State::Crediting => "crediting",
            State::Unknown => "unknown",
            State::Cancelling => "cancelling",
            State::Succeeded => "succeeded",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
            State::Exception => "exception",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The outcome is settled and no work is pending: `succeeded`,
    /// `failed`, `cancelled`. A final state is left only by the moves the
    /// table names: a succeeded payment may be cancelled (a reversal before
    /// the cut-off), and a success reported after a payment failed or was
    /// cancelled is reversed (`cancelling`). `exception` is not final: it
    /// waits for the operator.
    pub fn is_final(self) -> bool {
        matches!(self, State::Succeeded | State::Failed | State::Cancelled)
    }

    /// The result status a participant is told (SPEC §4.2): `S` succeeded,
    /// `F` failed or cancelled, `U` anything still open.
    pub fn status(self) -> char {
        match self {
            State::Succeeded => 'S',
            State::Failed | State::Cancelled => 'F',
            _ => 'U',
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a payment. Downstream outcomes are named for what the
/// participant said, whichever call (the first one, an inquiry) said it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The ledger reserved the payer's side.
    ReserveOk,
    /// The ledger refused the reservation (net debit cap, prefunding), or
    /// a check before any money moved refused the payment (risk, an expired
    /// quote).
    ReserveRefused,
    /// Given up before anything was sent downstream (after a crash, or a
    /// refusal found late); the reservation, if any, is released.
    Abandoned,
    /// CPM: the `authorize` request (debit the payer) is about to be sent.
    AuthorizeSent,
    /// MPM: the `pay` request (credit the merchant) is about to be sent.
    CreditSent,
    /// The downstream said the payment succeeded.
    DownstreamOk,
    /// The downstream said, finally, that it did not do it.
    DownstreamDeclined,
    /// No answer, a `U`, or an inquiry that could not tell (including "not
    /// found": the request may still arrive).
    DownstreamUnknown,
    /// The inquiries allowed for an unknown outcome are used up: cancel.
    InquiryBudgetExhausted,
    /// A party (or the gateway itself) asked for the payment to be reversed.
    CancelRequested,
    /// The downstream confirmed the reversal.
    CancelConfirmed,
    /// The cancel was refused or not answered; it is sent again.
    CancelFailed,
    /// The cancels allowed are used up and the outcome is still unknown.
    CancelBudgetExhausted,
    /// The operator resolved an exception: the payment stands.
    ResolveSucceeded,
    /// The operator resolved an exception: the payment is reversed.
    ResolveCancelled,
}

impl Event {
    pub const ALL: [Event; 15] = [
        Event::ReserveOk,
        Event::ReserveRefused,
        Event::Abandoned,
        Event::AuthorizeSent,
        Event::CreditSent,
        Event::DownstreamOk,
        Event::DownstreamDeclined,
        Event::DownstreamUnknown,
        Event::InquiryBudgetExhausted,
        Event::CancelRequested,
        Event::CancelConfirmed,
        Event::CancelFailed,
        Event::CancelBudgetExhausted,
        Event::ResolveSucceeded,
        Event::ResolveCancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::ReserveOk => "reserve_ok",
            Event::ReserveRefused => "reserve_refused",
            Event::Abandoned => "abandoned",
            Event::AuthorizeSent => "authorize_sent",
            Event::CreditSent => "credit_sent",
            Event::DownstreamOk => "downstream_ok",
            Event::DownstreamDeclined => "downstream_declined",
            Event::DownstreamUnknown => "downstream_unknown",
            Event::InquiryBudgetExhausted => "inquiry_budget_exhausted",
            Event::CancelRequested => "cancel_requested",
            Event::CancelConfirmed => "cancel_confirmed",
            Event::CancelFailed => "cancel_failed",
            Event::CancelBudgetExhausted => "cancel_budget_exhausted",
            Event::ResolveSucceeded => "resolve_succeeded",
            Event::ResolveCancelled => "resolve_cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event the table does not allow in a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a payment in state {from} cannot take event {event}")]
pub struct IllegalTransition {
    pub from: State,
    pub event: Event,
}

/// Every legal move: (from, event, to). The one place that says what is
/// legal; [`transition`] reads it, the docs and tests list it.
pub const TABLE: [(State, Event, State); 30] = {
    use Event as E;
    use State as S;
    [
        // Before anything is sent downstream.
        (S::Received, E::ReserveOk, S::Reserved),
        (S::Received, E::ReserveRefused, S::Failed),
        (S::Received, E::Abandoned, S::Failed),
        (S::Received, E::CancelRequested, S::Cancelling),
        (S::Reserved, E::AuthorizeSent, S::Authorizing),
        (S::Reserved, E::CreditSent, S::Crediting),
        (S::Reserved, E::Abandoned, S::Failed),
        (S::Reserved, E::CancelRequested, S::Cancelling),
        // Waiting for the downstream.
        (S::Authorizing, E::DownstreamOk, S::Succeeded),
        (S::Authorizing, E::DownstreamDeclined, S::Failed),
        (S::Authorizing, E::DownstreamUnknown, S::Unknown),
        (S::Authorizing, E::CancelRequested, S::Cancelling),
        (S::Crediting, E::DownstreamOk, S::Succeeded),
        (S::Crediting, E::DownstreamDeclined, S::Failed),
        (S::Crediting, E::DownstreamUnknown, S::Unknown),
        (S::Crediting, E::CancelRequested, S::Cancelling),
        // Inquiring.
        (S::Unknown, E::DownstreamOk, S::Succeeded),
        (S::Unknown, E::DownstreamDeclined, S::Failed),
        (S::Unknown, E::DownstreamUnknown, S::Unknown),
        (S::Unknown, E::InquiryBudgetExhausted, S::Cancelling),
        (S::Unknown, E::CancelRequested, S::Cancelling),
        // Reversing: a late success does not stop it.
        (S::Cancelling, E::CancelConfirmed, S::Cancelled),
        (S::Cancelling, E::CancelFailed, S::Cancelling),
        (S::Cancelling, E::DownstreamOk, S::Cancelling),
        (S::Cancelling, E::CancelBudgetExhausted, S::Exception),
        // Leaving a final state: a reversal, or a late success reversed.
        (S::Succeeded, E::CancelRequested, S::Cancelling),
        (S::Failed, E::DownstreamOk, S::Cancelling),
        (S::Cancelled, E::DownstreamOk, S::Cancelling),
        // The operator's resolution of an exception.
        (S::Exception, E::ResolveSucceeded, S::Succeeded),
        (S::Exception, E::ResolveCancelled, S::Cancelled),
    ]
};

/// The next state, or a refusal that leaves `from` as it was. Total: every
/// pair of state and event has an answer.
pub fn transition(from: State, event: &Event) -> Result<State, IllegalTransition> {
    TABLE
        .iter()
        .find(|(f, e, _)| *f == from && e == event)
        .map(|(_, _, to)| *to)
        .ok_or(IllegalTransition {
            from,
            event: *event,
        })
}

/// [`transition`] for a payment of `mode`: an event of the other mode's
/// flow is refused too.
pub fn transition_for(mode: Mode, from: State, event: &Event) -> Result<State, IllegalTransition> {
    if !mode.allows(*event) {
        return Err(IllegalTransition {
            from,
            event: *event,
        });
    }
    transition(from, event)
}

/// What a node that finds a payment in a state (after a crash, or in the
/// recovery sweep) must do to finish or reverse it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Recovery {
    /// Final: nothing.
    Nothing,
    /// Nothing moved: apply `abandoned` (to `failed`).
    Fail,
    /// Void the payment's open reservation in the ledger, then apply
    /// `abandoned` (to `failed`). Nothing was sent downstream.
    VoidAndFail,
    /// Ask the downstream (`inquiry`, with the request id written before
    /// the first call) and apply what it says; cancel once the inquiry
    /// budget is used up.
    Inquire,
    /// Send the cancel again (it is idempotent downstream) and apply what
    /// it says; `exception` once the cancel budget is used up.
    ResendCancel,
    /// Nothing automatic: the operator resolves it (the sweep alerts).
    AwaitOperator,
}

impl Recovery {
    pub const ALL: [Recovery; 6] = [
        Recovery::Nothing,
        Recovery::Fail,
        Recovery::VoidAndFail,
        Recovery::Inquire,
        Recovery::ResendCancel,
        Recovery::AwaitOperator,
    ];

    pub fn parse(s: &str) -> Option<Recovery> {
        Recovery::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Recovery::Nothing => "nothing",
            Recovery::Fail => "fail",
            Recovery::VoidAndFail => "void_and_fail",
            Recovery::Inquire => "inquire",
            Recovery::ResendCancel => "resend_cancel",
            Recovery::AwaitOperator => "await_operator",
        }
    }

    /// Whether a node does it without the operator (the recovery sweep's
    /// work list).
    pub fn is_automatic(self) -> bool {
        !matches!(self, Recovery::Nothing | Recovery::AwaitOperator)
    }

    /// The events the recovery may apply, one per answer it may meet. The
    /// last one of `inquire` and `resend_cancel` is the inconclusive
    /// answer, retried within a budget (see [`Recovery::budget_exhausted`]).
    pub fn outcomes(self) -> &'static [Event] {
        match self {
            Recovery::Nothing => &[],
            Recovery::Fail | Recovery::VoidAndFail => &[Event::Abandoned],
            Recovery::Inquire => &[
                Event::DownstreamOk,
                Event::DownstreamDeclined,
                Event::DownstreamUnknown,
            ],
            Recovery::ResendCancel => &[
                Event::CancelConfirmed,
                Event::DownstreamOk,
                Event::CancelFailed,
            ],
            Recovery::AwaitOperator => &[Event::ResolveSucceeded, Event::ResolveCancelled],
        }
    }

    /// The event applied when the retries of an inconclusive answer are
    /// used up. The budget is counted in the state the inconclusive answer
    /// leads to (`unknown`, `cancelling`) from the payment's history, so it
    /// survives a crash.
    pub fn budget_exhausted(self) -> Option<Event> {
        match self {
            Recovery::Inquire => Some(Event::InquiryBudgetExhausted),
            Recovery::ResendCancel => Some(Event::CancelBudgetExhausted),
            _ => None,
        }
    }
}

/// What a node must do with a payment it finds in `state`.
pub fn recovery(state: State) -> Recovery {
    match state {
        State::Received => Recovery::Fail,
        State::Reserved => Recovery::VoidAndFail,
        State::Authorizing | State::Crediting | State::Unknown => Recovery::Inquire,
        State::Cancelling => Recovery::ResendCancel,
        State::Exception => Recovery::AwaitOperator,
        State::Succeeded | State::Failed | State::Cancelled => Recovery::Nothing,
    }
}

/// How many times the last state was kept by an inconclusive answer: the
/// moves at the end of `steps` (from, event, to) that stayed in the state
/// they started from. A node compares this with its inquiry or cancel
/// budget; counted from the persisted history, it survives a crash.
pub fn retries(steps: &[(State, Event, State)]) -> usize {
    steps
        .iter()
        .rev()
        .take_while(|(from, _, to)| from == to)
        .count()
}

/// Replay a history: the state after `events` from `received`, or the
/// first refusal.
pub fn replay<'a>(events: impl IntoIterator<Item = &'a Event>) -> Result<State, IllegalTransition> {
    events.into_iter().try_fold(State::Received, transition)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).ok(),
                Some(format!("\"{}\"", s.as_str()))
            );
        }
        for e in Event::ALL {
            assert_eq!(Event::parse(e.as_str()), Some(e));
            assert_eq!(
                serde_json::to_string(&e).ok(),
                Some(format!("\"{}\"", e.as_str()))
            );
        }
        for m in Mode::ALL {
            assert_eq!(Mode::parse(m.as_str()), Some(m));
            assert_eq!(
                serde_json::to_string(&m).ok(),
                Some(format!("\"{}\"", m.as_str()))
            );
        }
        for d in Direction::ALL {
            assert_eq!(Direction::parse(d.as_str()), Some(d));
            assert_eq!(
                serde_json::to_string(&d).ok(),
                Some(format!("\"{}\"", d.as_str()))
            );
        }
        for r in Recovery::ALL {
            assert_eq!(Recovery::parse(r.as_str()), Some(r));
            assert_eq!(
                serde_json::to_string(&r).ok(),
                Some(format!("\"{}\"", r.as_str()))
            );
        }
        assert_eq!(State::parse("Succeeded"), None);
        assert_eq!(Event::parse(""), None);
    }

    #[test]
    fn retries_count_the_trailing_moves_in_place() {
        use Event as E;
        use State as S;
        assert_eq!(retries(&[]), 0);
        let steps = [
            (S::Crediting, E::DownstreamUnknown, S::Unknown),
            (S::Unknown, E::DownstreamUnknown, S::Unknown),
            (S::Unknown, E::DownstreamUnknown, S::Unknown),
        ];
        assert_eq!(retries(&steps), 2);
        let steps = [
            (S::Unknown, E::DownstreamUnknown, S::Unknown),
            (S::Unknown, E::InquiryBudgetExhausted, S::Cancelling),
            (S::Cancelling, E::CancelFailed, S::Cancelling),
        ];
        assert_eq!(retries(&steps), 1);
    }

    #[test]
    fn the_table_has_one_answer_per_pair() {
        let all = TABLE;
        for (i, (f, e, _)) in all.iter().enumerate() {
            assert!(
                !all.iter().skip(i + 1).any(|(f2, e2, _)| f2 == f && e2 == e),
                "{f} {e} twice"
            );
        }
    }
}

//! Properties over random event sequences: whatever happens, and in
//! whatever order, a payment stays on the legal graph.

use payment::{
    Event, Mode, Recovery, State, TABLE, recovery, replay, retries, transition, transition_for,
};
use proptest::prelude::*;

fn event() -> impl Strategy<Value = Event> {
    proptest::sample::select(Event::ALL.to_vec())
}

fn mode() -> impl Strategy<Value = Mode> {
    proptest::sample::select(Mode::ALL.to_vec())
}

/// One applied step of a walk.
#[derive(Clone, Copy, Debug)]
struct Step {
    from: State,
    event: Event,
    to: State,
}

/// Apply `events` in order from `received`; refused events change nothing
/// and are left out of the steps.
fn walk(mode: Mode, events: &[Event]) -> (State, Vec<Step>) {
    let mut state = State::Received;
    let mut steps = Vec::new();
    for event in events {
        match transition_for(mode, state, event) {
            Ok(to) => {
                steps.push(Step {
                    from: state,
                    event: *event,
                    to,
                });
                state = to;
            }
            Err(e) => {
                assert_eq!((e.from, e.event), (state, *event));
            }
        }
    }
    (state, steps)
}

/// The moves by which a final state may be left.
const LEAVING_FINAL: [(State, Event); 3] = [
    (State::Succeeded, Event::CancelRequested),
    (State::Failed, Event::DownstreamOk),
    (State::Cancelled, Event::DownstreamOk),
];

/// Mostly the events of a payment's life, so walks go deep.
fn events() -> impl Strategy<Value = Vec<Event>> {
    proptest::collection::vec(event(), 0..60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn no_sequence_leaves_the_legal_graph(mode in mode(), events in events()) {
        let (end, steps) = walk(mode, &events);
        for s in &steps {
            // Every step taken is a row of the table.
            prop_assert!(TABLE.contains(&(s.from, s.event, s.to)), "{s:?}");
            // Finals are left only by the documented moves.
            if s.from.is_final() {
                prop_assert!(LEAVING_FINAL.contains(&(s.from, s.event)), "{s:?}");
            }
            // `exception` only through the exhausted cancel budget.
            if s.to == State::Exception {
                prop_assert_eq!((s.from, s.event), (State::Cancelling, Event::CancelBudgetExhausted));
            }
            // Each mode keeps to its own flow.
            match mode {
                Mode::Mpm => prop_assert_ne!(s.to, State::Authorizing),
                Mode::Cpm => prop_assert_ne!(s.to, State::Crediting),
            }
        }
        // The steps replay to the same state.
        let applied: Vec<Event> = steps.iter().map(|s| s.event).collect();
        prop_assert_eq!(replay(&applied), Ok(end));
        // Consecutive steps chain.
        for w in steps.windows(2) {
            prop_assert_eq!(w[0].to, w[1].from);
        }
    }

    #[test]
    fn a_cancel_wins_over_a_late_success(mode in mode(), events in events()) {
        let (_, steps) = walk(mode, &events);
        // Once a reversal has started, only the operator can make the
        // payment a success.
        if let Some(first) = steps.iter().position(|s| s.to == State::Cancelling) {
            for s in &steps[first..] {
                if s.to == State::Succeeded {
                    prop_assert_eq!((s.from, s.event), (State::Exception, Event::ResolveSucceeded));
                }
            }
        }
        // A success reported while cancelling, or after the payment ended
        // without one, keeps or puts it in `cancelling` (reversed).
        for s in &steps {
            if s.event == Event::DownstreamOk && matches!(s.from, State::Cancelling | State::Failed | State::Cancelled) {
                prop_assert_eq!(s.to, State::Cancelling);
            }
        }
    }

    #[test]
    fn a_succeeded_then_cancelled_payment_records_the_reversal(mode in mode(), events in events()) {
        let (_, steps) = walk(mode, &events);
        let mut succeeded = false;
        let mut reversing = false;
        for s in &steps {
            if s.to == State::Succeeded {
                succeeded = true;
                reversing = false;
            }
            if succeeded && s.to == State::Cancelling {
                reversing = true;
            }
            if succeeded && s.to == State::Cancelled {
                // Straight from the reversal, or the operator's resolution
                // of one that went to exception.
                prop_assert!(reversing, "{steps:?}");
                prop_assert!(matches!(
                    (s.from, s.event),
                    (State::Cancelling, Event::CancelConfirmed) | (State::Exception, Event::ResolveCancelled)
                ));
            }
        }
    }

    /// From wherever a crash leaves a payment, its recovery ends it: each
    /// outcome the recovery meets is legal, retries are bounded by a
    /// budget, and the budget's exhaustion leads on, so a final state comes
    /// within a bounded number of steps.
    #[test]
    fn every_reachable_state_recovers_to_a_final_state(
        mode in mode(),
        events in events(),
        picks in proptest::collection::vec(0usize..4, 64),
        budget in 0usize..5,
    ) {
        let (mut state, walked) = walk(mode, &events);
        // The history the recovering node reads, and counts its budget in.
        let mut history: Vec<(State, Event, State)> =
            walked.iter().map(|s| (s.from, s.event, s.to)).collect();
        let mut steps = 0;
        let mut picks = picks.into_iter().cycle();
        while !state.is_final() {
            let r = recovery(state);
            prop_assert_ne!(r, Recovery::Nothing, "{} is not final but has no recovery", state);
            let outcomes = r.outcomes();
            let mut event = outcomes[picks.next().unwrap_or(0) % outcomes.len()];
            // An answer that keeps the payment where it is (an inconclusive
            // inquiry, a failed cancel, a late success while cancelling) is
            // retried within the budget, then the budget's end applies.
            if transition(state, &event) == Ok(state) && retries(&history) >= budget {
                let exhausted = r.budget_exhausted();
                prop_assert!(exhausted.is_some(), "{} retries {} without a budget", state, event);
                event = exhausted.unwrap_or(event);
            }
            let next = transition(state, &event);
            prop_assert!(next.is_ok(), "{state} {event}: {next:?}");
            let next = next.unwrap_or(state);
            history.push((state, event, next));
            state = next;
            steps += 1;
            prop_assert!(steps <= 4 * (budget + 2) + 4, "no end after {steps} steps");
        }
    }

    /// A refused event changes nothing: the state after it is the state
    /// before it.
    #[test]
    fn refusals_change_nothing(from in proptest::sample::select(State::ALL.to_vec()), event in event()) {
        match transition(from, &event) {
            Ok(to) => prop_assert!(TABLE.contains(&(from, event, to))),
            Err(e) => {
                prop_assert_eq!(e.from, from);
                prop_assert!(!TABLE.iter().any(|(f, ev, _)| *f == from && *ev == event));
            }
        }
    }
}

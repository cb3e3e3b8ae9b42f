//! Every state × every event, with the expected next state or a refusal
//! (`-`), written out: a change to the machine must change this grid.

use payment::{Event, Mode, Recovery, State, TABLE, recovery, transition, transition_for};

/// Columns, in this order.
const EVENTS: [Event; 15] = [
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

/// One row per state; one column per event of `EVENTS`.
const GRID: &str = "
#            reserve_ok reserve_refused abandoned authorize_sent credit_sent downstream_ok downstream_declined downstream_unknown inquiry_budget_exhausted cancel_requested cancel_confirmed cancel_failed cancel_budget_exhausted resolve_succeeded resolve_cancelled
received     reserved   failed          failed    -              -           -             -                   -                  -                        cancelling       -                -             -                       -                 -
reserved     -          -               failed    authorizing    crediting   -             -                   -                  -                        cancelling       -                -             -                       -                 -
authorizing  -          -               -         -              -           succeeded     failed              unknown            -                        cancelling       -                -             -                       -                 -
crediting    -          -               -         -              -           succeeded     failed              unknown            -                        cancelling       -                -             -                       -                 -
unknown      -          -               -         -              -           succeeded     failed              unknown            cancelling               cancelling       -                -             -                       -                 -
cancelling   -          -               -         -              -           cancelling    -                   -                  -                        -                cancelled        cancelling    exception               -                 -
succeeded    -          -               -         -              -           -             -                   -                  -                        cancelling       -                -             -                       -                 -
failed       -          -               -         -              -           cancelling    -                   -                  -                        -                -                -             -                       -                 -
cancelled    -          -               -         -              -           cancelling    -                   -                  -                        -                -                -             -                       -                 -
exception    -          -               -         -              -           -             -                   -                  -                        -                -                -             -                       succeeded         cancelled
";

fn grid() -> Vec<(State, Vec<Option<State>>)> {
    GRID.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut cells = l.split_whitespace();
            let from = State::parse(cells.next().unwrap()).unwrap();
            let row: Vec<Option<State>> = cells
                .map(|c| (c != "-").then(|| State::parse(c).expect(c)))
                .collect();
            assert_eq!(row.len(), EVENTS.len(), "row {from}");
            (from, row)
        })
        .collect()
}

#[test]
fn every_state_and_event_has_the_written_answer() {
    let grid = grid();
    assert_eq!(grid.len(), State::ALL.len());
    assert_eq!(EVENTS.len(), Event::ALL.len());
    let mut legal = 0;
    for (from, row) in &grid {
        for (event, expect) in EVENTS.iter().zip(row) {
            let got = transition(*from, event);
            match expect {
                Some(to) => {
                    legal += 1;
                    assert_eq!(got, Ok(*to), "{from} --{event}-->");
                }
                None => {
                    let e = got.expect_err(&format!("{from} --{event}--> should be refused"));
                    assert_eq!((e.from, e.event), (*from, *event));
                    assert_eq!(
                        e.to_string(),
                        format!("a payment in state {from} cannot take event {event}")
                    );
                }
            }
        }
    }
    assert_eq!(legal, TABLE.len(), "the grid and the table differ in size");
}

#[test]
fn the_header_names_the_events_in_order() {
    let header = GRID.lines().find(|l| l.starts_with('#')).unwrap();
    let names: Vec<&str> = header.split_whitespace().skip(1).collect();
    let expect: Vec<&str> = EVENTS.iter().map(|e| e.as_str()).collect();
    assert_eq!(names, expect);
}

#[test]
fn each_mode_refuses_the_other_modes_step() {
    assert!(transition_for(Mode::Mpm, State::Reserved, &Event::AuthorizeSent).is_err());
    assert_eq!(
        transition_for(Mode::Mpm, State::Reserved, &Event::CreditSent),
        Ok(State::Crediting)
    );
    assert!(transition_for(Mode::Cpm, State::Reserved, &Event::CreditSent).is_err());
    assert_eq!(
        transition_for(Mode::Cpm, State::Reserved, &Event::AuthorizeSent),
        Ok(State::Authorizing)
    );
    // Otherwise the modes share the table.
    for mode in Mode::ALL {
        for from in State::ALL {
            for event in Event::ALL {
                if mode.allows(event) {
                    assert_eq!(transition_for(mode, from, &event), transition(from, &event));
                }
            }
        }
    }
}

#[test]
fn recovery_of_each_state() {
    let expect = [
        (State::Received, Recovery::Fail),
        (State::Reserved, Recovery::VoidAndFail),
        (State::Authorizing, Recovery::Inquire),
        (State::Crediting, Recovery::Inquire),
        (State::Unknown, Recovery::Inquire),
        (State::Cancelling, Recovery::ResendCancel),
        (State::Succeeded, Recovery::Nothing),
        (State::Failed, Recovery::Nothing),
        (State::Cancelled, Recovery::Nothing),
        (State::Exception, Recovery::AwaitOperator),
    ];
    assert_eq!(expect.len(), State::ALL.len());
    for (state, r) in expect {
        assert_eq!(recovery(state), r, "{state}");
        // Final exactly when there is nothing to do.
        assert_eq!(state.is_final(), r == Recovery::Nothing, "{state}");
        // Every outcome a recovery can meet is legal where it is used.
        for event in r.outcomes() {
            assert!(transition(state, event).is_ok(), "{state} {event}");
        }
        // The budget's end is legal once an inconclusive answer was taken.
        if let Some(exhausted) = r.budget_exhausted() {
            let retry = r.outcomes().last().unwrap();
            let retrying = transition(state, retry).unwrap();
            assert_eq!(recovery(retrying), r, "{state}");
            let next = transition(retrying, &exhausted).unwrap();
            assert!(!next.is_final() || next == State::Cancelled, "{state}");
        }
    }
}

#[test]
fn finals_and_statuses() {
    let finals: Vec<State> = State::ALL.into_iter().filter(|s| s.is_final()).collect();
    assert_eq!(finals, [State::Succeeded, State::Failed, State::Cancelled]);
    let statuses: String = State::ALL.iter().map(|s| s.status()).collect();
    assert_eq!(statuses, "UUUUUUSFFU");
}

#[test]
fn every_state_is_reachable_and_every_state_can_end() {
    // Forward from `received`.
    let mut seen = vec![State::Received];
    let mut i = 0;
    while let Some(&s) = seen.get(i) {
        for (f, _, to) in TABLE {
            if f == s && !seen.contains(&to) {
                seen.push(to);
            }
        }
        i += 1;
    }
    assert_eq!(seen.len(), State::ALL.len(), "{seen:?}");
    // Backward from the finals.
    let mut ends: Vec<State> = State::ALL.into_iter().filter(|s| s.is_final()).collect();
    loop {
        let before = ends.len();
        for (f, _, to) in TABLE {
            if ends.contains(&to) && !ends.contains(&f) {
                ends.push(f);
            }
        }
        if ends.len() == before {
            break;
        }
    }
    assert_eq!(ends.len(), State::ALL.len(), "{ends:?}");
}

//! `docs/payments.md` says what the code does: its transition table is
//! `payment::TABLE`, and its state table gives each state's finality,
//! status and recovery.

use payment::{Event, State, TABLE, recovery};

fn doc() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/payments.md");
    std::fs::read_to_string(&path).expect("docs/payments.md")
}

/// The cells of the table rows of `doc` whose first cell is a name in
/// backquotes, the backquotes removed.
fn rows(doc: &str) -> Vec<Vec<String>> {
    doc.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

fn name(cell: &str) -> &str {
    cell.trim_matches('`')
}

#[test]
fn the_documented_transitions_are_the_table() {
    let doc = doc();
    let mut documented = Vec::new();
    for r in rows(&doc) {
        if r.len() != 3 {
            continue;
        }
        let (Some(from), Some(event), Some(to)) = (
            State::parse(name(&r[0])),
            Event::parse(name(&r[1])),
            State::parse(name(&r[2])),
        ) else {
            continue;
        };
        documented.push((from, event, to));
    }
    assert_eq!(documented, TABLE.to_vec());
}

#[test]
fn the_documented_states_match_the_code() {
    let doc = doc();
    let mut seen = Vec::new();
    for r in rows(&doc) {
        if r.len() != 5 {
            continue;
        }
        let Some(state) = State::parse(name(&r[0])) else {
            continue;
        };
        let final_ = if state.is_final() { "yes" } else { "no" };
        assert_eq!(r[2], final_, "{state}");
        assert_eq!(r[3], state.status().to_string(), "{state}");
        let r4 = &r[4];
        let named = match recovery(state).as_str() {
            "nothing" => r4 == "nothing",
            other => r4.starts_with(&format!("`{other}`")),
        };
        assert!(named, "{state}: {r4}");
        seen.push(state);
    }
    assert_eq!(seen, State::ALL.to_vec());
}

#[test]
fn every_event_is_documented() {
    let doc = doc();
    let documented: Vec<Event> = rows(&doc)
        .iter()
        .filter(|r| r.len() == 2)
        .filter_map(|r| Event::parse(name(&r[0])))
        .collect();
    assert_eq!(documented, Event::ALL.to_vec());
}

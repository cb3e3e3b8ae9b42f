//! The routing crate's tests: the route table over every scheme's sample
//! codes, and specificity, ambiguity, direction and validation by example.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

mod fixtures;
mod props;
mod table;

use routing::{Route, RouteSpec, Table};

/// A table of `(side, kind, value, participant)` rows, each validated, ids
/// `r1`, `r2`, ….
pub fn table(rows: &[(&str, &str, &str, &str)]) -> Table {
    let routes = rows
        .iter()
        .enumerate()
        .map(|(i, (side, kind, value, participant))| {
            let (row, _) = RouteSpec {
                side: side.to_string(),
                kind: kind.to_string(),
                value: value.to_string(),
                participant_id: participant.to_string(),
            }
            .validate()
            .unwrap_or_else(|e| panic!("{value}: {e}"));
            Route {
                id: format!("r{}", i + 1),
                side: row.side,
                kind: row.kind,
                value: row.value,
                participant_id: row.participant_id,
            }
        })
        .collect();
    Table::new(routes).expect("table")
}

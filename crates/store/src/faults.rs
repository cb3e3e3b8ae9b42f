//! Named fault points for the crash tests (`crates/unigate/tests/faults.rs`).
//! With `UNIGATE_FAULT_POINT=NAME` in its environment, a node that reaches
//! the point `NAME` says so on stderr and stops working there — the
//! request stays where it is and the background work stops — so the test
//! can kill it with SIGKILL at exactly that moment. Without the variable
//! (always, in production) every point is a no-op.
//!
//! The points: `after_reserve` (the reservation is written, nothing was
//! sent downstream), `after_send` (the downstream answered, the answer is
//! not stored), `after_success` (`succeeded` is stored with its
//! notifications, none sent), `mid_close` (a clearing cycle's state, positions and
//! instructions are written inside the close's transaction, not committed:
//! it never commits).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// The points a node knows.
pub const POINTS: [&str; 4] = ["after_reserve", "after_send", "after_success", "mid_close"];

static POINT: OnceLock<Option<String>> = OnceLock::new();
static HUNG: AtomicBool = AtomicBool::new(false);

fn configured() -> Option<&'static str> {
    POINT
        .get_or_init(|| std::env::var("UNIGATE_FAULT_POINT").ok())
        .as_deref()
}

/// Stop here for good if this is the configured fault point.
pub async fn point(name: &str) {
    if configured() == Some(name) {
        HUNG.store(true, Ordering::SeqCst);
        // The crash test waits for this line, then kills the process.
        #[allow(clippy::print_stderr)]
        {
            eprintln!("UNIGATE FAULT POINT {name} reached");
        }
        std::future::pending::<()>().await;
    }
}

/// Whether a fault point stopped this node (its background work stops too).
pub fn hung() -> bool {
    HUNG.load(Ordering::SeqCst)
}

//! A circuit breaker per participant: after `failures_to_open` failures in
//! a row (no answer, a 5xx, an answer that does not verify) the
//! participant's circuit opens and calls fail at once, without being
//! sent, for `open_ms`; then one probe is let through (half open): its
//! success closes the circuit, its failure opens it again.
//!
//! The state is each node's own: it describes what this node sees of the
//! participant, and costs nothing on the store. Nothing depends on it for
//! correctness: a call refused by an open circuit was never sent.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The breaker's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Failures in a row that open the circuit.
    pub failures_to_open: u32,
    /// How long it stays open before a probe is let through.
    pub open_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures_to_open: 5,
            open_ms: 30_000,
        }
    }
}

/// What the breaker says of a participant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Circuit {
    /// Calls go through; `failures` in a row so far.
    Closed { failures: u32 },
    /// Calls are refused until `until`.
    Open { until: Instant },
    /// One probe is out since `since`; other calls are refused until it
    /// ends, or until `open_ms` has passed without its end being recorded
    /// (its caller went away): then another probe may go.
    HalfOpen { since: Instant },
}

impl Circuit {
    pub fn name(&self) -> &'static str {
        match self {
            Circuit::Closed { .. } => "closed",
            Circuit::Open { .. } => "open",
            Circuit::HalfOpen { .. } => "half_open",
        }
    }
}

/// The breakers of all participants, for one node.
#[derive(Debug)]
pub struct Breakers {
    config: BreakerConfig,
    circuits: Mutex<HashMap<String, Circuit>>,
}

impl Breakers {
    pub fn new(config: BreakerConfig) -> Breakers {
        Breakers {
            config,
            circuits: Mutex::new(HashMap::new()),
        }
    }

    /// The participant's circuit now.
    pub fn circuit(&self, participant: &str) -> Circuit {
        self.circuits
            .lock()
            .ok()
            .and_then(|c| c.get(participant).copied())
            .unwrap_or(Circuit::Closed { failures: 0 })
    }

    /// May a call to `participant` be sent now? An open circuit whose time
    /// is up lets this one call through as the probe.
    pub fn admit(&self, participant: &str, now: Instant) -> bool {
        let Ok(mut circuits) = self.circuits.lock() else {
            return true;
        };
        let circuit = circuits
            .entry(participant.to_string())
            .or_insert(Circuit::Closed { failures: 0 });
        let period = Duration::from_millis(self.config.open_ms);
        match *circuit {
            Circuit::Closed { .. } => true,
            Circuit::Open { until } if now >= until => {
                *circuit = Circuit::HalfOpen { since: now };
                true
            }
            Circuit::HalfOpen { since } if now.saturating_duration_since(since) >= period => {
                *circuit = Circuit::HalfOpen { since: now };
                true
            }
            Circuit::Open { .. } | Circuit::HalfOpen { .. } => false,
        }
    }

    /// Record how a call that was admitted ended.
    pub fn record(&self, participant: &str, healthy: bool, now: Instant) {
        let Ok(mut circuits) = self.circuits.lock() else {
            return;
        };
        let circuit = circuits
            .entry(participant.to_string())
            .or_insert(Circuit::Closed { failures: 0 });
        let open = Circuit::Open {
            until: now
                .checked_add(Duration::from_millis(self.config.open_ms))
                .unwrap_or(now),
        };
        *circuit = match (*circuit, healthy) {
            (_, true) => Circuit::Closed { failures: 0 },
            (Circuit::HalfOpen { .. } | Circuit::Open { .. }, false) => open,
            (Circuit::Closed { failures }, false) => {
                let failures = failures.saturating_add(1);
                if failures >= self.config.failures_to_open.max(1) {
                    tracing::warn!(participant, failures, "circuit opened");
                    metrics::counter!("unigate_connector_circuit_opened_total").increment(1);
                    open
                } else {
                    Circuit::Closed { failures }
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_failures_in_a_row_then_probes_then_closes() {
        let b = Breakers::new(BreakerConfig {
            failures_to_open: 3,
            open_ms: 1_000,
        });
        let t0 = Instant::now();
        for _ in 0..2 {
            assert!(b.admit("w", t0));
            b.record("w", false, t0);
        }
        assert_eq!(b.circuit("w"), Circuit::Closed { failures: 2 });
        // A success in between resets the count.
        b.record("w", true, t0);
        for _ in 0..3 {
            assert!(b.admit("w", t0));
            b.record("w", false, t0);
        }
        assert_eq!(b.circuit("w").name(), "open");
        assert!(!b.admit("w", t0 + Duration::from_millis(999)));
        // Others are not affected.
        assert!(b.admit("other", t0));
        // Time up: exactly one probe.
        let later = t0 + Duration::from_millis(1_000);
        assert!(b.admit("w", later));
        assert_eq!(b.circuit("w"), Circuit::HalfOpen { since: later });
        assert!(!b.admit("w", later));
        // A probe whose end is never recorded does not hold it forever.
        let lost = later + Duration::from_millis(1_000);
        assert!(b.admit("w", lost));
        assert!(!b.admit("w", lost));
        // The probe fails: open again, for a full period.
        b.record("w", false, lost);
        assert!(!b.admit("w", lost + Duration::from_millis(999)));
        let again = lost + Duration::from_millis(1_000);
        assert!(b.admit("w", again));
        b.record("w", true, again);
        assert_eq!(b.circuit("w"), Circuit::Closed { failures: 0 });
        assert!(b.admit("w", again));
    }
}

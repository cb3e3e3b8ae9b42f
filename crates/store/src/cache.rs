//! A short-lived read cache for the rows every payment reads and almost
//! nothing writes: participants, their public keys, FX rates, markups and
//! settings.
//!
//! A payment reads them about forty times (each signed call, each callback,
//! each conversion); through SQLite's driver each read is a hand-off to
//! its worker thread and back. This node's own writes clear what they touch
//! at once; another node's are seen within `ttl` (every node keeps the
//! store as the only truth, SPEC §4: the cache is a copy, never a source).
//! A participant or key version that is not there is read again each time,
//! so one registered on another node is found on the first try.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::fx::{FxRateRow, MarkupRow};
use crate::keys::KeyRecord;
use crate::participants::Participant;

/// Most entries of one kind held at once: beyond it the kind starts over
/// (the ids come from callers' headers, so the set must not grow unbounded).
const ENTRIES_MAX: usize = 10_000;

/// One kind of row by key, each with the time it was read.
#[derive(Debug)]
pub(crate) struct Shelf<K, V> {
    ttl: Duration,
    /// Counts the clears: a read that began before a clear must not put
    /// back what the write just made stale.
    generation: AtomicU64,
    rows: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> Shelf<K, V> {
    fn new(ttl: Duration) -> Self {
        Shelf {
            ttl,
            generation: AtomicU64::new(0),
            rows: Mutex::new(HashMap::new()),
        }
    }

    /// The row, if read less than `ttl` ago.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        if self.ttl.is_zero() {
            return None;
        }
        let rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        rows.get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    /// Take before reading the row from the store; give to [`Shelf::put`].
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keep a row read from the store, unless this node wrote that kind
    /// since the read began (`generation` from before the read).
    pub(crate) fn put(&self, key: K, value: V, generation: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if rows.len() >= ENTRIES_MAX {
            rows.clear();
        }
        rows.insert(key, (Instant::now(), value));
    }

    /// Forget everything of this kind (after this node wrote some of it).
    pub(crate) fn clear(&self) {
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        rows.clear();
    }
}

/// The cached kinds.
#[derive(Debug)]
pub(crate) struct ReadCache {
    pub(crate) participants: Shelf<String, Participant>,
    pub(crate) participant_list: Shelf<(), Vec<Participant>>,
    pub(crate) keys: Shelf<String, Vec<KeyRecord>>,
    pub(crate) rates: Shelf<(), Vec<FxRateRow>>,
    pub(crate) markups: Shelf<(), Vec<MarkupRow>>,
    pub(crate) settings: Shelf<String, Option<String>>,
}

impl ReadCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        ReadCache {
            participants: Shelf::new(ttl),
            participant_list: Shelf::new(ttl),
            keys: Shelf::new(ttl),
            rates: Shelf::new(ttl),
            markups: Shelf::new(ttl),
            settings: Shelf::new(ttl),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_expire_and_clear() {
        let shelf: Shelf<String, u32> = Shelf::new(Duration::from_millis(50));
        shelf.put("a".into(), 1, shelf.generation());
        assert_eq!(shelf.get(&"a".to_string()), Some(1));
        let before = shelf.generation();
        shelf.clear();
        assert_eq!(shelf.get(&"a".to_string()), None);
        shelf.put("a".into(), 9, before);
        assert_eq!(shelf.get(&"a".to_string()), None, "read before the clear");
        shelf.put("a".into(), 2, shelf.generation());
        assert_eq!(shelf.get(&"a".to_string()), Some(2));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(shelf.get(&"a".to_string()), None, "older than the ttl");
    }

    #[test]
    fn zero_ttl_keeps_nothing() {
        let shelf: Shelf<String, u32> = Shelf::new(Duration::ZERO);
        shelf.put("a".into(), 1, shelf.generation());
        assert_eq!(shelf.get(&"a".to_string()), None);
    }

    #[test]
    fn bounded() {
        let shelf: Shelf<usize, usize> = Shelf::new(Duration::from_secs(60));
        for i in 0..ENTRIES_MAX + 5 {
            shelf.put(i, i, shelf.generation());
        }
        assert!(shelf.rows.lock().unwrap().len() <= ENTRIES_MAX);
    }
}

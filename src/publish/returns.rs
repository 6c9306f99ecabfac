//! How returned (unroutable) messages are reported: every one is counted,
//! but a routing key is logged at most once a minute, with the count of the
//! returns it stood for. With no queue bound, every message of a busy source
//! comes back, and a line (let alone a dump) per message would drown the log.
//! No I/O, no clock: the time is a parameter.

use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// The shortest time between two log lines about one routing key.
pub(super) const LOG_EVERY: Duration = Duration::from_secs(60);

/// Routing keys are `item.<kind>.<source id>`, bounded by the config; the map
/// is still swept past this size, so nothing a broker does can grow it.
const MAX_KEYS: usize = 1024;

/// When each routing key was last logged, and the returns since.
#[derive(Debug, Default)]
pub(super) struct ReturnLog {
    keys: HashMap<String, Key>,
}

#[derive(Debug)]
struct Key {
    logged_at: Instant,
    /// Returns with this key since it was last logged, not logged themselves.
    unlogged: u64,
}

impl ReturnLog {
    /// Records a return with `routing_key` at `now`. Returns `Some(n)` when it
    /// is to be logged, `n` being the returns of that key left unlogged since
    /// its last line; `None` when it is only counted.
    pub(super) fn note(&mut self, routing_key: &str, now: Instant) -> Option<u64> {
        if let Some(key) = self.keys.get_mut(routing_key) {
            if now.saturating_duration_since(key.logged_at) < LOG_EVERY {
                key.unlogged += 1;
                return None;
            }
            let unlogged = key.unlogged;
            key.logged_at = now;
            key.unlogged = 0;
            return Some(unlogged);
        }
        if self.keys.len() >= MAX_KEYS {
            self.keys
                .retain(|_, key| now.saturating_duration_since(key.logged_at) < LOG_EVERY);
        }
        self.keys.insert(
            routing_key.to_owned(),
            Key {
                logged_at: now,
                unlogged: 0,
            },
        );
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_logged_once_a_minute_with_what_it_stood_for() {
        let mut log = ReturnLog::default();
        let t0 = Instant::now();
        assert_eq!(log.note("item.new.a", t0), Some(0), "the first is logged");
        for n in 1..=500 {
            assert_eq!(log.note("item.new.a", t0 + Duration::from_millis(n)), None);
        }
        // Another key has a minute of its own.
        assert_eq!(log.note("item.new.b", t0 + Duration::from_secs(1)), Some(0));
        assert_eq!(
            log.note("item.new.a", t0 + LOG_EVERY - Duration::from_millis(1)),
            None
        );
        assert_eq!(
            log.note("item.new.a", t0 + LOG_EVERY),
            Some(501),
            "a minute on, the next one is logged with the 501 counted meanwhile"
        );
        assert_eq!(log.note("item.new.a", t0 + LOG_EVERY), None);
        assert_eq!(log.note("item.new.b", t0 + LOG_EVERY), None);
    }

    #[test]
    fn the_keys_it_remembers_are_bounded() {
        let mut log = ReturnLog::default();
        let t0 = Instant::now();
        for n in 0..MAX_KEYS {
            log.note(&format!("item.new.s{n}"), t0);
        }
        let later = t0 + LOG_EVERY;
        assert_eq!(log.note("item.new.fresh", later), Some(0));
        assert!(log.keys.len() <= MAX_KEYS, "{}", log.keys.len());
        assert_eq!(log.keys.len(), 1, "the keys a minute old were swept");
    }
}

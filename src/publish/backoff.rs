//! The pause between two connection attempts: capped exponential growth with jitter.

use std::time::Duration;

/// The pause before the first retry; each failed attempt doubles it.
const FIRST_DELAY: Duration = Duration::from_millis(250);

/// Reconnection pauses for one run of failures.
///
/// The pause doubles per failed attempt up to `max`, and each pause is drawn at
/// random from its upper half, so that many daemons cut off by one broker
/// restart do not all come back in the same instant.
#[derive(Debug, Clone)]
pub(super) struct Backoff {
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// A backoff whose pauses never exceed `max`.
    pub(super) fn new(max: Duration) -> Backoff {
        Backoff { max, failures: 0 }
    }

    /// The pause before the next attempt, counting one more failure.
    pub(super) fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let low = ceiling / 2;
        let spread = ceiling.saturating_sub(low);
        let nanos = u64::try_from(spread.as_nanos()).unwrap_or(u64::MAX);
        low + Duration::from_nanos(rand::random_range(0..=nanos))
    }

    /// Forgets past failures: the next pause is short again.
    pub(super) fn reset(&mut self) {
        self.failures = 0;
    }

    /// The largest pause the next attempt may wait.
    fn ceiling(&self) -> Duration {
        // 2^20 × 250 ms is far beyond any sensible cap, and keeps the shift in range.
        let factor = 1u32 << self.failures.min(20);
        FIRST_DELAY.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_then_stay_under_the_cap() {
        let max = Duration::from_secs(5);
        let mut backoff = Backoff::new(max);
        let mut ceilings = Vec::new();
        for _ in 0..40 {
            let ceiling = backoff.ceiling();
            let delay = backoff.next_delay();
            assert!(
                delay <= ceiling && delay >= ceiling / 2,
                "{delay:?} vs {ceiling:?}"
            );
            ceilings.push(ceiling);
        }
        assert_eq!(ceilings[0], FIRST_DELAY);
        assert_eq!(ceilings[1], FIRST_DELAY * 2);
        assert!(ceilings.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*ceilings.last().unwrap(), max);
    }

    #[test]
    fn reset_starts_over() {
        let mut backoff = Backoff::new(Duration::from_secs(30));
        for _ in 0..6 {
            backoff.next_delay();
        }
        backoff.reset();
        assert!(backoff.next_delay() <= FIRST_DELAY);
    }

    #[test]
    fn a_cap_below_the_first_pause_wins() {
        let mut backoff = Backoff::new(Duration::from_millis(10));
        assert!(backoff.next_delay() <= Duration::from_millis(10));
    }

    #[test]
    fn jitter_spreads_pauses() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let mut backoff = Backoff::new(Duration::from_secs(30));
            backoff.next_delay();
            backoff.next_delay();
            seen.insert(backoff.next_delay());
        }
        assert!(seen.len() > 1, "twenty draws gave one pause: {seen:?}");
    }
}

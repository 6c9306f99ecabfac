//! The confirm window: every outbox row taken for publishing on the current
//! channel and not yet confirmed by the broker.
//!
//! It holds rows in three states: ready to be sent, in flight (sent, awaiting
//! the broker's ack or nack), and nacked (waiting to be sent again). All three
//! count against the window's capacity, so a broker that nacks everything
//! holds at most `capacity` rows in memory instead of pulling the whole outbox.
//! No I/O here: the session feeds it events and asks it what to do next.

use crate::store::OutboxMessage;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// The pause before a nacked row is sent again; it doubles per nack of that row.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Identifies one send of a row, so a stale deadline of an earlier send is ignored.
type SendId = u64;

#[derive(Debug)]
enum State {
    /// Taken from the outbox (or due again after a nack), not yet sent.
    Ready,
    /// Sent; its confirm is awaited.
    InFlight(SendId),
    /// Nacked; send again at the given time.
    Nacked(Instant),
}

#[derive(Debug)]
struct Entry {
    message: OutboxMessage,
    state: State,
    nacks: u32,
}

/// What the broker said about one publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The broker took responsibility for the message.
    Ack,
    /// The broker refused it; it will be sent again.
    Nack,
}

/// Unconfirmed rows of one channel, by outbox seq.
#[derive(Debug)]
pub(super) struct Window {
    capacity: usize,
    max_retry_delay: Duration,
    entries: BTreeMap<i64, Entry>,
    /// Seqs in state `Ready`, so the next one to send is found in order.
    ready: BTreeSet<i64>,
    /// Sends in the order they were made, for the oldest confirm deadline.
    /// Entries whose send is no longer in flight are dropped lazily.
    sends: VecDeque<(Instant, i64, SendId)>,
    next_send_id: SendId,
    nacked: usize,
    /// The highest seq taken from the outbox: the next read starts after it.
    cursor: i64,
}

impl Window {
    /// An empty window of `capacity` rows (at least one). Nacked rows wait at
    /// most `max_retry_delay` before they are sent again.
    pub(super) fn new(capacity: usize, max_retry_delay: Duration) -> Window {
        Window {
            capacity: capacity.max(1),
            max_retry_delay,
            entries: BTreeMap::new(),
            ready: BTreeSet::new(),
            sends: VecDeque::new(),
            next_send_id: 0,
            nacked: 0,
            // Seqs are positive in practice; starting below any seq makes the
            // first read begin at the lowest pending row whatever they start at.
            cursor: i64::MIN,
        }
    }

    /// The outbox position after which new rows are read.
    pub(super) fn cursor(&self) -> i64 {
        self.cursor
    }

    /// The most rows the window holds.
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many more rows the window can take from the outbox.
    pub(super) fn room(&self) -> usize {
        self.capacity.saturating_sub(self.entries.len())
    }

    /// Rows taken and not yet confirmed, in any state.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// How many sends await a confirm.
    pub(super) fn in_flight(&self) -> usize {
        self.entries.len() - self.ready.len() - self.nacked
    }

    /// Takes rows read from the outbox (in seq order, all after the cursor).
    pub(super) fn take_rows(&mut self, rows: Vec<OutboxMessage>) {
        for message in rows {
            let seq = message.seq;
            self.cursor = self.cursor.max(seq);
            if self.entries.contains_key(&seq) {
                // Cannot happen with reads that start after the cursor; keeping the
                // existing entry protects its state if a store ever returns one twice.
                continue;
            }
            self.ready.insert(seq);
            self.entries.insert(
                seq,
                Entry {
                    message,
                    state: State::Ready,
                    nacks: 0,
                },
            );
        }
    }

    /// The lowest ready row, to be sent now; `mark_sent` must follow a successful send.
    pub(super) fn next_ready(&self) -> Option<&OutboxMessage> {
        let seq = self.ready.first()?;
        self.entries.get(seq).map(|e| &e.message)
    }

    /// Records that row `seq` was handed to the broker at `now`.
    pub(super) fn mark_sent(&mut self, seq: i64, now: Instant) {
        if let Some(entry) = self.entries.get_mut(&seq)
            && matches!(entry.state, State::Ready)
        {
            self.ready.remove(&seq);
            let id = self.next_send_id;
            self.next_send_id += 1;
            entry.state = State::InFlight(id);
            self.sends.push_back((now, seq, id));
        }
    }

    /// Drops ready row `seq` from the window without confirming it: it stays in
    /// the outbox, and this window's cursor is already past it.
    pub(super) fn skip(&mut self, seq: i64) {
        if self.ready.remove(&seq) {
            self.entries.remove(&seq);
        }
    }

    /// Records the broker's answer for row `seq`. Returns false, and changes
    /// nothing, when the row was not in flight.
    pub(super) fn settle(&mut self, seq: i64, outcome: Outcome, now: Instant) -> bool {
        let Some(entry) = self.entries.get_mut(&seq) else {
            return false;
        };
        if !matches!(entry.state, State::InFlight(_)) {
            return false;
        }
        match outcome {
            Outcome::Ack => {
                self.entries.remove(&seq);
            }
            Outcome::Nack => {
                entry.nacks = entry.nacks.saturating_add(1);
                let factor = 1u32 << (entry.nacks - 1).min(16);
                let delay = FIRST_RETRY_DELAY
                    .saturating_mul(factor)
                    .min(self.max_retry_delay);
                entry.state = State::Nacked(now + delay);
                self.nacked += 1;
            }
        }
        true
    }

    /// Moves nacked rows whose pause is over back to ready, so they are sent
    /// again in seq order before newer ready rows with a higher seq.
    pub(super) fn promote_due(&mut self, now: Instant) {
        if self.nacked == 0 {
            return;
        }
        for (seq, entry) in &mut self.entries {
            if let State::Nacked(at) = entry.state
                && at <= now
            {
                entry.state = State::Ready;
                self.ready.insert(*seq);
                self.nacked -= 1;
            }
        }
    }

    /// When the next nacked row is due again.
    pub(super) fn next_retry(&self) -> Option<Instant> {
        if self.nacked == 0 {
            return None;
        }
        self.entries
            .values()
            .filter_map(|e| match e.state {
                State::Nacked(at) => Some(at),
                _ => None,
            })
            .min()
    }

    /// When the oldest send still awaiting its confirm was made, and its seq.
    pub(super) fn oldest_send(&mut self) -> Option<(Instant, i64)> {
        while let Some(&(at, seq, id)) = self.sends.front() {
            let live = matches!(
                self.entries.get(&seq).map(|e| &e.state),
                Some(State::InFlight(current)) if *current == id
            );
            if live {
                return Some((at, seq));
            }
            self.sends.pop_front();
        }
        None
    }

    /// Treats every send in flight as made at `now`: after the broker lifts a
    /// `connection.blocked`, confirms get a full timeout again.
    pub(super) fn restart_clocks(&mut self, now: Instant) {
        for send in &mut self.sends {
            send.0 = now;
        }
    }

    /// The event id and routing key of row `seq`, for logs.
    pub(super) fn describe(&self, seq: i64) -> Option<(&str, &str)> {
        self.entries
            .get(&seq)
            .map(|e| (e.message.event_id.as_str(), e.message.routing_key.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn row(seq: i64) -> OutboxMessage {
        OutboxMessage {
            seq,
            event_id: format!("e{seq}"),
            routing_key: "item.new.test".into(),
            body: b"{}".to_vec(),
            created_at: Utc::now(),
        }
    }

    fn send_all(w: &mut Window, now: Instant) -> Vec<i64> {
        let mut sent = Vec::new();
        while let Some(m) = w.next_ready() {
            let seq = m.seq;
            w.mark_sent(seq, now);
            sent.push(seq);
        }
        sent
    }

    #[test]
    fn rows_are_sent_in_seq_order_and_fill_the_window() {
        let mut w = Window::new(3, Duration::from_secs(1));
        assert_eq!(w.room(), 3);
        w.take_rows(vec![row(4), row(7), row(9)]);
        assert_eq!(w.room(), 0);
        assert_eq!(w.cursor(), 9);
        let now = Instant::now();
        assert_eq!(send_all(&mut w, now), vec![4, 7, 9]);
        assert_eq!(w.in_flight(), 3);
        assert!(w.settle(7, Outcome::Ack, now));
        assert_eq!(w.room(), 1);
        assert_eq!(w.in_flight(), 2);
        // A second answer for the same row is ignored.
        assert!(!w.settle(7, Outcome::Ack, now));
    }

    #[test]
    fn a_nacked_row_waits_then_goes_before_newer_rows() {
        let mut w = Window::new(10, Duration::from_secs(5));
        let t0 = Instant::now();
        w.take_rows(vec![row(1), row(2)]);
        send_all(&mut w, t0);
        assert!(w.settle(1, Outcome::Nack, t0));
        assert_eq!(w.len(), 2, "a nacked row still holds its place");
        assert_eq!(w.in_flight(), 1);
        let due = w.next_retry().unwrap();
        assert_eq!(due, t0 + FIRST_RETRY_DELAY);
        w.take_rows(vec![row(3)]);
        w.promote_due(t0);
        assert_eq!(send_all(&mut w, t0), vec![3], "not due yet");
        w.promote_due(due);
        assert_eq!(w.next_retry(), None);
        assert_eq!(send_all(&mut w, due), vec![1]);
        // A second nack of the same row doubles its pause.
        assert!(w.settle(1, Outcome::Nack, due));
        assert_eq!(w.next_retry().unwrap(), due + FIRST_RETRY_DELAY * 2);
    }

    #[test]
    fn retry_pause_is_capped() {
        let cap = Duration::from_millis(300);
        let mut w = Window::new(1, cap);
        let mut now = Instant::now();
        w.take_rows(vec![row(1)]);
        for _ in 0..10 {
            send_all(&mut w, now);
            w.settle(1, Outcome::Nack, now);
            let due = w.next_retry().unwrap();
            assert!(due - now <= cap);
            now = due;
            w.promote_due(now);
        }
        assert_eq!(w.next_retry(), None);
        send_all(&mut w, now);
        assert!(w.settle(1, Outcome::Ack, now));
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn oldest_send_skips_settled_and_resent_rows() {
        let mut w = Window::new(10, Duration::from_secs(1));
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        w.take_rows(vec![row(1), row(2)]);
        w.mark_sent(1, t0);
        w.mark_sent(2, t1);
        assert_eq!(w.oldest_send(), Some((t0, 1)));
        w.settle(1, Outcome::Ack, t1);
        assert_eq!(w.oldest_send(), Some((t1, 2)));
        w.settle(2, Outcome::Nack, t1);
        assert_eq!(w.oldest_send(), None);
        let t2 = t1 + Duration::from_secs(5);
        w.promote_due(t2);
        w.mark_sent(2, t2);
        assert_eq!(w.oldest_send(), Some((t2, 2)));
        let t3 = t2 + Duration::from_secs(60);
        w.restart_clocks(t3);
        assert_eq!(w.oldest_send(), Some((t3, 2)));
    }

    #[test]
    fn a_skipped_row_frees_its_place_but_not_the_cursor() {
        let mut w = Window::new(2, Duration::from_secs(1));
        w.take_rows(vec![row(5), row(6)]);
        w.skip(5);
        assert_eq!(w.room(), 1);
        assert_eq!(w.cursor(), 6);
        assert_eq!(w.next_ready().map(|m| m.seq), Some(6));
    }

    #[test]
    fn zero_capacity_still_moves_one_row() {
        let w = Window::new(0, Duration::from_secs(1));
        assert_eq!(w.room(), 1);
    }
}

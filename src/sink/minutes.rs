//! The last hour of one path's upgrade attempts, per minute, for the status page.
//!
//! The counters behind `/metrics` only grow, so "the last 5 minutes" needs its own memory: a ring
//! of 60 one-minute slots per path that has upgrade attempts (paths are capped by
//! `--max-paths`). Recording is an index and a few additions; a slot keeps the first few
//! statuses it sees and folds the rest into one "other" entry, so its size never depends on
//! the traffic.

use crate::classify::AnsweredBy;

/// Minutes kept.
pub(crate) const MINUTES: usize = 60;
/// Distinct (status, answered_by) pairs a slot keeps before folding into "other".
const PAIRS: usize = 6;

/// One minute of upgrade attempts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Slot {
    /// Minutes since the Unix epoch this slot holds; 0 for an unused slot.
    minute: u64,
    /// 101s by answered_by.
    switched: [u32; 3],
    /// Refused attempts: (status, answered_by, count); status 0 is unused.
    pairs: [(u16, u8, u32); PAIRS],
    /// Refused attempts beyond the kept pairs.
    other: u32,
}

/// Per-minute upgrade outcomes of one path.
#[derive(Clone, Debug)]
pub(crate) struct MinuteRing {
    slots: Box<[Slot; MINUTES]>,
}

impl Default for MinuteRing {
    fn default() -> Self {
        MinuteRing {
            slots: Box::new([Slot::default(); MINUTES]),
        }
    }
}

/// The upgrade attempts of a window, summed.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Window {
    pub(crate) attempts: u64,
    pub(crate) switched: u64,
    /// status -> [upstream, nginx, unknown] counts (the shape `report::cause` reads).
    pub(crate) statuses: std::collections::BTreeMap<u16, [u64; 3]>,
    /// Refused attempts whose status fell out of a full slot (counted, status not kept).
    pub(crate) other_refused: u64,
}

impl MinuteRing {
    /// Counts one upgrade attempt at `minute` (minutes since the epoch).
    #[inline]
    pub(crate) fn record(&mut self, minute: u64, status: u16, by: AnsweredBy) {
        let slot = &mut self.slots[(minute % MINUTES as u64) as usize];
        if minute < slot.minute {
            // An hour older than what the slot holds (the clock stepped back): out of the ring.
            return;
        }
        if slot.minute != minute {
            *slot = Slot {
                minute,
                ..Slot::default()
            };
        }
        let by = by as u8;
        if status == 101 {
            let n = &mut slot.switched[usize::from(by.min(2))];
            *n = n.saturating_add(1);
            return;
        }
        for p in slot.pairs.iter_mut() {
            if p.0 == status && p.1 == by {
                p.2 = p.2.saturating_add(1);
                return;
            }
            if p.0 == 0 {
                *p = (status, by, 1);
                return;
            }
        }
        slot.other = slot.other.saturating_add(1);
    }

    /// The attempts of the `minutes` minutes up to and including `now` (minutes since the epoch).
    pub(crate) fn window(&self, now: u64, minutes: u64) -> Window {
        let mut w = Window::default();
        let from = now.saturating_sub(minutes.saturating_sub(1));
        for s in self.slots.iter() {
            if s.minute == 0 || s.minute < from || s.minute > now {
                continue;
            }
            for (by, &n) in s.switched.iter().enumerate() {
                if n > 0 {
                    w.attempts += u64::from(n);
                    w.switched += u64::from(n);
                    w.statuses.entry(101).or_insert([0; 3])[by] += u64::from(n);
                }
            }
            for &(status, by, n) in &s.pairs {
                if status == 0 {
                    continue;
                }
                let n = u64::from(n);
                w.attempts += n;
                w.statuses.entry(status).or_insert([0; 3])[usize::from(by.min(2))] += n;
            }
            w.attempts += u64::from(s.other);
            w.other_refused += u64::from(s.other);
        }
        w
    }

    /// Whether any attempt falls in the last `minutes` minutes.
    pub(crate) fn active(&self, now: u64, minutes: u64) -> bool {
        let from = now.saturating_sub(minutes.saturating_sub(1));
        self.slots
            .iter()
            .any(|s| s.minute != 0 && s.minute >= from && s.minute <= now)
    }
}

/// The minute an upgrade attempt belongs to: the line's own time (Unix seconds) when it has one,
/// so a backlog read with `--from-start`, after a resume or with lag lands when it happened,
/// not in "the last 5 minutes". A time ahead of `now` (clock skew) counts as `now`; `None` for
/// a line older than the ring, which it would only overwrite.
#[inline]
pub(crate) fn event_minute(now: u64, time: Option<f64>) -> Option<u64> {
    let Some(t) = time else { return Some(now) };
    // `as` saturates: a negative or NaN time is minute 0, far out of the ring.
    let m = ((t / 60.0) as u64).min(now);
    (m + MINUTES as u64 > now).then_some(m)
}

/// Minutes since the Unix epoch, now.
pub(crate) fn now_minute() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_sum_their_minutes_and_forget_older_ones() {
        let mut r = MinuteRing::default();
        let now = 29_000_000;
        for _ in 0..3 {
            r.record(now, 101, AnsweredBy::Upstream);
        }
        r.record(now - 4, 403, AnsweredBy::Upstream);
        r.record(now - 10, 502, AnsweredBy::Nginx);
        r.record(now - 59, 403, AnsweredBy::Upstream);
        // An hour older than the slot's minute: out of the ring, not over it.
        r.record(now - 60, 500, AnsweredBy::Nginx);
        let w5 = r.window(now, 5);
        assert_eq!((w5.attempts, w5.switched), (4, 3));
        assert_eq!(w5.statuses[&403], [1, 0, 0]);
        let w60 = r.window(now, 60);
        assert_eq!((w60.attempts, w60.switched), (6, 3));
        assert_eq!(w60.statuses[&502], [0, 1, 0]);
        assert!(!w60.statuses.contains_key(&500));
        // An hour later nothing is left.
        assert_eq!(r.window(now + 60, 60).attempts, 0);
        assert!(!r.active(now + 60, 60));
    }

    #[test]
    fn attempts_count_at_their_own_time() {
        let now = 29_000_000;
        let at = |min: u64| Some(min as f64 * 60.0 + 12.5);
        assert_eq!(event_minute(now, None), Some(now));
        assert_eq!(event_minute(now, at(now)), Some(now));
        assert_eq!(event_minute(now, at(now - 7)), Some(now - 7));
        assert_eq!(event_minute(now, at(now - 59)), Some(now - 59));
        assert_eq!(event_minute(now, at(now - 60)), None, "older than the ring");
        assert_eq!(
            event_minute(now, at(now + 3)),
            Some(now),
            "ahead: capped at now"
        );
        assert_eq!(event_minute(now, Some(-5.0)), None);
        assert_eq!(event_minute(now, Some(f64::NAN)), None);
        // A backlog line from 20 minutes ago is in the hour, not in the last 5 minutes.
        let mut r = MinuteRing::default();
        if let Some(m) = event_minute(now, at(now - 20)) {
            r.record(m, 502, AnsweredBy::Nginx);
        }
        assert_eq!(r.window(now, 5).attempts, 0);
        assert_eq!(r.window(now, 60).attempts, 1);
    }

    #[test]
    fn a_ring_is_about_4_kib() {
        assert_eq!(std::mem::size_of::<Slot>() * MINUTES, 72 * 60);
    }

    #[test]
    fn a_slot_stays_bounded_under_many_statuses() {
        let mut r = MinuteRing::default();
        for st in 400..500u16 {
            r.record(7, st, AnsweredBy::Nginx);
        }
        r.record(7, 101, AnsweredBy::Upstream);
        let w = r.window(7, 1);
        assert_eq!(w.attempts, 101);
        assert_eq!(w.switched, 1);
        assert_eq!(w.statuses.len(), PAIRS + 1);
        assert_eq!(w.other_refused, 100 - PAIRS as u64);
    }
}

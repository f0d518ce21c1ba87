//! Since when the channel manager has changed without being written, for the changes
//! no monitor operation waits on: they are written [`MANAGER_ALONE_DELAY`] late at most,
//! usually with the next group (see `write_order.rs`).

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a manager change with no monitor operation waiting may go unwritten. The
/// event loop looks at least every 100 ms, so it is written within about that plus this.
pub const MANAGER_ALONE_DELAY: Duration = Duration::from_millis(20);

#[derive(Default)]
pub(crate) struct Unwritten(Mutex<State>);

#[derive(Default)]
struct State {
    /// The oldest change not written yet.
    since: Option<Instant>,
}

impl Unwritten {
    fn slot(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; the value is sound anyway.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a change if `changed` (LDK said the manager needs a write); whether the
    /// oldest unwritten change has waited [`MANAGER_ALONE_DELAY`] by `now`.
    pub(crate) fn note(&self, changed: bool, now: Instant) -> bool {
        let mut s = self.slot();
        if changed && s.since.is_none() {
            s.since = Some(now);
        }
        s.since
            .is_some_and(|t| now.saturating_duration_since(t) >= MANAGER_ALONE_DELAY)
    }

    /// A write starts whose encoding covers every change noted so far: what it covered,
    /// to [`Unwritten::restore`] if it fails.
    pub(crate) fn take(&self) -> Option<Instant> {
        self.slot().since.take()
    }

    /// The write failed: what it covered is unwritten again (since it was first noted,
    /// or `now` if nothing was).
    pub(crate) fn restore(&self, covered: Option<Instant>, now: Instant) {
        let mut s = self.slot();
        let oldest = match (s.since, covered) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(now),
        };
        s.since = Some(oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_due_only_once_it_waited_the_delay() {
        let u = Unwritten::default();
        let t = Instant::now();
        assert!(!u.note(false, t), "nothing changed, nothing due");
        assert!(!u.note(true, t));
        // A later change does not restart the wait of the first.
        assert!(!u.note(true, t + MANAGER_ALONE_DELAY / 2));
        assert!(u.note(false, t + MANAGER_ALONE_DELAY));
    }

    #[test]
    fn a_write_covers_what_was_noted_and_a_failed_one_leaves_it_due() {
        let u = Unwritten::default();
        let t = Instant::now();
        u.note(true, t);
        let covered = u.take();
        assert!(!u.note(false, t + MANAGER_ALONE_DELAY), "written");
        u.restore(covered, t + MANAGER_ALONE_DELAY);
        assert!(u.note(false, t + MANAGER_ALONE_DELAY), "still due since t");
        // A failed write that covered nothing noted leaves its changes due from now.
        let u = Unwritten::default();
        u.restore(None, t);
        assert!(!u.note(false, t));
        assert!(u.note(false, t + MANAGER_ALONE_DELAY));
    }
}

//! Holds a group commit back while the peer layer is still handing over the messages of
//! one read from a peer.
//!
//! A peer usually sends `revoke_and_ack` and `commitment_signed` back to back, and LDK
//! hands both over within one `read_event`. The first one's monitor update wakes the loop
//! at once; written then, it got a commit of its own, and the second's waited for the
//! next one (a second fsync, and a second commit's time before we answer). The peer layer
//! says when such a read starts handing channel messages over and when it is done
//! ([`ReadGate::watch`]); the loop waits for the end (at most [`MAX_HOLD`]) before it
//! writes, so both updates share one commit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// The longest a write waits for reads in progress: a read of a full buffer of messages
/// takes well under this; a busy node with reads always under way still writes.
pub const MAX_HOLD: Duration = Duration::from_millis(1);

/// Reads in progress that hand channel messages over.
#[derive(Default)]
pub struct ReadGate {
    reading: AtomicUsize,
    done: Notify,
}

impl ReadGate {
    /// What the peer layer calls: `true` when a read starts handing channel messages
    /// over, `false` when it is done (each `true` is followed by one `false`).
    pub fn watch(self: &Arc<Self>) -> Arc<dyn Fn(bool) + Send + Sync> {
        let gate = self.clone();
        Arc::new(move |busy| {
            if busy {
                gate.reading.fetch_add(1, Ordering::AcqRel);
            } else {
                // Never below zero, whatever the caller does.
                let _ = gate
                    .reading
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
                gate.done.notify_waiters();
            }
        })
    }

    fn busy(&self) -> bool {
        self.reading.load(Ordering::Acquire) > 0
    }

    /// Returns once no read hands channel messages over, or after `max`.
    pub async fn quiet(&self, max: Duration) {
        if !self.busy() {
            return;
        }
        let deadline = tokio::time::Instant::now() + max;
        loop {
            let done = self.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if !self.busy() {
                return;
            }
            if tokio::time::timeout_at(deadline, done).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_write_waits_for_the_read_in_progress_and_no_longer_than_max() {
        let gate = Arc::new(ReadGate::default());
        let watch = gate.watch();
        // Nothing read: at once.
        let t = tokio::time::Instant::now();
        gate.quiet(MAX_HOLD).await;
        assert_eq!(t.elapsed(), Duration::ZERO);

        // A read in progress: until it ends.
        watch(true);
        let g = gate.clone();
        let waiting = tokio::spawn(async move { g.quiet(MAX_HOLD).await });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiting.is_finished());
        let t = tokio::time::Instant::now();
        watch(false);
        waiting.await.unwrap();
        assert_eq!(t.elapsed(), Duration::ZERO);

        // A read that never ends: MAX_HOLD.
        watch(true);
        let t = tokio::time::Instant::now();
        gate.quiet(MAX_HOLD).await;
        assert_eq!(t.elapsed(), MAX_HOLD);
        watch(false);
        // An extra end does not make the count wrap.
        watch(false);
        assert!(!gate.busy());
    }
}

//! How an LDK event reaches the daemon: with a way back for its verdict. LDK counts an
//! event handled (and forgets it at the next manager write) only when the handler returns
//! `Ok`, so the handler waits until the daemon says it has recorded what it must: a
//! `PaymentClaimed` or `PaymentSent` whose record failed to write, or that the daemon
//! never saw, is kept and handed over again.

use lightning::events::{Event, ReplayEvent};
use tokio::sync::oneshot;

use crate::node::Ln;

/// The peer layer's `process_events`: sends the messages LDK queued outside a peer read.
pub type Flush = Box<dyn Fn() + Send + Sync>;

/// One event for the daemon.
pub struct LnEvent {
    pub event: Event,
    /// `Ok` once the event is recorded (or needs nothing durable); `Err` to have LDK hand it
    /// over again. Dropping it unanswered counts as `Err`.
    pub done: oneshot::Sender<Result<(), ReplayEvent>>,
}

impl LnEvent {
    pub(crate) fn new(event: Event) -> (LnEvent, oneshot::Receiver<Result<(), ReplayEvent>>) {
        let (done, verdict) = oneshot::channel();
        (LnEvent { event, done }, verdict)
    }
}

impl Ln {
    /// Gives the peer layer's `process_events` (once; later calls are ignored).
    pub fn set_flush(&self, flush: Flush) {
        let _ = self.flush.set(flush);
    }

    /// Sends what LDK queued for peers now. A claim or an event's handling queues
    /// messages (a fulfill, a commitment) outside any peer read; without this they would
    /// wait for the loop's next turn, behind every other event of the batch and its
    /// store writes (the payee's fulfill waited on the `PaymentClaimed` record).
    pub fn flush_messages(&self) {
        if let Some(f) = self.flush.get() {
            f();
        }
    }
}

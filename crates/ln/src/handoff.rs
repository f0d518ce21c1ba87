//! How an LDK event reaches the daemon: with a way back for its verdict. LDK counts an
//! event handled (and forgets it at the next manager write) only when the handler returns
//! `Ok`, so the handler waits until the daemon says it has recorded what it must: a
//! `PaymentClaimed` or `PaymentSent` whose record failed to write, or that the daemon
//! never saw, is kept and handed over again.

use lightning::events::{Event, ReplayEvent};
use tokio::sync::oneshot;

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

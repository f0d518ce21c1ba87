//! Money moving over channels: LDK's payment events carried out against our invoices
//! ([`receive`], with `htlc_accepted` at the final hop in [`final_hop`]), our own payments ([`send`]) and route hints for invoices from our private channels ([`hints`]).
//! It owns no channel state (that is `channels`) and no invoice rules (that is
//! `invoices`): it only connects the two.

pub mod failure;
pub mod final_hop;
pub mod hints;
pub mod moves;
pub mod receive;
pub mod route_json;
pub mod send;

use std::sync::Arc;

use lightning::events::{Event, ReplayEvent};

use crate::invoices::Invoices;

/// Test knob: `_exit` at a named point of a payment's records, like a kill -9 there.
const CRASH_ENV: &str = "BOLTD_DEV_CRASH_PAYMENT";

pub(crate) fn crash_point(at: &str) {
    if std::env::var(CRASH_ENV).is_ok_and(|v| v == at) {
        tracing::warn!("{CRASH_ENV}={at}: dying now");
        // SAFETY: ends the process at once, like kill -9 (no destructors, no flush).
        unsafe { libc::_exit(137) };
    }
}

/// [`crash_point`] for a record queued without waiting (`after_commit.rs`), called on the
/// store thread in its job before it writes: it first gives LDK time to take the handler's
/// answer and queue the manager write that consumes the event, then dies before either is
/// committed. The event must come again after the restart; a manager write that could
/// overtake the record would be durable by then, and the payment's record lost.
pub(crate) fn crash_point_delayed(at: &str) {
    if std::env::var(CRASH_ENV).is_ok_and(|v| v == at) {
        std::thread::sleep(std::time::Duration::from_millis(300));
        crash_point(at);
    }
}

/// What the channel event loop hands payment events to.
pub struct Payments {
    pub invoices: Arc<Invoices>,
    pub sender: Arc<send::Sender>,
    pub receiver: Arc<receive::Receiver>,
    pub moves: moves::PaymentMoves,
}

impl Payments {
    /// Handles `event` if it is about a payment (to us or ours): `None` if it is not, else
    /// the answer for LDK (`Err`: the record could not be written, hand it over again).
    pub async fn on_event(
        &self,
        ln: &Arc<ln::Ln>,
        event: &Event,
    ) -> Option<Result<(), ReplayEvent>> {
        // The moves go first: once written they are never written again, so a replay
        // caused by the records below cannot double them.
        if let Err(e) = self.moves.on_event(event).await {
            return Some(Err(e));
        }
        match self.receiver.on_event(ln, event).await {
            Some(v) => Some(v),
            None => self.sender.on_event(event).await,
        }
    }

    /// Start-up, before LDK's events flow: payments to us left undecided are decided.
    pub async fn resume(&self, ln: &Arc<ln::Ln>) {
        self.receiver.resume(ln).await;
    }
}

//! Flow control between a peer's socket and the daemon, both ways.
//!
//! **In:** every custom message LDK hands us carries a [`Credit`] for its bytes; the daemon
//! holds it until the message's hook chain is done. While a peer's held credit is over
//! [`PEER_HIGH_BYTES`] / [`PEER_HIGH_MSGS`] (or all peers' over [`TOTAL_HIGH_BYTES`]), its
//! socket driver stops reading, so TCP's own backpressure slows the sender instead of our
//! memory growing or the peer being dropped. Reads resume as soon as one message is done
//! ([`RESUME_GAP_MSGS`], [`RESUME_GAP_BYTES`]: at most the largest message): a paused peer
//! is read again after every hook call, so its pings and pongs get through unless a single
//! hook call outlasts LDK's ping timeout (a tick or two, 10-20 s). While paused, everything else that
//! peer sends (channel traffic too) waits as well; that lasts only while our plugins are
//! behind on that peer's custom messages.
//!
//! **Out:** a peer whose socket is full ([`Flow::write_blocked`]) gets no more of our queued
//! custom messages handed to LDK (whose own buffer is unbounded) until it drains; callers
//! of [`PeerNode::send_custom`](crate::PeerNode::send_custom) wait for room in the peer's
//! [`SEND_BUDGET`] instead.
//!
//! The decision to stop reading is taken in the socket driver before a read, never inside
//! LDK's `read_event` (it holds the `PeerManager`'s peer lock: a plugin answering a message
//! with `sendcustommsg` would deadlock).

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bitcoin::secp256k1::PublicKey;
use tokio::sync::Notify;

use crate::handlers::ReadWatch;

/// Custom-message bytes one peer may have waiting for (or in) the hook chain before its
/// socket is no longer read.
pub const PEER_HIGH_BYTES: usize = 4 * 1024 * 1024;
/// The same in messages: a small message's bytes say little about the time it takes.
pub const PEER_HIGH_MSGS: usize = 2048;
/// All peers together.
pub const TOTAL_HIGH_BYTES: usize = 64 * 1024 * 1024;
/// How far under a mark the backlog must drain before reads resume.
pub const RESUME_GAP_MSGS: usize = 1;
pub const RESUME_GAP_BYTES: usize = 64 * 1024;
/// What one message costs besides its payload (the event, the queue slot).
pub const MSG_OVERHEAD: usize = 128;
/// Bytes of custom messages we queue for one peer (not yet handed to LDK) before
/// `send_custom` waits.
pub const SEND_BUDGET: usize = 1024 * 1024;

/// The custom-message backlog over all of one `PeerNode`'s peers.
#[derive(Default)]
pub(crate) struct Budget {
    total: AtomicUsize,
    /// Woken when the total falls back under its resume mark.
    released: Notify,
}

/// One connection's flow state, shared by its socket driver, LDK's callbacks (through
/// [`current`]) and the credits of its messages.
pub(crate) struct Flow {
    budget: Arc<Budget>,
    bytes: AtomicUsize,
    msgs: AtomicUsize,
    /// Reads are stopped for the custom backlog.
    gated: AtomicBool,
    /// The last write LDK asked for did not fit in the socket.
    pub write_blocked: AtomicBool,
    /// Wakes the driver: write space, reads resumed by LDK or by us, disconnect requested.
    pub wake: Notify,
    /// Set once the peer's init is in (for logs and the node-id lookup).
    pub node: OnceLock<PublicKey>,
}

impl Flow {
    pub fn new(budget: Arc<Budget>) -> Flow {
        Flow {
            budget,
            bytes: AtomicUsize::new(0),
            msgs: AtomicUsize::new(0),
            gated: AtomicBool::new(false),
            write_blocked: AtomicBool::new(false),
            wake: Notify::new(),
            node: OnceLock::new(),
        }
    }

    /// Counts one delivered message of `len` payload bytes until its credit is dropped.
    pub fn hold(self: &Arc<Self>, len: usize) -> Credit {
        let bytes = len + MSG_OVERHEAD;
        self.bytes.fetch_add(bytes, Ordering::AcqRel);
        self.msgs.fetch_add(1, Ordering::AcqRel);
        self.budget.total.fetch_add(bytes, Ordering::AcqRel);
        Credit(Some(Arc::new(Held {
            flow: self.clone(),
            bytes,
        })))
    }

    fn release(&self, bytes: usize) {
        let b = self.bytes.fetch_sub(bytes, Ordering::AcqRel) - bytes;
        let m = self.msgs.fetch_sub(1, Ordering::AcqRel) - 1;
        let t = self.budget.total.fetch_sub(bytes, Ordering::AcqRel) - bytes;
        if self.gated.load(Ordering::Acquire) && below_resume(b, m) {
            self.wake.notify_one();
        }
        let mark = TOTAL_HIGH_BYTES - RESUME_GAP_BYTES;
        if t < mark && t + bytes >= mark {
            self.budget.released.notify_waiters();
        }
    }

    /// Whether the driver should stop reading now (updates the paused state, with the
    /// resume gap while paused).
    pub fn over_budget(&self) -> bool {
        let b = self.bytes.load(Ordering::Acquire);
        let m = self.msgs.load(Ordering::Acquire);
        let t = self.budget.total.load(Ordering::Acquire);
        let gated = self.gated.load(Ordering::Acquire);
        let over = if gated {
            !below_resume(b, m) || t >= TOTAL_HIGH_BYTES - RESUME_GAP_BYTES
        } else {
            b > PEER_HIGH_BYTES || m > PEER_HIGH_MSGS || t > TOTAL_HIGH_BYTES
        };
        if over != gated {
            self.gated.store(over, Ordering::Release);
            let peer = self.node.get().map(|n| n.to_string()).unwrap_or_default();
            if over {
                tracing::debug!(%peer, "Pausing reads: {m} custom messages ({b} bytes) waiting for plugins");
            } else {
                tracing::debug!(%peer, "Resuming reads: {m} custom messages ({b} bytes) waiting for plugins");
            }
        }
        over
    }

    /// Resolves when all peers' backlog may have fallen under its mark; enable it before
    /// checking [`over_budget`](Self::over_budget).
    pub fn total_released(&self) -> tokio::sync::futures::Notified<'_> {
        self.budget.released.notified()
    }
}

fn below_resume(bytes: usize, msgs: usize) -> bool {
    bytes <= PEER_HIGH_BYTES - RESUME_GAP_BYTES && msgs <= PEER_HIGH_MSGS - RESUME_GAP_MSGS
}

struct Held {
    flow: Arc<Flow>,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.flow.release(self.bytes);
    }
}

/// A delivered custom message's share of its peer's budget: hold it until the message is
/// fully handled (its hook chain done); dropping it lets the peer's socket be read again.
#[derive(Clone, Default)]
pub struct Credit(Option<Arc<Held>>);

impl fmt::Debug for Credit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(h) => write!(f, "Credit({} bytes)", h.bytes),
            None => f.write_str("Credit(none)"),
        }
    }
}

thread_local! {
    /// The connection whose bytes LDK is reading on this thread (see [`reading`]).
    static CURRENT: RefCell<Option<Arc<Flow>>> = const { RefCell::new(None) };
    /// The read watch told `true` during the read on this thread, to tell `false` at its
    /// end (see [`channel_state_message`]).
    static WATCHED: RefCell<Option<ReadWatch>> = const { RefCell::new(None) };
}

/// Runs LDK's `read_event` for `flow`'s connection: LDK calls our handlers synchronously on
/// this thread, and they learn from [`current`] which connection the message came on.
pub(crate) fn reading<R>(flow: &Arc<Flow>, f: impl FnOnce() -> R) -> R {
    let prev = CURRENT.with(|c| c.replace(Some(flow.clone())));
    let r = f();
    CURRENT.with(|c| *c.borrow_mut() = prev);
    if let Some(w) = WATCHED.with(|w| w.borrow_mut().take()) {
        w(false);
    }
    r
}

/// A message that changes a channel's state is being handed over: tells `watch` `true`,
/// once per read, if it runs inside [`reading`].
pub(crate) fn channel_state_message(watch: Option<&ReadWatch>) {
    let Some(watch) = watch else {
        return;
    };
    if CURRENT.with(|c| c.borrow().is_none()) {
        return;
    }
    WATCHED.with(|w| {
        let mut w = w.borrow_mut();
        if w.is_none() {
            watch(true);
            *w = Some(watch.clone());
        }
    });
}

/// The connection being read on this thread, if any.
pub(crate) fn current() -> Option<Arc<Flow>> {
    CURRENT.with(|c| c.borrow().clone())
}

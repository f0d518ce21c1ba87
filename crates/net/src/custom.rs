//! Our `CustomMessageHandler` and the state it shares with the rest of the crate: who is
//! connected, who waits for a connect, what goes out at the next `process_events`.
//!
//! LDK calls these while holding its own locks, so they never call back into the
//! `PeerManager` and never block: they push into a channel or a queue and return.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{
    DecodeError, ErrorAction, Init, LightningError, MessageSendEvent, SocketAddress, WarningMessage,
};
use lightning::ln::peer_handler::CustomMessageHandler;
use lightning::ln::types::ChannelId;
use lightning::ln::wire::CustomMessageReader;
use lightning::types::features::{InitFeatures, NodeFeatures};
use lightning::util::ser::LengthLimitedRead;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::flow::{self, Budget, Credit, Flow, SEND_BUDGET};
use crate::wire::{read_raw, RawMessage};

/// What the handler saw, in the order LDK reported it (per peer that is arrival order).
#[derive(Debug)]
pub(crate) enum RawEvent {
    Connected {
        id: PublicKey,
        features: InitFeatures,
        inbound: bool,
        /// The `remote_addr` of their init (how they see us), if any.
        remote_addr: Option<SocketAddress>,
    },
    Disconnected {
        id: PublicKey,
    },
    Custom {
        id: PublicKey,
        msg: RawMessage,
        credit: Credit,
    },
}

/// Feature bits plugins asked for, as big-endian bitmaps (the way CLN manifests give them).
#[derive(Default)]
pub(crate) struct PluginFeatures {
    pub init: Vec<u8>,
    pub node: Vec<u8>,
}

/// Shared state between the handlers and the rest of the crate. Locked only briefly and never
/// while calling into LDK (LDK may hold its locks while calling us).
#[derive(Default)]
pub(crate) struct Shared {
    /// Even message types a plugin declared acceptable (`custommessages`).
    pub allowed_even: RwLock<HashSet<u16>>,
    /// Or a live lookup (e.g. the plugin host's current union); must not block.
    pub even_filter: RwLock<Option<EvenFilter>>,
    pub features: RwLock<PluginFeatures>,
    /// Connected peers (init exchanged), as far as the handler knows.
    pub connected: Mutex<HashMap<PublicKey, PeerState>>,
    /// `connect` calls waiting for a peer's init.
    pub waiters: Mutex<HashMap<PublicKey, Vec<oneshot::Sender<()>>>>,
    /// Custom messages waiting to be handed to LDK, per peer.
    pub outbox: Mutex<Outbox>,
    /// Each connected peer's room in its outbox ([`SEND_BUDGET`] bytes): `send_custom`
    /// waits for it, in call order.
    pub send_room: Mutex<HashMap<PublicKey, Arc<Semaphore>>>,
    /// The connection of each peer whose init is in (for its write state).
    pub flows: Mutex<HashMap<PublicKey, Arc<Flow>>>,
    /// The custom backlog over all peers.
    pub budget: Arc<Budget>,
    /// Set when custom messages were queued (or a socket drained) since the flush task
    /// last took them (see [`flush`]).
    flush_queued: AtomicBool,
    /// Set while the one flush task runs: a request meanwhile only sets `flush_queued`.
    flush_running: AtomicBool,
    /// How our sends have been coming in (see [`LINGER`]).
    pace: Mutex<SendPace>,
    /// Warning-then-disconnect requests for the next `process_events`.
    pub warnings: Mutex<Vec<MessageSendEvent>>,
}

/// Our custom messages not yet handed to LDK: each peer's in order, with the room
/// (permits of its `send_room`) each one took.
#[derive(Default)]
pub(crate) struct Outbox {
    queues: HashMap<PublicKey, PeerOut>,
}

/// One peer's queued messages, and its connection's flow: the flush checks whether the
/// socket keeps up on every round, and a key lookup costs a secp256k1 serialisation per
/// hash and two per comparison.
#[derive(Default)]
struct PeerOut {
    msgs: VecDeque<(RawMessage, u32)>,
    flow: Option<Arc<Flow>>,
}

impl PeerOut {
    fn write_blocked(&self) -> bool {
        self.flow
            .as_ref()
            .is_some_and(|f| f.write_blocked.load(Ordering::Acquire))
    }
}

impl Outbox {
    /// `flows` is consulted only until the peer's connection is known.
    pub fn push(
        &mut self,
        id: PublicKey,
        msg: RawMessage,
        room: u32,
        flows: &Mutex<HashMap<PublicKey, Arc<Flow>>>,
    ) {
        let q = self.queues.entry(id).or_default();
        if q.flow.is_none() {
            q.flow = flows.lock().ok().and_then(|f| f.get(&id).cloned());
        }
        q.msgs.push_back((msg, room));
    }
}

/// Decides whether an even custom type is acceptable.
pub type EvenFilter = Arc<dyn Fn(u16) -> bool + Send + Sync>;

/// Bytes of our custom messages handed to LDK per peer and `process_events` (at least
/// one message): a few socket reads' worth for the peer, many small messages per round.
const HANDOFF_BYTES: usize = 16 * 1024;

impl Shared {
    /// Whether some peer whose socket keeps up has messages waiting here.
    pub fn more_ready(&self) -> bool {
        self.outbox
            .lock()
            .map(|q| {
                q.queues
                    .values()
                    .any(|p| !p.msgs.is_empty() && !p.write_blocked())
            })
            .unwrap_or(false)
    }

    /// Asks for a flush of what is queued. True: no flush task runs and the caller must
    /// start one ([`flush`]); false: the running one goes round again for it. One task at
    /// a time: a second one would find LDK's `process_events` busy (it returns at once,
    /// leaving the work to the first) and spin on [`more_ready`](Self::more_ready) until
    /// the first is done.
    pub fn request_flush(&self) -> bool {
        self.flush_queued.store(true, Ordering::SeqCst);
        !self.flush_running.swap(true, Ordering::SeqCst)
    }

    /// The flush task starts a round: what is queued from here on asks for another.
    fn begin_round(&self) {
        self.flush_queued.store(false, Ordering::SeqCst);
    }

    /// After a round: whether the flush task must go round again (a request came in, or a
    /// peer whose socket keeps up has more than one round's handoff queued). False: the
    /// task has ended its turn, and the next request starts a new one.
    fn again(&self) -> bool {
        if self.flush_queued.load(Ordering::SeqCst) || self.more_ready() {
            return true;
        }
        self.flush_running.store(false, Ordering::SeqCst);
        // A request between the check and the store saw us running and left it to us.
        self.flush_queued.load(Ordering::SeqCst) && !self.flush_running.swap(true, Ordering::SeqCst)
    }

    /// A custom message of ours was queued (before its [`request_flush`](Self::request_flush)).
    pub fn note_send(&self) {
        if let Ok(mut p) = self.pace.lock() {
            let now = tokio::time::Instant::now();
            p.stream = p.last.is_some_and(|l| now - l < STREAM_GAP);
            p.last = Some(now);
        }
    }

    /// Whether the last send followed the one before it within [`STREAM_GAP`].
    fn in_stream(&self) -> bool {
        self.pace.lock().map(|p| p.stream).unwrap_or(false)
    }

    /// Forgets a finished connection's flow (unless the peer is already on a newer one).
    pub fn forget_flow(&self, flow: &Arc<Flow>) {
        let Some(id) = flow.node.get() else { return };
        if let Ok(mut f) = self.flows.lock() {
            if f.get(id).is_some_and(|x| Arc::ptr_eq(x, flow)) {
                f.remove(id);
            }
        }
    }

    fn even_allowed(&self, t: u16) -> bool {
        if self
            .allowed_even
            .read()
            .map(|a| a.contains(&t))
            .unwrap_or(false)
        {
            return true;
        }
        let f = self.even_filter.read().ok().and_then(|f| f.clone());
        f.is_some_and(|f| f(t))
    }
}

/// When our last send came in, and whether it came close behind the one before.
#[derive(Default)]
pub(crate) struct SendPace {
    last: Option<tokio::time::Instant>,
    stream: bool,
}

/// Where a connected peer stands with the daemon.
#[derive(Clone, Debug)]
pub(crate) struct PeerState {
    pub inbound: bool,
    pub features: InitFeatures,
    /// False while the daemon's `peer_connected` chain runs (see `PeerNode::accept`).
    pub active: bool,
    /// Set once we decided to drop this peer; its further messages are ignored.
    pub rejected: bool,
}

/// Our `CustomMessageHandler`: reads every type LDK doesn't know, applies the even-type
/// policy, and forwards the rest as events.
pub(crate) struct CustomHandler {
    pub shared: Arc<Shared>,
    pub events: mpsc::UnboundedSender<RawEvent>,
    /// Whether new peers start active (no gating by the daemon).
    pub auto_accept: bool,
}

impl CustomHandler {
    fn plugin_init_features(&self) -> InitFeatures {
        let f = self
            .shared
            .features
            .read()
            .map(|f| f.init.clone())
            .unwrap_or_default();
        InitFeatures::from_be_bytes(f)
    }

    /// Queue a BOLT 1 warning followed by a disconnect (LDK does both in `process_events`).
    pub(crate) fn queue_warning(shared: &Shared, id: PublicKey, text: String) {
        let ev = MessageSendEvent::HandleError {
            node_id: id,
            action: ErrorAction::DisconnectPeerWithWarning {
                msg: WarningMessage {
                    channel_id: ChannelId::new_zero(),
                    data: text,
                },
            },
        };
        if let Ok(mut q) = shared.warnings.lock() {
            q.push(ev);
        }
    }
}

impl CustomMessageReader for CustomHandler {
    type CustomMessage = RawMessage;
    fn read<R: LengthLimitedRead>(
        &self,
        msg_type: u16,
        buffer: &mut R,
    ) -> Result<Option<RawMessage>, DecodeError> {
        read_raw(msg_type, buffer)
    }
}

impl CustomMessageHandler for CustomHandler {
    fn handle_custom_message(
        &self,
        msg: RawMessage,
        sender: PublicKey,
    ) -> Result<(), LightningError> {
        let mut connected = match self.shared.connected.lock() {
            Ok(c) => c,
            Err(_) => return Ok(()),
        };
        let Some(state) = connected.get_mut(&sender) else {
            return Ok(());
        };
        if state.rejected {
            return Ok(());
        }
        let even = msg.msg_type & 1 == 0;
        let allowed = !even || self.shared.even_allowed(msg.msg_type);
        if !allowed {
            // BOLT 1: an unknown even type means the peer expects something we can't do.
            state.rejected = true;
            drop(connected);
            tracing::warn!(
                peer = %sender,
                "Invalid unknown even msg type {} from peer, disconnecting",
                msg.msg_type
            );
            let text = format!("Invalid unknown even msg {}", hex::encode(msg.to_wire()));
            Self::queue_warning(&self.shared, sender, text);
            return Ok(());
        }
        drop(connected);
        // Counted against the connection it came on until the daemon is done with it.
        let credit = flow::current()
            .map(|f| f.hold(msg.body.len() + 2))
            .unwrap_or_default();
        let _ = self.events.send(RawEvent::Custom {
            id: sender,
            msg,
            credit,
        });
        Ok(())
    }

    /// Hands LDK the next [`HANDOFF_BYTES`] of each peer's queued messages whose socket
    /// keeps up (the flush task comes back for the rest); a peer whose socket is full keeps
    /// its messages here (LDK's own buffer has no bound) until the driver sees room. A
    /// little at a time: LDK stops reading a peer while 12 messages wait in its buffer,
    /// and a peer we did not read for a ping interval is dropped for not answering our
    /// ping, so what a full socket leaves in LDK's buffer must drain in a few reads.
    fn get_and_clear_pending_msg(&self) -> Vec<(PublicKey, RawMessage)> {
        let mut out = Vec::new();
        let mut freed = Vec::new();
        if let Ok(mut q) = self.shared.outbox.lock() {
            q.queues.retain(|id, p| {
                if p.write_blocked() {
                    return true;
                }
                let msgs = &mut p.msgs;
                let mut bytes = 0;
                let n = msgs
                    .iter()
                    .take_while(|(m, _)| {
                        let more = bytes < HANDOFF_BYTES;
                        bytes += m.body.len() + 2;
                        more
                    })
                    .count();
                let room: u32 = msgs.iter().take(n).map(|(_, r)| *r).sum();
                out.extend(msgs.drain(..n).map(|(m, _)| (*id, m)));
                freed.push((*id, room));
                !msgs.is_empty()
            });
        }
        if !freed.is_empty() {
            if let Ok(r) = self.shared.send_room.lock() {
                for (id, room) in freed {
                    if let Some(s) = r.get(&id) {
                        s.add_permits(room as usize);
                    }
                }
            }
        }
        out
    }

    fn peer_disconnected(&self, id: PublicKey) {
        if let Some(s) = self
            .shared
            .send_room
            .lock()
            .ok()
            .and_then(|mut r| r.remove(&id))
        {
            // Waiting senders learn the peer is gone.
            s.close();
        }
        if let Ok(mut q) = self.shared.outbox.lock() {
            q.queues.remove(&id);
        }
        let was = self
            .shared
            .connected
            .lock()
            .ok()
            .and_then(|mut c| c.remove(&id))
            .is_some();
        if was {
            let _ = self.events.send(RawEvent::Disconnected { id });
        }
    }

    fn peer_connected(&self, id: PublicKey, msg: &Init, inbound: bool) -> Result<(), ()> {
        let state = PeerState {
            inbound,
            features: msg.features.clone(),
            active: self.auto_accept,
            rejected: false,
        };
        if let Ok(mut c) = self.shared.connected.lock() {
            c.insert(id, state);
        }
        if let Some(f) = flow::current() {
            let _ = f.node.set(id);
            if let Ok(mut m) = self.shared.flows.lock() {
                m.insert(id, f);
            }
        }
        if let Ok(mut r) = self.shared.send_room.lock() {
            r.insert(id, Arc::new(Semaphore::new(SEND_BUDGET)));
        }
        let _ = self.events.send(RawEvent::Connected {
            id,
            features: msg.features.clone(),
            inbound,
            remote_addr: msg.remote_network_address.clone(),
        });
        if let Some(ws) = self
            .shared
            .waiters
            .lock()
            .ok()
            .and_then(|mut w| w.remove(&id))
        {
            for w in ws {
                let _ = w.send(());
            }
        }
        Ok(())
    }

    fn provided_node_features(&self) -> NodeFeatures {
        let f = self
            .shared
            .features
            .read()
            .map(|f| f.node.clone())
            .unwrap_or_default();
        NodeFeatures::from_be_bytes(f)
    }

    fn provided_init_features(&self, _their_node_id: PublicKey) -> InitFeatures {
        self.plugin_init_features()
    }
}

/// How long the flush task stays after a round for more while sends come in a stream. A
/// client sending one message per round trip queues one at a time: without it, each would
/// wake the peer runtime and get a `process_events` of its own, and reach the receiver in
/// a socket read (and a plugin write there) of its own (bench custommsg, one connection).
/// LDK still writes each message with a `send_data` of its own, back to back.
pub(crate) const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

/// Sends closer together than this are a stream. Measured between sends, not from the
/// flush task's last round: a linger must not make the next send of a slow sender (500/s
/// in bench custommsg's paced row, commando) look like part of a stream and wait too.
const STREAM_GAP: std::time::Duration = std::time::Duration::from_micros(200);

/// Has LDK take our queued custom messages, a few per peer at a time, until none is left
/// for a peer whose socket keeps up. Runs on the peer runtime when [`Shared::request_flush`]
/// says so: a burst of sends shares one flush, and a message queued during a round gets
/// another.
pub(crate) async fn flush(pm: Arc<crate::node::Pm>, shared: Arc<Shared>) {
    run_flush(&shared, || pm.process_events()).await
}

/// The flush task's turn, `round` being one `process_events`: rounds back to back while a
/// peer has more than a round's handoff, at most one per [`LINGER`] while sends come in a
/// stream; the turn ends after a round (and its linger) that brought no sends.
async fn run_flush(shared: &Shared, mut round: impl FnMut()) {
    loop {
        shared.begin_round();
        round();
        if !shared.more_ready() && shared.in_stream() {
            tokio::time::sleep(LINGER).await;
        }
        if !shared.again() {
            return;
        }
        // Each round is short (a few KB per peer); another task's turn comes with the
        // socket reads this flush wakes.
        tokio::task::consume_budget().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_during_a_flush_round_starts_no_second_flush_task() {
        let s = Shared::default();
        assert!(s.request_flush(), "the first request starts the task");
        s.begin_round();
        assert!(
            !s.request_flush(),
            "a send during the round leaves it to the running task"
        );
        assert!(s.again(), "which goes round again");
        s.begin_round();
        assert!(!s.again(), "nothing queued: the task ends");
        assert!(s.request_flush(), "and the next send starts a new one");
    }

    /// A send after a quiet spell is flushed at once and its turn ends; while sends come
    /// in a stream the turn lingers: sends meanwhile start no task and go out together in
    /// its next round, and a linger without sends ends the turn.
    #[tokio::test(start_paused = true)]
    async fn a_stream_of_sends_shares_rounds_and_a_lone_send_goes_at_once() {
        let s = Arc::new(Shared::default());
        let rounds = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let count = |r: &std::sync::atomic::AtomicU32| r.load(Ordering::SeqCst);
        let send = || {
            s.note_send();
            s.request_flush()
        };
        let turn = || {
            let (s, r) = (s.clone(), rounds.clone());
            tokio::spawn(async move {
                run_flush(&s, || {
                    r.fetch_add(1, Ordering::SeqCst);
                })
                .await
            })
        };
        assert!(send());
        let first = turn();
        tokio::task::yield_now().await;
        assert_eq!(count(&rounds), 1, "the first send goes at once");
        assert!(first.is_finished(), "and its turn ends without lingering");

        assert!(send(), "a send right behind it starts a turn");
        let stream = turn();
        tokio::task::yield_now().await;
        assert_eq!(count(&rounds), 2, "which also goes at once");
        for _ in 0..5 {
            assert!(!send(), "a send while it lingers starts no task");
            tokio::time::advance(LINGER / 10).await;
        }
        assert_eq!(count(&rounds), 2, "no round before the linger is over");
        tokio::time::sleep(LINGER).await;
        assert_eq!(count(&rounds), 3, "one round takes the five");
        tokio::time::sleep(LINGER * 2).await;
        assert!(stream.is_finished(), "a linger without sends ends the turn");

        tokio::time::advance(STREAM_GAP).await;
        assert!(send(), "after a gap");
        let lone = turn();
        tokio::task::yield_now().await;
        assert_eq!(count(&rounds), 4, "a send goes at once");
        assert!(lone.is_finished(), "and its turn ends without lingering");
    }
}

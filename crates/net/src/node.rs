//! [`PeerNode`]: LDK's `PeerManager` on tokio sockets, plus the small amount of state the
//! daemon needs around it (who is connected, who is still waiting for the daemon's verdict).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::secp256k1::PublicKey;
use lightning::ln::peer_handler::{MessageHandler, PeerManager};
use lightning::sign::{KeysManager, NodeSigner, Recipient};
use lightning::types::features::{InitFeatures, NodeFeatures};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::PeerConfig;
use crate::custom::{CustomHandler, Shared};
use crate::error::{SendError, StartError};
use crate::event::{to_socket_addr, Direction, PeerEvents, PeerInfo};
use crate::features::{be_bytes, OurFeatures};
use crate::flow::{MSG_OVERHEAD, SEND_BUDGET};
use crate::handlers::{Handlers, OnionHandler, RoutingHandler};
use crate::listen::accept_loop;
use crate::log::LdkTracing;
use crate::runtime::{bind, off_worker, PeerRuntime};
use crate::socket::Descriptor;
use crate::wire::{RawMessage, MAX_MESSAGE_LEN};
use crate::wrap::{ChanHandler, Warner};

pub(crate) type Pm = PeerManager<
    Descriptor,
    Arc<ChanHandler>,
    Arc<RoutingHandler>,
    Arc<OnionHandler>,
    Arc<LdkTracing>,
    Arc<CustomHandler>,
    Arc<KeysManager>,
    Arc<Warner>,
>;

pub(crate) struct Inner {
    pub pm: Arc<Pm>,
    pub shared: Arc<Shared>,
    /// The caller's handlers, for the feature bits they advertise.
    handlers: Handlers,
    pub node_id: PublicKey,
    bound: Vec<SocketAddr>,
    pub connect_timeout: Duration,
    /// Timer ticks so far (counted just before each one runs): `connect` reads it to tell a
    /// handshake our tick ended from one the peer ended.
    pub ticks: AtomicU64,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Bound listeners not accepting yet (see `PeerConfig::accept_at_start`).
    paused: Mutex<Vec<std::net::TcpListener>>,
    pub stopped: AtomicBool,
    /// The sockets' runtime (see `runtime.rs`); last, so it stops after the rest is gone.
    pub rt: PeerRuntime,
}

/// Handle to the peer layer; cheap to clone.
#[derive(Clone)]
pub struct PeerNode {
    pub(crate) inner: Arc<Inner>,
}

impl PeerNode {
    /// Builds the peer manager on `keys` (our node key) and `handlers`, binds the
    /// listeners and starts the peer runtime the sockets run on. Nothing ticks until the
    /// caller calls [`timer_tick_occurred`](Self::timer_tick_occurred).
    pub async fn start(
        cfg: PeerConfig,
        keys: Arc<KeysManager>,
        handlers: Handlers,
    ) -> Result<(PeerNode, PeerEvents), StartError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let node_id = keys
            .get_node_id(Recipient::Node)
            .map_err(|_| StartError::Key("cannot derive node id".into()))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let custom = Arc::new(CustomHandler {
            shared: shared.clone(),
            events: tx,
            auto_accept: cfg.auto_accept,
        });
        let message_handler = MessageHandler {
            chan_handler: Arc::new(ChanHandler {
                inner: handlers.channel.clone(),
                custom: custom.clone(),
                read_watch: handlers.read_watch.clone(),
            }),
            route_handler: handlers.routing.clone(),
            onion_message_handler: handlers.onion.clone(),
            custom_message_handler: custom,
            send_only_message_handler: Arc::new(Warner {
                shared: shared.clone(),
                inner: handlers.send_only.clone(),
            }),
        };
        let ephemeral: [u8; 32] = rand::random();
        let pm = Arc::new(PeerManager::new(
            message_handler,
            now.as_secs() as u32,
            &ephemeral,
            Arc::new(LdkTracing),
            keys,
        ));

        let rt = PeerRuntime::new().map_err(StartError::Runtime)?;
        let mut tasks = Vec::new();
        let mut bound = Vec::new();
        let mut paused = Vec::new();
        for addr in &cfg.listen {
            let bind_err = |source| StartError::Bind {
                addr: *addr,
                source,
            };
            let listener = bind(*addr).map_err(bind_err)?;
            bound.push(listener.local_addr().map_err(bind_err)?);
            if cfg.accept_at_start {
                tasks.push(
                    rt.handle()
                        .spawn(accept_loop(listener, pm.clone(), shared.clone())),
                );
            } else {
                paused.push(listener);
            }
        }

        let inner = Arc::new(Inner {
            pm: pm.clone(),
            shared,
            handlers,
            node_id,
            bound,
            connect_timeout: cfg.connect_timeout,
            ticks: AtomicU64::new(0),
            tasks: Mutex::new(tasks),
            paused: Mutex::new(paused),
            stopped: AtomicBool::new(false),
            rt,
        });
        Ok((PeerNode { inner }, PeerEvents { rx, pm }))
    }

    pub fn node_id(&self) -> PublicKey {
        self.inner.node_id
    }

    /// Starts accepting on listeners bound with `accept_at_start: false`. Idempotent.
    pub fn activate(&self) {
        let listeners: Vec<std::net::TcpListener> = self
            .inner
            .paused
            .lock()
            .map(|mut p| p.drain(..).collect())
            .unwrap_or_default();
        if let Ok(mut t) = self.inner.tasks.lock() {
            for l in listeners {
                let (pm, shared) = (self.inner.pm.clone(), self.inner.shared.clone());
                t.push(self.inner.rt.handle().spawn(accept_loop(l, pm, shared)));
            }
        }
    }

    /// The addresses we actually listen on (real ports when `:0` was asked for).
    pub fn bound_addrs(&self) -> Vec<SocketAddr> {
        self.inner.bound.clone()
    }

    /// The caller's timer, roughly every 10 s (LDK's own background processor uses 10 s):
    /// sends pings, drops peers that did not answer the last one, and drops connections
    /// whose handshake and init are not done by their second tick. Call this, not LDK's
    /// `PeerManager::timer_tick_occurred`: the tick count here is how
    /// [`connect`](Self::connect) tells "timed out" from "the peer hung up".
    pub fn timer_tick_occurred(&self) {
        if self.inner.stopped.load(Ordering::Acquire) {
            return;
        }
        // Before the tick: a connection it drops sees the new count when it ends.
        self.inner.ticks.fetch_add(1, Ordering::AcqRel);
        off_worker(|| self.inner.pm.timer_tick_occurred());
    }

    /// Lets LDK flush queued messages now (its handlers' and ours). The socket tasks call
    /// this after every read; a driver loop should call it after handing LDK anything that
    /// queues messages outside a peer read (e.g. channel operations).
    pub fn process_events(&self) {
        off_worker(|| self.inner.pm.process_events());
    }

    /// Signs and sends our `node_announcement` to every peer (and our own graph). Only
    /// worth it once we have a public channel: peers drop announcements of nodes without
    /// one. LDK panics past 100 addresses, so the list is cut there.
    pub fn broadcast_node_announcement(
        &self,
        rgb: [u8; 3],
        alias: [u8; 32],
        mut addresses: Vec<lightning::ln::msgs::SocketAddress>,
    ) {
        if self.inner.stopped.load(Ordering::Acquire) {
            return;
        }
        addresses.truncate(100);
        off_worker(|| {
            self.inner
                .pm
                .broadcast_node_announcement(rgb, alias, addresses);
            self.inner.pm.process_events();
        });
    }

    /// Marks a connected peer active (its `peer_connected` chain said continue). Returns false
    /// if it is no longer connected.
    pub fn accept(&self, id: &PublicKey) -> bool {
        match self.inner.shared.connected.lock() {
            Ok(mut c) => match c.get_mut(id) {
                Some(s) => {
                    s.active = true;
                    true
                }
                None => false,
            },
            Err(_) => false,
        }
    }

    /// Drops a peer now (after flushing what is already queued). Returns whether it was
    /// connected. A `Disconnected` event follows.
    pub fn disconnect(&self, id: &PublicKey) -> bool {
        let was = self.is_connected(id);
        off_worker(|| {
            self.inner.pm.process_events();
            self.inner.pm.disconnect_by_node_id(*id);
        });
        was
    }

    /// Sends a BOLT 1 `warning` (all-zero channel id) with `text`, then disconnects.
    pub fn disconnect_with_warning(&self, id: &PublicKey, text: &str) -> bool {
        let was = match self.inner.shared.connected.lock() {
            Ok(mut c) => match c.get_mut(id) {
                Some(s) => {
                    s.rejected = true;
                    true
                }
                None => false,
            },
            Err(_) => false,
        };
        // Flush queued custom messages first: LDK skips sends to a peer it is dropping.
        off_worker(|| {
            self.inner.pm.process_events();
            CustomHandler::queue_warning(&self.inner.shared, *id, text.to_string());
            self.inner.pm.process_events();
        });
        was
    }

    /// Queues one custom message (type included) behind the ones before it to this peer;
    /// the peer runtime flushes it at once. Waits (in call order) while the peer's queue is
    /// full: the peer reads slower than we send. Best effort after that: if the peer drops
    /// before the bytes leave, the message is lost.
    pub async fn send_custom(&self, id: &PublicKey, msg: &[u8]) -> Result<(), SendError> {
        let raw = Self::check_custom(msg)?;
        let room = self.room(id).ok_or(SendError::NotConnected)?;
        let need = (msg.len() + MSG_OVERHEAD).min(SEND_BUDGET) as u32;
        // Queued for room on its first poll, so concurrent callers keep their order.
        let permit = room
            .clone()
            .acquire_many_owned(need)
            .await
            .map_err(|_| SendError::NotConnected)?;
        permit.forget();
        self.push_custom(id, raw, need, &room)?;
        self.flush_soon();
        Ok(())
    }

    /// Queues several messages for one peer at once, flushed once at the end (commando's
    /// request and reply pieces), without waiting for room: they take what room there is
    /// and go over the budget by the rest (commando bounds its own requests and replies).
    /// Stops at the first message that cannot be queued.
    pub fn send_custom_batch<'a>(
        &self,
        id: &PublicKey,
        msgs: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), SendError> {
        let res = msgs.into_iter().try_for_each(|m| {
            let raw = Self::check_custom(m)?;
            let room = self.room(id).ok_or(SendError::NotConnected)?;
            let need = (m.len() + MSG_OVERHEAD).min(SEND_BUDGET) as u32;
            let took = match room.clone().try_acquire_many_owned(need) {
                Ok(p) => {
                    p.forget();
                    need
                }
                Err(_) => 0,
            };
            self.push_custom(id, raw, took, &room)
        });
        self.flush_soon();
        res
    }

    /// Has LDK take the queued custom messages on the peer runtime: the caller's worker
    /// neither waits on LDK nor gives its core away per message.
    fn flush_soon(&self) {
        self.inner.shared.note_send();
        if self.inner.shared.request_flush() {
            let (pm, shared) = (self.inner.pm.clone(), self.inner.shared.clone());
            self.inner
                .rt
                .handle()
                .spawn(crate::custom::flush(pm, shared));
        }
    }

    fn check_custom(msg: &[u8]) -> Result<RawMessage, SendError> {
        if msg.len() > MAX_MESSAGE_LEN {
            return Err(SendError::TooLong(msg.len()));
        }
        RawMessage::from_wire(msg).ok_or(SendError::TooShort)
    }

    /// The peer's outbox room, if it is connected and not being dropped.
    fn room(&self, id: &PublicKey) -> Option<Arc<tokio::sync::Semaphore>> {
        let ok = self
            .inner
            .shared
            .connected
            .lock()
            .map(|c| c.get(id).map(|s| !s.rejected).unwrap_or(false))
            .unwrap_or(false);
        if !ok {
            return None;
        }
        self.inner.shared.send_room.lock().ok()?.get(id).cloned()
    }

    /// Appends to the peer's outbox, unless it left (or came back on a new connection)
    /// while we waited for room.
    fn push_custom(
        &self,
        id: &PublicKey,
        raw: RawMessage,
        took: u32,
        room: &Arc<tokio::sync::Semaphore>,
    ) -> Result<(), SendError> {
        let shared = &self.inner.shared;
        let Ok(mut q) = shared.outbox.lock() else {
            return Err(SendError::NotConnected);
        };
        let same = shared
            .send_room
            .lock()
            .map(|r| r.get(id).is_some_and(|s| Arc::ptr_eq(s, room)))
            .unwrap_or(false);
        if !same {
            return Err(SendError::NotConnected);
        }
        q.push(*id, raw, took, &shared.flows);
        Ok(())
    }

    pub fn is_connected(&self, id: &PublicKey) -> bool {
        self.inner
            .shared
            .connected
            .lock()
            .map(|c| c.contains_key(id))
            .unwrap_or(false)
    }

    /// One connected peer.
    pub fn peer(&self, id: &PublicKey) -> Option<PeerInfo> {
        let details = off_worker(|| self.inner.pm.peer_by_node_id(id))?;
        let state = self.inner.shared.connected.lock().ok()?.get(id).cloned()?;
        Some(PeerInfo {
            id: *id,
            addr: details.socket_address.as_ref().and_then(to_socket_addr),
            features: be_bytes(state.features.le_flags()),
            direction: Direction::from_inbound(state.inbound),
            active: state.active,
        })
    }

    /// Every connected peer (init exchanged), active or not.
    pub fn list_peers(&self) -> Vec<PeerInfo> {
        let details = off_worker(|| self.inner.pm.list_peers());
        let Ok(states) = self.inner.shared.connected.lock() else {
            return Vec::new();
        };
        details
            .into_iter()
            .filter_map(|d| {
                let s = states.get(&d.counterparty_node_id)?;
                Some(PeerInfo {
                    id: d.counterparty_node_id,
                    addr: d.socket_address.as_ref().and_then(to_socket_addr),
                    features: be_bytes(s.features.le_flags()),
                    direction: Direction::from_inbound(s.inbound),
                    active: s.active,
                })
            })
            .collect()
    }

    /// Replaces the set of even custom types we accept (the union of plugins'
    /// `custommessages`). Odd types are always accepted.
    pub fn set_allowed_even_types(&self, types: impl IntoIterator<Item = u16>) {
        if let Ok(mut a) = self.inner.shared.allowed_even.write() {
            *a = types.into_iter().filter(|t| t & 1 == 0).collect();
        }
    }

    /// Installs a live check for even types (in addition to the fixed set): called for each
    /// incoming even custom message, from LDK's read path, so it must be quick and must not
    /// call back into this crate.
    pub fn set_even_filter(&self, f: impl Fn(u16) -> bool + Send + Sync + 'static) {
        if let Ok(mut g) = self.inner.shared.even_filter.write() {
            *g = Some(Arc::new(f));
        }
    }

    /// Sets the feature bits plugins add (big-endian bitmaps, as in CLN's `featurebits`).
    /// They go into init messages of connections made from now on.
    pub fn set_plugin_features(&self, init: Vec<u8>, node: Vec<u8>) {
        if let Ok(mut f) = self.inner.shared.features.write() {
            f.init = init;
            f.node = node;
        }
    }

    /// Our full init and node feature bits: the handlers' plus the plugins'.
    pub fn our_features(&self) -> OurFeatures {
        let (pi, pn) = self
            .inner
            .shared
            .features
            .read()
            .map(|f| (f.init.clone(), f.node.clone()))
            .unwrap_or_default();
        let (init, node) = self.inner.handlers.raw_features();
        let init = init | InitFeatures::from_be_bytes(pi);
        let node = node | NodeFeatures::from_be_bytes(pn);
        OurFeatures {
            init: be_bytes(init.le_flags()),
            node: be_bytes(node.le_flags()),
        }
    }

    /// Stops listening and drops every peer; later ticks do nothing. Idempotent.
    pub fn shutdown(&self) {
        if self.inner.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Ok(mut t) = self.inner.tasks.lock() {
            for h in t.drain(..) {
                h.abort();
            }
        }
        off_worker(|| {
            self.inner.pm.process_events();
            self.inner.pm.disconnect_all_peers();
        });
    }
}

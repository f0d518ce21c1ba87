//! [`PeerNode`]: LDK's `PeerManager` on tokio sockets, plus the small amount of state the
//! daemon needs around it (who is connected, who is still waiting for the daemon's verdict).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{BaseMessageHandler, SocketAddress};
use lightning::ln::peer_handler::{
    ErroringMessageHandler, IgnoringMessageHandler, MessageHandler, PeerManager,
};
use lightning::sign::{KeysManager, NodeSigner, Recipient};
use lightning::types::features::{InitFeatures, NodeFeatures};
use lightning_net_tokio::SocketDescriptor;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::{ConnectError, SendError, StartError};
use crate::handler::{ChanHandler, CustomHandler, RawEvent, Shared, Warner};
use crate::log::LdkTracing;
use crate::wire::{RawMessage, MAX_MESSAGE_LEN};

type Pm = PeerManager<
    SocketDescriptor,
    Arc<ChanHandler>,
    Arc<IgnoringMessageHandler>,
    Arc<IgnoringMessageHandler>,
    Arc<LdkTracing>,
    Arc<CustomHandler>,
    Arc<KeysManager>,
    Arc<Warner>,
>;

/// How to run the peer layer.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// The 32-byte `hsm_secret`; the node key is derived from it like LDK's `KeysManager`.
    pub seed: [u8; 32],
    /// Addresses to listen on (`127.0.0.1:0` picks a free port; see [`PeerNode::bound_addrs`]).
    pub listen: Vec<SocketAddr>,
    /// LDK timer tick: pings, ping timeouts and handshake timeouts (a peer gets one to two
    /// ticks to finish its handshake).
    pub tick_interval: Duration,
    /// Limit for an outbound connect (TCP + handshake + init).
    pub connect_timeout: Duration,
    /// Accept inbound connections as soon as the listeners are bound. When false, the
    /// sockets are bound (so the ports are known) but nobody is accepted until
    /// [`PeerNode::activate`] (the daemon first wires up its hooks, like CLN's connectd).
    pub accept_at_start: bool,
    /// New peers start active. When false, a new peer stays "connecting" until the daemon
    /// calls [`PeerNode::accept`] (its `peer_connected` hook chain said continue).
    pub auto_accept: bool,
}

impl PeerConfig {
    /// Defaults: no listener, 10 s tick, 30 s connect timeout, daemon gating on.
    pub fn new(seed: [u8; 32]) -> Self {
        PeerConfig {
            seed,
            listen: Vec::new(),
            tick_interval: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(30),
            auto_accept: false,
            accept_at_start: true,
        }
    }
}

/// Which side opened the connection (`in`/`out` in CLN's JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// A connected peer.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    pub id: PublicKey,
    /// Their address as we see it (None if LDK had none, e.g. a non-IP socket).
    pub addr: Option<SocketAddr>,
    /// Their init features, big-endian bitmap (hex-encode for CLN's `features`).
    pub features: Vec<u8>,
    pub direction: Direction,
    /// False while the daemon has not accepted the peer yet (CLN's `PEER_CONNECTING`).
    pub active: bool,
}

/// What happened on the peer side, delivered in order (per peer: arrival order).
#[derive(Clone, Debug)]
pub enum PeerEvent {
    /// Handshake and init done. If gating is on, the peer waits for accept/reject.
    Connected {
        id: PublicKey,
        addr: Option<SocketAddr>,
        features: Vec<u8>,
        direction: Direction,
        /// How they see us: the `remote_addr` TLV of their init, when it is an IP address
        /// (CLN's `remote_addr`).
        remote_addr: Option<SocketAddr>,
    },
    /// The connection is gone (for any reason).
    Disconnected { id: PublicKey },
    /// A custom message. `payload` is the whole message as on the wire, 2-byte type included
    /// (what CLN's `custommsg` hook calls `payload`).
    CustomMessage {
        id: PublicKey,
        msg_type: u16,
        payload: Vec<u8>,
    },
}

/// Our own feature bits, big-endian bitmaps.
#[derive(Clone, Debug)]
pub struct OurFeatures {
    pub init: Vec<u8>,
    pub node: Vec<u8>,
}

struct Inner {
    pm: Arc<Pm>,
    shared: Arc<Shared>,
    node_id: PublicKey,
    bound: Vec<SocketAddr>,
    connect_timeout: Duration,
    /// Timer ticks so far (counted just before each one runs).
    ticks: Arc<AtomicU64>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Bound listeners not accepting yet (see `PeerConfig::accept_at_start`).
    paused: Mutex<Vec<TcpListener>>,
    stopped: AtomicBool,
}

/// Handle to the peer layer; cheap to clone.
#[derive(Clone)]
pub struct PeerNode {
    inner: Arc<Inner>,
}

/// The node id a seed gives (same derivation as [`PeerNode::start`]).
pub fn node_id_from_seed(seed: &[u8; 32]) -> Result<PublicKey, StartError> {
    let keys = KeysManager::new(seed, 0, 0, true);
    keys.get_node_id(Recipient::Node)
        .map_err(|_| StartError::Key("cannot derive node id".into()))
}

impl PeerNode {
    /// Builds the peer manager, binds the listeners and starts the timer. Must run inside a
    /// tokio runtime.
    pub async fn start(cfg: PeerConfig) -> Result<(PeerNode, PeerEvents), StartError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let keys = Arc::new(KeysManager::new(
            &cfg.seed,
            now.as_secs(),
            now.subsec_nanos(),
            true,
        ));
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
        let handlers = MessageHandler {
            chan_handler: Arc::new(ChanHandler {
                inner: ErroringMessageHandler::new(),
                custom: custom.clone(),
            }),
            route_handler: Arc::new(IgnoringMessageHandler {}),
            onion_message_handler: Arc::new(IgnoringMessageHandler {}),
            custom_message_handler: custom,
            send_only_message_handler: Arc::new(Warner {
                shared: shared.clone(),
            }),
        };
        let ephemeral: [u8; 32] = rand::random();
        let pm = Arc::new(PeerManager::new(
            handlers,
            now.as_secs() as u32,
            &ephemeral,
            Arc::new(LdkTracing),
            keys,
        ));

        let mut tasks = Vec::new();
        let mut bound = Vec::new();
        let mut paused = Vec::new();
        for addr in &cfg.listen {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind {
                    addr: *addr,
                    source,
                })?;
            let local = listener.local_addr().map_err(|source| StartError::Bind {
                addr: *addr,
                source,
            })?;
            bound.push(local);
            if cfg.accept_at_start {
                tasks.push(tokio::spawn(accept_loop(listener, pm.clone())));
            } else {
                paused.push(listener);
            }
        }
        let ticks = Arc::new(AtomicU64::new(0));
        tasks.push(tokio::spawn(tick_loop(
            pm.clone(),
            cfg.tick_interval,
            ticks.clone(),
        )));

        let inner = Arc::new(Inner {
            pm: pm.clone(),
            shared,
            node_id,
            bound,
            connect_timeout: cfg.connect_timeout,
            ticks,
            tasks: Mutex::new(tasks),
            paused: Mutex::new(paused),
            stopped: AtomicBool::new(false),
        });
        Ok((PeerNode { inner }, PeerEvents { rx, pm }))
    }

    pub fn node_id(&self) -> PublicKey {
        self.inner.node_id
    }

    /// Starts accepting on listeners bound with `accept_at_start: false`. Idempotent.
    pub fn activate(&self) {
        let listeners: Vec<TcpListener> = self
            .inner
            .paused
            .lock()
            .map(|mut p| p.drain(..).collect())
            .unwrap_or_default();
        if let Ok(mut t) = self.inner.tasks.lock() {
            for l in listeners {
                t.push(tokio::spawn(accept_loop(l, self.inner.pm.clone())));
            }
        }
    }

    /// The addresses we actually listen on (real ports when `:0` was asked for).
    pub fn bound_addrs(&self) -> Vec<SocketAddr> {
        self.inner.bound.clone()
    }

    /// Opens a connection and waits until the handshake and init exchange are done. If the
    /// peer is already connected this returns it at once. Gating is the daemon's business:
    /// with `auto_accept` off the peer returned here is not active yet.
    pub async fn connect(&self, id: PublicKey, addr: SocketAddr) -> Result<PeerInfo, ConnectError> {
        if self.inner.stopped.load(Ordering::Acquire) {
            return Err(ConnectError::Shutdown);
        }
        if id == self.inner.node_id {
            return Err(ConnectError::SelfConnect);
        }
        if let Some(p) = self.peer(&id) {
            return Ok(p);
        }
        let limit = self.inner.connect_timeout;
        let deadline = tokio::time::Instant::now() + limit;
        let timeout_err = ConnectError::Timeout {
            addr,
            secs: limit.as_secs(),
        };
        let stream = match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => return Err(timeout_err),
            Ok(Err(e)) => {
                return Err(ConnectError::Tcp {
                    addr,
                    reason: os_reason(&e),
                })
            }
            Ok(Ok(s)) => s,
        };
        let std_stream = nodelay(stream).into_std().map_err(|e| ConnectError::Tcp {
            addr,
            reason: os_reason(&e),
        })?;

        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.inner.shared.waiters.lock() {
            w.entry(id).or_default().push(tx);
        }
        let ticks_before = self.inner.ticks.load(Ordering::Acquire);
        let conn = lightning_net_tokio::setup_outbound(self.inner.pm.clone(), id, std_stream);
        tokio::pin!(conn);
        // LDK drops a connection whose handshake and init are not done at the second tick
        // after it began; one that ends after that many ticks was ended by us, not by the
        // peer.
        let ended = || {
            if self.inner.ticks.load(Ordering::Acquire) - ticks_before >= 2 {
                ConnectError::HandshakeTimeout { addr }
            } else {
                ConnectError::Handshake { addr }
            }
        };
        let outcome = tokio::select! {
            biased;
            r = rx => if r.is_ok() { Ok(()) } else { Err(ended()) },
            _ = &mut conn => Err(ended()),
            _ = tokio::time::sleep_until(deadline) => Err(timeout_err),
        };
        // Forget our waiter if it did not fire (its receiver is gone now).
        if let Ok(mut w) = self.inner.shared.waiters.lock() {
            if let Some(list) = w.get_mut(&id) {
                list.retain(|s| !s.is_closed());
                if list.is_empty() {
                    w.remove(&id);
                }
            }
        }
        match outcome {
            Ok(()) => Ok(self.peer(&id).unwrap_or(PeerInfo {
                id,
                addr: Some(addr),
                features: Vec::new(),
                direction: Direction::Out,
                active: false,
            })),
            Err(e) => {
                if matches!(e, ConnectError::Timeout { .. }) {
                    // A stalled handshake is also reaped by the timer tick.
                    self.inner.pm.disconnect_by_node_id(id);
                }
                Err(e)
            }
        }
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
        self.inner.pm.process_events();
        self.inner.pm.disconnect_by_node_id(*id);
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
        self.inner.pm.process_events();
        CustomHandler::queue_warning(&self.inner.shared, *id, text.to_string());
        self.inner.pm.process_events();
        was
    }

    /// Queues one custom message (type included) and flushes at once. Best effort: if the peer
    /// drops before the bytes leave, the message is lost.
    pub fn send_custom(&self, id: &PublicKey, msg: &[u8]) -> Result<(), SendError> {
        self.queue_custom(id, msg)?;
        self.inner.pm.process_events();
        Ok(())
    }

    /// Like [`send_custom`](Self::send_custom) for many messages, flushed once at the end.
    pub fn send_custom_batch<'a>(
        &self,
        id: &PublicKey,
        msgs: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), SendError> {
        let mut res = Ok(());
        for m in msgs {
            if let Err(e) = self.queue_custom(id, m) {
                res = Err(e);
                break;
            }
        }
        self.inner.pm.process_events();
        res
    }

    fn queue_custom(&self, id: &PublicKey, msg: &[u8]) -> Result<(), SendError> {
        if msg.len() > MAX_MESSAGE_LEN {
            return Err(SendError::TooLong(msg.len()));
        }
        let raw = RawMessage::from_wire(msg).ok_or(SendError::TooShort)?;
        let ok = self
            .inner
            .shared
            .connected
            .lock()
            .map(|c| c.get(id).map(|s| !s.rejected).unwrap_or(false))
            .unwrap_or(false);
        if !ok {
            return Err(SendError::NotConnected);
        }
        if let Ok(mut q) = self.inner.shared.outbox.lock() {
            q.push((*id, raw));
        }
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
        let details = self.inner.pm.peer_by_node_id(id)?;
        let state = self.inner.shared.connected.lock().ok()?.get(id).cloned()?;
        Some(PeerInfo {
            id: *id,
            addr: details.socket_address.as_ref().and_then(to_socket_addr),
            features: be_bytes(state.features.le_flags()),
            direction: if state.inbound {
                Direction::In
            } else {
                Direction::Out
            },
            active: state.active,
        })
    }

    /// Every connected peer (init exchanged), active or not.
    pub fn list_peers(&self) -> Vec<PeerInfo> {
        let details = self.inner.pm.list_peers();
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
                    direction: if s.inbound {
                        Direction::In
                    } else {
                        Direction::Out
                    },
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

    /// Our full init and node feature bits: LDK's own plus the plugins'.
    pub fn our_features(&self) -> OurFeatures {
        let ldk = ErroringMessageHandler::new();
        let (pi, pn) = self
            .inner
            .shared
            .features
            .read()
            .map(|f| (f.init.clone(), f.node.clone()))
            .unwrap_or_default();
        let init = <ErroringMessageHandler as BaseMessageHandler>::provided_init_features(
            &ldk,
            self.inner.node_id,
        ) | InitFeatures::from_be_bytes(pi);
        let node = <ErroringMessageHandler as BaseMessageHandler>::provided_node_features(&ldk)
            | NodeFeatures::from_be_bytes(pn);
        OurFeatures {
            init: be_bytes(init.le_flags()),
            node: be_bytes(node.le_flags()),
        }
    }

    /// Lets LDK flush queued messages now.
    pub fn process_events(&self) {
        self.inner.pm.process_events();
    }

    /// Stops listening and ticking and drops every peer. Idempotent.
    pub fn shutdown(&self) {
        if self.inner.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Ok(mut t) = self.inner.tasks.lock() {
            for h in t.drain(..) {
                h.abort();
            }
        }
        self.inner.pm.process_events();
        self.inner.pm.disconnect_all_peers();
    }
}

/// The feature bits LDK's handlers advertise by themselves (before any plugin adds its
/// own): the base a plugin host checks plugin `featurebits` against.
pub fn base_features() -> OurFeatures {
    let ldk = ErroringMessageHandler::new();
    // Any key works: the handler's bits do not depend on the peer.
    let any = PublicKey::from_slice(&[
        2, 0x79, 0xbe, 0x66, 0x7e, 0xf9, 0xdc, 0xbb, 0xac, 0x55, 0xa0, 0x62, 0x95, 0xce, 0x87,
        0x0b, 0x07, 0x02, 0x9b, 0xfc, 0xdb, 0x2d, 0xce, 0x28, 0xd9, 0x59, 0xf2, 0x81, 0x5b, 0x16,
        0xf8, 0x17, 0x98,
    ]);
    let init = match any {
        Ok(k) => <ErroringMessageHandler as BaseMessageHandler>::provided_init_features(&ldk, k),
        Err(_) => InitFeatures::empty(),
    };
    let node = <ErroringMessageHandler as BaseMessageHandler>::provided_node_features(&ldk);
    OurFeatures {
        init: be_bytes(init.le_flags()),
        node: be_bytes(node.le_flags()),
    }
}

/// Receives [`PeerEvent`]s; add the peer's address to `Connected` on the way out.
pub struct PeerEvents {
    rx: mpsc::UnboundedReceiver<RawEvent>,
    pm: Arc<Pm>,
}

impl PeerEvents {
    /// Next event, in order. `None` only once the peer layer is gone.
    pub async fn recv(&mut self) -> Option<PeerEvent> {
        let ev = self.rx.recv().await?;
        Some(self.convert(ev))
    }

    /// Next event if one is ready.
    pub fn try_recv(&mut self) -> Option<PeerEvent> {
        let ev = self.rx.try_recv().ok()?;
        Some(self.convert(ev))
    }

    fn convert(&self, ev: RawEvent) -> PeerEvent {
        match ev {
            RawEvent::Connected {
                id,
                features,
                inbound,
                remote_addr,
            } => {
                let addr = self
                    .pm
                    .peer_by_node_id(&id)
                    .and_then(|d| d.socket_address.as_ref().and_then(to_socket_addr));
                PeerEvent::Connected {
                    id,
                    addr,
                    features: be_bytes(features.le_flags()),
                    direction: if inbound {
                        Direction::In
                    } else {
                        Direction::Out
                    },
                    remote_addr: remote_addr.as_ref().and_then(to_socket_addr),
                }
            }
            RawEvent::Disconnected { id } => PeerEvent::Disconnected { id },
            RawEvent::Custom { id, msg } => PeerEvent::CustomMessage {
                id,
                msg_type: msg.msg_type,
                payload: msg.to_wire(),
            },
        }
    }
}

/// Inbound peer connections served at once; more wait in the listen backlog until one
/// ends. Far above what tests or a small node see, low enough that a connection flood
/// cannot take every file descriptor (the RPC socket and the store need some too).
pub const MAX_INBOUND: usize = 2048;

async fn accept_loop(listener: TcpListener, pm: Arc<Pm>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_INBOUND));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, from)) => match nodelay(stream).into_std() {
                Ok(s) => {
                    tracing::trace!(%from, "inbound connection");
                    // The connection runs on its own spawned tasks; the returned future
                    // reports its end, which frees its slot.
                    let ended = lightning_net_tokio::setup_inbound(pm.clone(), s);
                    tokio::spawn(async move {
                        ended.await;
                        drop(permit);
                    });
                }
                Err(e) => tracing::debug!(%from, "dropping inbound connection: {e}"),
            },
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn tick_loop(pm: Arc<Pm>, every: Duration, ticks: Arc<AtomicU64>) {
    let mut iv = tokio::time::interval(every);
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    iv.tick().await; // the first tick is immediate
    loop {
        iv.tick().await;
        // Before the tick: a connection it drops sees the new count when it ends.
        ticks.fetch_add(1, Ordering::AcqRel);
        pm.timer_tick_occurred();
    }
}

/// Custom messages are small and latency matters: don't let Nagle hold them back for a
/// delayed ACK (that alone costs ~40 ms per round on Linux).
fn nodelay(s: TcpStream) -> TcpStream {
    let _ = s.set_nodelay(true);
    s
}

/// The OS error text without Rust's ` (os error N)` suffix, like `strerror`.
fn os_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn to_socket_addr(a: &SocketAddress) -> Option<SocketAddr> {
    match a {
        SocketAddress::TcpIpV4 { addr, port } => {
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(*addr)), *port))
        }
        SocketAddress::TcpIpV6 { addr, port } => {
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(*addr)), *port))
        }
        _ => None,
    }
}

/// LDK keeps feature bits little-endian; CLN shows them big-endian without leading zeros.
fn be_bytes(le_flags: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = le_flags.iter().rev().copied().collect();
    while v.first() == Some(&0) {
        v.remove(0);
    }
    v
}

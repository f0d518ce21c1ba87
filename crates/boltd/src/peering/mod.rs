//! The daemon's side of the peer layer: starts `net::PeerNode` on the configured
//! addresses, keeps CLN's view of peers (connecting → connected → gone), and turns peer
//! events into plugin traffic:
//!
//! * `Connected` → `peer_connected` hook chain → accept (then the `connect` notification,
//!   pending `connect` commands succeed) or warning + disconnect (they fail with 402);
//! * `CustomMessage` → `custommsg` notification, then the `custommsg` hook chain;
//! * `Disconnected` → `disconnect` notification (for every peer whose chain started).
//!
//! Each peer's events are handled by its own task, in arrival order, so a slow hook on one
//! peer does not hold up the others, and one peer's messages reach the hook in order.

pub mod addr;
pub mod reconnect;
mod waiters;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures::stream::{FuturesUnordered, StreamExt};
use jsonrpc::{codes, RpcError};
use net::{Direction, Handlers, PeerConfig, PeerEvent, PeerEvents, PeerNode, PublicKey};
use plugins::{
    CustomMsg, CustomMsgPayload, HostEvent, PeerConnected, PeerConnectedOutcome,
    PeerConnectedPayload, PluginHost,
};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use crate::node::Node;
use waiters::{Waiters, Waiting};

/// Text of the 402 error pending `connect` commands get when the peer goes away (or a
/// `peer_connected` hook sends it away) before it is fully connected.
pub const DISCONNECTED_DURING: &str = "disconnected during connection";

/// What boltd knows about one peer (CLN's `struct peer`, minus channels).
#[derive(Debug, Clone)]
pub struct Known {
    pub direction: Direction,
    pub addr: Option<SocketAddr>,
    /// Their init features, big-endian.
    pub features: Vec<u8>,
    /// How they see us (their init's `remote_addr`), if they said.
    pub remote_addr: Option<SocketAddr>,
    /// False while the `peer_connected` chain runs (CLN's `PEER_CONNECTING`).
    pub connected: bool,
}

impl Known {
    pub fn address_json(&self) -> Value {
        match &self.addr {
            Some(a) => addr::json_addr(a),
            None => json!({"type": "local socket", "socket": ""}),
        }
    }
}

pub struct Peering {
    pub peers: PeerNode,
    node: Arc<Node>,
    host: RwLock<Option<PluginHost>>,
    known: Mutex<HashMap<PublicKey, Known>>,
    waiters: Waiters,
    /// Signalled whenever a peer leaves `known`.
    departed: Notify,
    /// `sendcustommsg` logs its first even type at INFO, later ones at DEBUG (like CLN).
    even_logged: AtomicBool,
    /// Where we listen (real ports).
    pub binding: Vec<SocketAddr>,
    /// Daemon subsystems that see every custom message first (commando), in arrival order.
    taps: RwLock<Vec<CustomTap>>,
}

/// Sees a custom message (type included) before plugins do; must not block.
pub type CustomTap = Arc<dyn Fn(PublicKey, &[u8]) + Send + Sync>;

/// A peer's node id as text, kept by its task: written out per custom message, the
/// key's serialisation and hex formatting were a twentieth of the receiver's CPU.
#[derive(Default)]
struct IdText(Option<(PublicKey, String)>);

impl IdText {
    fn of(&mut self, id: &PublicKey) -> &str {
        if self.0.as_ref().is_none_or(|(k, _)| k != id) {
            self.0 = Some((*id, id.to_string()));
        }
        self.0.as_ref().map_or("", |(_, t)| t.as_str())
    }
}

/// Custom message hook chains in flight per peer.
const CUSTOM_WINDOW: usize = 64;

/// A peer's running custom-message hook chains.
type Inflight = FuturesUnordered<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>;

/// Polls the newly added hook chains once, each queuing its first request, under one
/// [`plugins::cork`]: the requests reach each plugin in one write instead of one each.
/// Outside tokio's task budget: a batch of polls could use it up, and a chain whose
/// request slot then waits for the next turn would be overtaken by the chains after it
/// that `FuturesUnordered` had not polled yet (their order is the plugins' order).
async fn start_corked(inflight: &mut Inflight) {
    tokio::task::unconstrained(std::future::poll_fn(|cx| {
        let _cork = plugins::cork();
        while let std::task::Poll::Ready(Some(())) = inflight.poll_next_unpin(cx) {}
        std::task::Poll::Ready(())
    }))
    .await
}

impl Peering {
    /// Binds the listening sockets (`--addr`/`--bind-addr`, else all interfaces on the
    /// network's default port) and spawns the event pump.
    /// Inbound peers are accepted once [`Peering::activate`] is called.
    pub async fn start(node: &Arc<Node>, handlers: Handlers) -> Result<Arc<Peering>, String> {
        let (listen_opts, announce_opts) = {
            let c = node
                .config
                .read()
                .map_err(|_| "config lock poisoned".to_string())?;
            let mut listen = c.get_multi("addr");
            let announce: Vec<String> = listen
                .iter()
                .cloned()
                .chain(c.get_multi("announce-addr"))
                .collect();
            listen.extend(c.get_multi("bind-addr"));
            (listen, announce)
        };
        let network = node.settings.network.clone();
        let explicit = !listen_opts.is_empty();
        let mut listen = Vec::new();
        for v in &listen_opts {
            listen.push(
                addr::listen_addr(v, &network)
                    .await
                    .map_err(|e| format!("--addr {v}: {e}"))?,
            );
        }
        if !explicit {
            listen.push(SocketAddr::from((
                [0, 0, 0, 0],
                addr::default_port(&network),
            )));
        }
        let mut cfg = PeerConfig {
            listen: listen.clone(),
            // Bound now (getinfo shows the ports from its first call), accepting only once
            // the plugins are initialized: see `activate`.
            accept_at_start: false,
            ..PeerConfig::default()
        };
        let start = |cfg| PeerNode::start(cfg, node.keys.manager(), handlers.clone());
        let (peers, events) = match start(cfg.clone()).await {
            Ok(p) => p,
            Err(e) if !explicit => {
                // The implicit default port being taken (another node on this machine)
                // should not stop the daemon; an explicit --addr should.
                // INFO, not UNUSUAL: several test nodes on one machine is normal, and each
                // UNUSUAL line becomes a `warning` notification for plugins.
                tracing::info!("Not listening for peers on the default port: {e}");
                cfg.listen.clear();
                start(cfg).await.map_err(|e| e.to_string())?
            }
            Err(e) => return Err(e.to_string()),
        };
        let mut announce = Vec::new();
        for v in &announce_opts {
            if let Ok(a) = addr::listen_addr(v, &network).await {
                if addr::announceable(&a) {
                    announce.push(addr::json_addr(&a));
                }
            }
        }
        let binding = peers.bound_addrs();
        for b in &binding {
            tracing::info!("Listening for peers on {b}");
        }
        let p = Arc::new(Peering {
            peers,
            node: node.clone(),
            host: RwLock::new(None),
            known: Mutex::new(HashMap::new()),
            waiters: Waiters::default(),
            departed: Notify::new(),
            even_logged: AtomicBool::new(false),
            binding,
            taps: RwLock::new(Vec::new()),
        });
        if let Ok(mut s) = node.peers.write() {
            s.binding = p.binding.iter().map(addr::json_addr).collect();
            s.address = announce;
        }
        p.refresh_features();
        tokio::spawn(p.clone().pump(events));
        crate::driver::spawn(p.peers.clone(), node.shutdown.clone());
        let on_exit = p.clone();
        node.shutdown.on_exit(
            "peers",
            Box::new(move || {
                Box::pin(async move {
                    on_exit.peers.shutdown();
                })
            }),
        );
        Ok(p)
    }

    /// Starts accepting inbound peers (after plugins' `init`, like connectd's activation).
    pub fn activate(&self) {
        self.peers.activate();
    }

    /// Connects the plugin host: hooks and notifications go to it from now on, and its
    /// feature bits and `custommessages` apply to the peer layer.
    pub fn set_host(&self, host: PluginHost) {
        if let Ok(mut h) = self.host.write() {
            *h = Some(host.clone());
        }
        // Looked up live for each even message, so a plugin's `custommessages` applies as
        // soon as it finishes `init` and stops applying when it dies.
        self.peers
            .set_even_filter(move |t| host.custom_messages().contains(&t));
        self.plugins_changed();
    }

    /// The plugin host's events that concern peers (call from the host event loop).
    pub fn on_host_event(&self, ev: &HostEvent) {
        match ev {
            HostEvent::CustomMessagesChanged(_) | HostEvent::FeaturesChanged(_) => {
                self.plugins_changed()
            }
            _ => {}
        }
    }

    /// Re-reads plugins' `custommessages` and feature bits.
    pub fn plugins_changed(&self) {
        let Some(host) = self.host() else { return };
        let f = host.features();
        self.peers
            .set_plugin_features(f.get("init").to_vec(), f.get("node").to_vec());
        self.refresh_features();
    }

    /// getinfo's `our_features`: LDK's bits plus the plugins'.
    fn refresh_features(&self) {
        let ours = self.peers.our_features();
        if let Ok(mut f) = self.node.features.write() {
            f.init = hex::encode(&ours.init);
            f.node = hex::encode(&ours.node);
        }
    }

    fn host(&self) -> Option<PluginHost> {
        self.host.read().ok().and_then(|h| h.clone())
    }

    /// Adds a [`CustomTap`].
    pub fn add_custom_tap(&self, tap: CustomTap) {
        if let Ok(mut t) = self.taps.write() {
            t.push(tap);
        }
    }

    pub fn known(&self, id: &PublicKey) -> Option<Known> {
        self.known.lock().ok().and_then(|k| k.get(id).cloned())
    }

    /// Every known peer, sorted by id for stable output.
    pub fn all_known(&self) -> Vec<(PublicKey, Known)> {
        let mut v: Vec<(PublicKey, Known)> = self
            .known
            .lock()
            .map(|k| k.iter().map(|(a, b)| (*a, b.clone())).collect())
            .unwrap_or_default();
        v.sort_by_key(|(id, _)| id.serialize());
        v
    }

    /// Logs an even `sendcustommsg` type: INFO the first time, then DEBUG.
    pub fn log_even_send(&self, cmd_id: &str, msg_type: u16) {
        let line = format!("sendcustommsg id={cmd_id} sending a custom even message ({msg_type})");
        if self.even_logged.swap(true, Ordering::Relaxed) {
            tracing::debug!("{line}");
        } else {
            tracing::info!("{line}");
        }
    }

    /// Registers a `connect` command waiting for `id` to finish its `peer_connected` chain
    /// (until the chain ends or the returned wait is dropped).
    pub fn wait_connected(&self, id: PublicKey, cause: String) -> Waiting {
        self.waiters.wait(id, cause)
    }

    /// Ends the wait of every `connect` command for `id`.
    pub fn resolve(&self, id: &PublicKey, outcome: Result<(), RpcError>) {
        self.waiters.resolve(id, outcome)
    }

    fn first_cause(&self, id: &PublicKey) -> Option<String> {
        self.waiters.first_cause(id)
    }

    /// Waits until `id` is no longer known (its disconnect went through its task).
    pub async fn gone(&self, id: &PublicKey) {
        loop {
            let departed = self.departed.notified();
            tokio::pin!(departed);
            departed.as_mut().enable();
            if self.known(id).is_none() {
                return;
            }
            departed.await;
        }
    }

    /// `getinfo.num_peers` from the known peers. The count is written under the `known`
    /// lock: counted and written apart, two peer tasks could write in the other order
    /// than they counted, and the last disconnect of a burst could leave a stale count
    /// that nothing corrects (200 peers gone, `num_peers` stuck above 0).
    fn update_summary(&self) {
        let Ok(k) = self.known.lock() else { return };
        if let Ok(mut s) = self.node.peers.write() {
            s.num_peers = k.len() as u32;
        }
    }

    /// Reads peer events and hands each to its peer's task, in order. What waits here is
    /// bounded by the peer layer: each custom message carries a credit that its task holds
    /// until the hook chain is done, and a peer holding too much is not read until its
    /// messages drain (`net`'s flow control), so a fast peer is slowed, never dropped.
    async fn pump(self: Arc<Self>, mut events: PeerEvents) {
        let mut workers: HashMap<PublicKey, mpsc::UnboundedSender<PeerEvent>> = HashMap::new();
        // A peer's previous task, still finishing its disconnect; the next one waits for it.
        let mut finishing: HashMap<PublicKey, JoinHandle<()>> = HashMap::new();
        while let Some(ev) = events.recv().await {
            let (id, last) = match &ev {
                PeerEvent::Connected { id, .. } | PeerEvent::CustomMessage { id, .. } => {
                    (*id, false)
                }
                PeerEvent::Disconnected { id } => (*id, true),
            };
            let tx = workers.entry(id).or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                let before = finishing.remove(&id);
                let me = self.clone();
                let h = tokio::spawn(async move {
                    if let Some(b) = before {
                        let _ = b.await;
                    }
                    me.peer_task(rx).await;
                });
                finishing.insert(id, h);
                tx
            });
            let _ = tx.send(ev);
            if last {
                // The task drains this event and ends; a reconnect gets a new task that
                // first waits for this one (its handle stays in `finishing`).
                workers.remove(&id);
            }
            if finishing.len() > 4096 {
                finishing.retain(|_, h| !h.is_finished());
            }
        }
    }

    /// One peer's events, in order. Custom messages are pipelined: up to
    /// [`CUSTOM_WINDOW`] hook chains run at once, each started (its first request queued to
    /// the first plugin) in arrival order, so plugins still see one peer's messages in
    /// order while the round trips overlap (CLN has no back-pressure here either).
    /// Connects and disconnects wait for the messages before them.
    async fn peer_task(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<PeerEvent>) {
        let mut inflight: Inflight = FuturesUnordered::new();
        let mut id_text = IdText::default();
        loop {
            let ev = tokio::select! {
                biased;
                Some(()) = inflight.next(), if !inflight.is_empty() => continue,
                ev = rx.recv(), if inflight.len() < CUSTOM_WINDOW => ev,
            };
            let Some(mut ev) = ev else { break };
            if let PeerEvent::CustomMessage { .. } = ev {
                // The messages of one socket read arrive together: their hook calls start
                // together, so each plugin gets them in one write (see `start_corked`).
                let mut next = None;
                self.push_custom(&mut inflight, &mut id_text, ev);
                while inflight.len() < CUSTOM_WINDOW {
                    match rx.try_recv() {
                        Ok(e @ PeerEvent::CustomMessage { .. }) => {
                            self.push_custom(&mut inflight, &mut id_text, e)
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                start_corked(&mut inflight).await;
                let Some(other) = next else { continue };
                ev = other;
            }
            // Connects and disconnects wait for the messages before them.
            while inflight.next().await.is_some() {}
            match ev {
                PeerEvent::Connected {
                    id,
                    addr,
                    features,
                    direction,
                    remote_addr,
                } => {
                    self.on_connected(id, addr, features, direction, remote_addr)
                        .await
                }
                PeerEvent::Disconnected { id } => self.on_disconnected(id),
                PeerEvent::CustomMessage { .. } => {}
            }
        }
        while inflight.next().await.is_some() {}
    }

    /// Adds a custom message's hook chain to the running ones (not polled yet).
    fn push_custom(self: &Arc<Self>, inflight: &mut Inflight, id_text: &mut IdText, ev: PeerEvent) {
        let PeerEvent::CustomMessage {
            id,
            msg_type,
            payload,
            credit,
        } = ev
        else {
            return;
        };
        // FuturesUnordered first polls futures in the order they were pushed. The credit
        // is held until the hook chain is done.
        let peer_id = id_text.of(&id).to_string();
        let handled = self.clone().on_custom(id, peer_id, msg_type, payload);
        inflight.push(Box::pin(async move {
            handled.await;
            drop(credit);
        }));
    }

    async fn on_connected(
        &self,
        id: PublicKey,
        addr: Option<SocketAddr>,
        features: Vec<u8>,
        direction: Direction,
        remote_addr: Option<SocketAddr>,
    ) {
        let known = Known {
            direction,
            addr,
            features: features.clone(),
            remote_addr,
            connected: false,
        };
        if let Ok(mut k) = self.known.lock() {
            k.insert(id, known.clone());
        }
        self.update_summary();
        tracing::debug!(peer = %id, "Peer connected ({}), running peer_connected hook", direction.as_str());
        let outcome = match self.host() {
            Some(h) => {
                let payload = PeerConnectedPayload {
                    peer: plugins::PeerInfo {
                        id: id.to_string(),
                        direction: direction.as_str().to_string(),
                        addr: addr.map(|a| a.to_string()).unwrap_or_default(),
                        remote_addr: remote_addr.map(|a| a.to_string()),
                        features: hex::encode(&features),
                    },
                };
                let cause = self.first_cause(&id);
                h.call_hook::<PeerConnected>(&payload, cause.as_deref())
                    .await
            }
            None => PeerConnectedOutcome::Continue,
        };
        match outcome {
            PeerConnectedOutcome::Continue => {
                if !self.peers.accept(&id) {
                    // Gone while the hook ran; its Disconnected event is queued behind us.
                    return;
                }
                if let Ok(mut k) = self.known.lock() {
                    if let Some(e) = k.get_mut(&id) {
                        e.connected = true;
                    }
                }
                self.resolve(&id, Ok(()));
                if let Some(h) = self.host() {
                    h.notify(
                        "connect",
                        json!({"id": id.to_string(), "direction": direction.as_str(),
                               "address": known.address_json()}),
                    );
                }
            }
            PeerConnectedOutcome::Disconnect(msg) => {
                tracing::info!(peer = %id, "peer_connected hook disconnects peer: {msg}");
                self.peers.disconnect_with_warning(&id, &msg);
                self.resolve(&id, Err(disconnected_during()));
            }
        }
    }

    async fn on_custom(
        self: Arc<Self>,
        id: PublicKey,
        peer_id: String,
        msg_type: u16,
        payload: Vec<u8>,
    ) {
        tracing::trace!(peer = %id, "custom message type {msg_type}, {} bytes", payload.len());
        // Before any await: taps see one peer's messages in arrival order.
        let taps = self.taps.read().map(|t| t.clone()).unwrap_or_default();
        for tap in taps {
            tap(id, &payload);
        }
        let Some(h) = self.host() else { return };
        let hexmsg = hex::encode(&payload);
        if h.anyone_cares("custommsg") {
            h.notify("custommsg", json!({"peer_id": peer_id, "payload": hexmsg}));
        }
        let p = CustomMsgPayload {
            payload: hexmsg,
            peer_id,
            msg_type,
        };
        h.call_hook::<CustomMsg>(&p, None).await;
    }

    fn on_disconnected(&self, id: PublicKey) {
        let was = self.known.lock().ok().and_then(|mut k| k.remove(&id));
        self.departed.notify_waiters();
        self.update_summary();
        self.resolve(&id, Err(disconnected_during()));
        tracing::debug!(peer = %id, "Peer disconnected");
        // Like CLN's peer_disconnect_done: every peer that got as far as the daemon (its
        // `peer_connected` chain started) is announced as gone, also one the chain refused
        // or that left while it ran (it never had a `connect` notification).
        if let (Some(_), Some(h)) = (was, self.host()) {
            h.notify("disconnect", json!({"id": id.to_string()}));
        }
    }
}

pub fn disconnected_during() -> RpcError {
    RpcError::new(codes::CONNECT_DISCONNECTED_DURING, DISCONNECTED_DURING)
}

/// A node id parameter: a string of 66 hex digits that is a valid compressed key.
pub fn node_id_param(b: &jsonrpc::Bound, name: &str) -> Result<Option<PublicKey>, RpcError> {
    match b.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(parse_node_id)
            .map(Some)
            .ok_or_else(|| jsonrpc::params::bad_token(name, "should be a node id", v)),
    }
}

pub fn parse_node_id(s: &str) -> Option<PublicKey> {
    if s.len() != 66 {
        return None;
    }
    // A client sending to one peer names it in every call, and decompressing a key (a
    // field square root) was a tenth of a `sendcustommsg`'s CPU: the last one per thread
    // is kept.
    thread_local! {
        static LAST: std::cell::RefCell<Option<(String, PublicKey)>> =
            const { std::cell::RefCell::new(None) };
    }
    if let Some(k) = LAST.with(|l| l.borrow().as_ref().filter(|(t, _)| t == s).map(|(_, k)| *k)) {
        return Some(k);
    }
    let k: PublicKey = s.parse().ok()?;
    LAST.with(|l| *l.borrow_mut() = Some((s.to_string(), k)));
    Some(k)
}

#[cfg(test)]
mod tests {
    use super::{parse_node_id, IdText};

    #[test]
    fn the_kept_id_text_is_always_the_asked_ids() {
        let a = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";
        let b = "0324653eac434488002cc06bbfb7f10fe18991e35f9fe4302dbea6d2353dc0ab1c";
        let (ka, kb) = (parse_node_id(a).unwrap(), parse_node_id(b).unwrap());
        let mut t = IdText::default();
        assert_eq!(t.of(&ka), a);
        assert_eq!(t.of(&ka), a);
        assert_eq!(t.of(&kb), b);
        assert_eq!(t.of(&ka), a);
    }

    #[test]
    fn the_kept_node_id_never_answers_for_another() {
        let a = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";
        let b = "0324653eac434488002cc06bbfb7f10fe18991e35f9fe4302dbea6d2353dc0ab1c";
        let ka = parse_node_id(a).unwrap();
        assert_eq!(parse_node_id(a), Some(ka));
        let kb = parse_node_id(b).unwrap();
        assert_ne!(ka, kb);
        assert_eq!(kb.to_string(), b);
        assert_eq!(parse_node_id(&a.to_uppercase()), Some(ka));
        assert_eq!(parse_node_id(&b.replace('c', "x")), None);
        assert_eq!(parse_node_id(a), Some(ka));
    }
}

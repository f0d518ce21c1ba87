//! The daemon's side of the `ln` crate: starting it (the handlers the peer layer gets,
//! the event loop, blocks), and what its events mean to Core Lightning users: the
//! `openchannel` hook ([`inbound`]), `channel_opened`, `channel_open_failed` and
//! `channel_state_changed` with CLN's state names ([`state`]), and the rows of
//! `listpeerchannels`/`listclosedchannels` ([`json`]).

pub mod inbound;
pub mod json;
pub mod moves;
pub mod resolution;
pub mod state;
pub mod tower;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use lightning::events::{ClosureReason, Event};
use lightning::ln::channel_state::ChannelDetails;
use lightning::ln::types::ChannelId;
use lightning::util::persist::KVStoreSync;
use ln::{Ln, LnConfig, LnDeps};
use plugins::PluginHost;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::node::Node;
use state::Change;

/// The kv namespace of our records of closed channels (`listclosedchannels`).
const CLOSED_NS: &str = "boltd_closed_channels";
/// The kv namespace of what a restart needs of channels still resolving on chain.
const CLOSING_NS: &str = "boltd_closing_channels";
/// The kv namespace of each channel's upfront shutdown script (by user channel id):
/// `listpeerchannels.close_to`, and whether a close output is ours.
const SHUTDOWN_NS: &str = "boltd_shutdown_scripts";
/// How often channel states are compared with what was last notified.
const REFRESH: Duration = Duration::from_millis(500);

/// What we know of one channel beyond LDK's own view.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub id: ChannelId,
    pub peer: PublicKey,
    pub state: &'static str,
    /// The last cause (CLN reports it for transitions that have none of their own).
    pub cause: &'static str,
    pub closer: Option<&'static str>,
    pub changes: Vec<Change>,
    /// LDK's last listing of it (kept after it closes, for `listpeerchannels`).
    pub last: Option<ChannelDetails>,
    /// Why it closed, once it did.
    pub close_cause: Option<String>,
    /// Our `close` command asked for this shutdown.
    pub user_close: bool,
}

/// The store's group commit, as `ln` asks for it (write_order.rs there).
struct LnGroup(store::KvGroup);

impl ln::types::KvGroup for LnGroup {
    fn enter(&self, f: &mut dyn FnMut()) {
        self.0.enter(f)
    }

    fn commit(self: Box<Self>) -> lightning::io::Result<()> {
        self.0.commit()
    }
}

pub struct Channels {
    pub ln: Arc<Ln>,
    node: Arc<Node>,
    host: Mutex<Option<PluginHost>>,
    /// True once [`Channels::set_host`] ran (plugins answered `init`): LDK's loop waits
    /// for it.
    host_set: tokio::sync::watch::Sender<bool>,
    kv: store::KvStore,
    fees: Arc<chain::Fees>,
    tracked: Mutex<HashMap<ChannelId, Tracked>>,
    /// Channel accounts' chain moves go here once set.
    coin_moves: Mutex<Option<Arc<crate::coin_moves::CoinMoves>>>,
    /// Payment events go there (set before [`Channels::run`]).
    payments: std::sync::OnceLock<Arc<crate::payments::Payments>>,
    /// Each channel's upfront shutdown script, by user channel id (cache of [`SHUTDOWN_NS`]).
    shutdown_scripts: Mutex<HashMap<u128, bitcoin::ScriptBuf>>,
    /// Closed channels' on-chain resolution, as coin movements.
    resolution: resolution::Resolution,
    /// How long the `openchannel` hook may take.
    hook_window: Duration,
    /// Forward events go there (set before [`Channels::run`]).
    forwards: std::sync::OnceLock<Arc<crate::forwards::Forwards>>,
}

pub(crate) use net::off_worker;

/// [`off_worker`] for a future that makes such calls all along (the event loop, the event
/// consumer): it runs to its end on a thread of its own, not on a worker, while its
/// awaits are still served by the runtime. On a current-thread runtime it is just awaited.
pub(crate) async fn off_worker_async<F: std::future::Future>(f: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| h.block_on(f))
        }
        _ => f.await,
    }
}

pub fn network(name: &str) -> bitcoin::Network {
    match name {
        "bitcoin" => bitcoin::Network::Bitcoin,
        "testnet" => bitcoin::Network::Testnet,
        "testnet4" => bitcoin::Network::Testnet4,
        "signet" => bitcoin::Network::Signet,
        _ => bitcoin::Network::Regtest,
    }
}

/// The network graph's file in the network directory.
pub const GRAPH_FILE: &str = "network_graph";

impl Channels {
    /// Builds the LDK side from the store (before the peer layer, which takes its
    /// handlers). The caller adds [`resolution::ResolutionListener`] (LDK's blocks, then
    /// the on-chain resolution's moves) to the poller and spawns [`Channels::run`].
    pub fn start(
        node: &Arc<Node>,
        kv: store::KvStore,
        fees: Arc<chain::Fees>,
        broadcaster: Arc<chain::Broadcaster>,
        wallet: Arc<wallet::Wallet>,
        tip: chain::BlockRef,
        host: &plugins::PluginHost,
    ) -> Result<(Arc<Channels>, mpsc::UnboundedReceiver<ln::LnEvent>), String> {
        let (developer, hook_secs) = node
            .config
            .read()
            .map(|c| {
                (
                    c.get_bool("developer"),
                    c.is_set("dev-openchannel-hook-timeout")
                        .then(|| c.get_int("dev-openchannel-hook-timeout"))
                        .flatten(),
                )
            })
            .map_err(|_| "config lock poisoned".to_string())?;
        if hook_secs.is_some() && !developer {
            return Err("--dev-openchannel-hook-timeout: requires --developer".into());
        }
        let hook_window = hook_secs
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(inbound::HOOK_WINDOW);
        let net = network(&node.settings.network);
        let config = LnConfig::new(net, node.settings.network_dir.join(GRAPH_FILE));
        let (ln, events) = Ln::start(LnDeps {
            config,
            keys: node.keys.manager(),
            kv: Arc::new(kv.clone()),
            fees: fees.clone(),
            broadcaster,
            wallet,
            tip,
            on_persist_failure: {
                let shutdown = node.shutdown.clone();
                Arc::new(move |reason: String| shutdown.trigger(&reason, 1))
            },
            open_group: {
                let kv = kv.clone();
                Arc::new(move || Box::new(LnGroup(kv.group())) as Box<dyn ln::types::KvGroup>)
            },
            tower_wanted: {
                let h = host.clone();
                Box::new(move || h.has_hook("commitment_revocation"))
            },
        })
        .map_err(|e| e.to_string())?;
        let c = Arc::new(Channels {
            ln,
            node: node.clone(),
            host: Mutex::new(None),
            host_set: tokio::sync::watch::Sender::new(false),
            fees,
            tracked: Mutex::new(HashMap::new()),
            coin_moves: Mutex::new(None),
            payments: std::sync::OnceLock::new(),
            shutdown_scripts: Mutex::new(HashMap::new()),
            resolution: resolution::Resolution::load(&kv),
            kv,
            hook_window,
            forwards: std::sync::OnceLock::new(),
        });
        c.load_shutdown_scripts();
        c.ln.signer.adopt_spare(|s| c.script_in_use(s));
        c.seed();
        Ok((c, events))
    }

    fn load_shutdown_scripts(&self) {
        let mut m = self
            .shutdown_scripts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for k in self.kv.list(SHUTDOWN_NS, "").unwrap_or_default() {
            if let (Ok(id), Ok(bytes)) = (
                u128::from_str_radix(&k, 16),
                self.kv.read(SHUTDOWN_NS, "", &k),
            ) {
                m.insert(id, bitcoin::ScriptBuf::from_bytes(bytes));
            }
        }
    }

    /// Whether `script` is some channel's recorded upfront shutdown script.
    fn script_in_use(&self, script: &bitcoin::ScriptBuf) -> bool {
        self.shutdown_scripts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .any(|s| s == script)
    }

    /// Records the upfront shutdown script of the channel with `user_channel_id`.
    pub fn record_shutdown_script(&self, user_channel_id: u128, script: &bitcoin::ScriptBuf) {
        if let Err(e) = self.kv.write(
            SHUTDOWN_NS,
            "",
            &format!("{user_channel_id:032x}"),
            script.to_bytes(),
        ) {
            tracing::warn!("recording a channel's shutdown script: {e}");
        }
        self.shutdown_scripts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user_channel_id, script.clone());
    }

    /// The upfront shutdown script of the channel with `user_channel_id`, if recorded.
    pub fn shutdown_script(&self, user_channel_id: u128) -> Option<bitcoin::ScriptBuf> {
        self.shutdown_scripts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&user_channel_id)
            .cloned()
    }

    /// The chain's fee estimates (feerate parameters).
    pub fn ln_fees(&self) -> Arc<chain::Fees> {
        self.fees.clone()
    }

    /// The handlers the peer layer's `PeerManager` gets.
    pub fn handlers(&self) -> net::Handlers {
        net::Handlers {
            channel: self.ln.manager.clone(),
            routing: self.ln.routing.clone(),
            onion: self.ln.onion.clone(),
            send_only: self.ln.chain_monitor.clone(),
            read_watch: Some(self.ln.reads.watch()),
        }
    }

    /// Whether plugins are initialized ([`Channels::set_host`] was called).
    fn has_host(&self) -> bool {
        self.host.lock().map(|h| h.is_some()).unwrap_or(false)
    }

    /// Makes the spare shutdown address if there is none (a wallet write: only once
    /// plugins are initialized, so `db_write` plugins see it).
    pub async fn refill_spare(&self) {
        let ln = self.ln.clone();
        let _ = tokio::task::spawn_blocking(move || ln.signer.refill_spare()).await;
    }

    /// Hooks and notifications go through the plugin host from now on.
    pub fn set_host(&self, host: PluginHost) {
        if let Ok(mut h) = self.host.lock() {
            *h = Some(host);
        }
        self.host_set.send_replace(true);
    }

    /// Channel opens and closes are recorded as coin movements from now on (set before
    /// [`Channels::run`]).
    pub fn set_coin_moves(&self, moves: Arc<crate::coin_moves::CoinMoves>) {
        if let Ok(mut m) = self.coin_moves.lock() {
            *m = Some(moves);
        }
    }

    /// `balance_snapshot` rows: our balance in each channel in a state Core Lightning
    /// reports (reference §6.8).
    pub fn snapshot_accounts(&self) -> Vec<(String, u64)> {
        let live = off_worker(|| self.ln.manager.list_channels());
        let t = self.tracked();
        live.iter()
            .filter(|c| {
                let st = t
                    .get(&c.channel_id)
                    .map(|e| e.state)
                    .unwrap_or_else(|| state::live_state(c));
                matches!(
                    st,
                    state::NORMAL
                        | state::SHUTTING_DOWN
                        | state::SIGEXCHANGE
                        | state::FUNDING_SPEND_SEEN
                )
            })
            .map(|c| (moves::account(&c.channel_id), self.to_us_msat(c)))
            .collect()
    }

    /// Our balance in `c` ([`json::to_us_msat`]), below the reserve from the monitor's
    /// current commitment (our output's value; nothing if we have none).
    pub fn to_us_msat(&self, c: &ChannelDetails) -> u64 {
        json::to_us_msat(c, || {
            off_worker(|| {
                let m = self.ln.chain_monitor.get_monitor(c.channel_id).ok()?;
                Some(m.get_claimable_balances())
            })
            .unwrap_or_default()
            .iter()
            .find_map(|b| match b {
                lightning::chain::channelmonitor::Balance::ClaimableOnChannelClose {
                    balance_candidates,
                    confirmed_balance_candidate_index,
                    ..
                } => balance_candidates
                    .get(*confirmed_balance_candidate_index)
                    .map(|h| h.amount_satoshis * 1000),
                _ => None,
            })
            .unwrap_or(0)
        })
    }

    fn coin_moves(&self) -> Option<Arc<crate::coin_moves::CoinMoves>> {
        self.coin_moves.lock().ok().and_then(|m| m.clone())
    }

    /// `channel_open` for `details`, unless recorded before (blocking: a store write).
    fn record_open(&self, details: &ChannelDetails) {
        let height = self.ln.manager.current_best_block().height;
        if let (Some(m), Some(mv)) = (self.coin_moves(), moves::open_move(details, height)) {
            m.chain_move(mv);
        }
    }

    /// Payment events go to `payments` (call before [`Channels::run`]).
    pub fn set_payments(&self, payments: Arc<crate::payments::Payments>) {
        let _ = self.payments.set(payments);
    }

    /// Forward events go to `forwards` (call before [`Channels::run`]).
    pub fn set_forwards(&self, forwards: Arc<crate::forwards::Forwards>) {
        let _ = self.forwards.set(forwards);
    }

    fn host(&self) -> Option<PluginHost> {
        self.host.lock().ok().and_then(|h| h.clone())
    }

    /// The tracked states. Its holder may be waiting on LDK (see [`off_worker`]), so a
    /// contended lock is waited for off the worker.
    pub fn tracked(&self) -> MutexGuard<'_, HashMap<ChannelId, Tracked>> {
        match self.tracked.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                off_worker(|| self.tracked.lock().unwrap_or_else(|p| p.into_inner()))
            }
        }
    }

    /// An open's entry moves from its temporary id to the real one: LDK lists the channel
    /// only under the new id from now on, and an entry left under the old one would show
    /// as a second, forever-opening channel in `listpeerchannels`.
    fn rename(&self, tmp: ChannelId, id: ChannelId) {
        let mut t = self.tracked();
        if let Some(mut entry) = t.remove(&tmp) {
            entry.id = id;
            t.entry(id).or_insert(entry);
        }
    }

    /// Start-up: today's states, without notifications (nothing changed).
    fn seed(&self) {
        let mut t = self.tracked();
        for c in self.ln.manager.list_channels() {
            t.insert(
                c.channel_id,
                Tracked {
                    id: c.channel_id,
                    peer: c.counterparty.node_id,
                    state: state::live_state(&c),
                    cause: if c.is_outbound { "user" } else { "remote" },
                    closer: None,
                    changes: Vec::new(),
                    last: Some(c),
                    close_cause: None,
                    user_close: false,
                },
            );
        }
        for id in self.ln.chain_monitor.list_monitors() {
            if t.contains_key(&id) {
                continue;
            }
            let Ok(m) = self.ln.chain_monitor.get_monitor(id) else {
                continue;
            };
            let record = self.closed_record(&id);
            let internal = self.internal_record(&id);
            let balances = m.get_claimable_balances();
            let closed_into = internal
                .as_ref()
                .and_then(|r| r.get("close_state"))
                .and_then(Value::as_str)
                .and_then(|s| {
                    [
                        state::CLOSING_COMPLETE,
                        state::AWAITING_UNILATERAL,
                        state::FUNDING_SPEND_SEEN,
                    ]
                    .into_iter()
                    .find(|k| *k == s)
                })
                .unwrap_or(state::AWAITING_UNILATERAL);
            let st = state::onchain_state(Some(&balances)).unwrap_or(closed_into);
            let last = internal
                .as_ref()
                .and_then(|r| r.get("details"))
                .and_then(Value::as_str)
                .and_then(|h| hex::decode(h).ok())
                .and_then(|b| {
                    <ChannelDetails as lightning::util::ser::Readable>::read(
                        &mut std::io::Cursor::new(b),
                    )
                    .ok()
                });
            t.insert(
                id,
                Tracked {
                    id,
                    peer: m.get_counterparty_node_id(),
                    state: st,
                    cause: "unknown",
                    closer: record
                        .as_ref()
                        .and_then(|r| r.get("closer"))
                        .and_then(Value::as_str)
                        .map(|s| if s == "local" { "local" } else { "remote" }),
                    changes: Vec::new(),
                    last,
                    close_cause: record
                        .as_ref()
                        .and_then(|r| r.get("close_cause"))
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    user_close: false,
                },
            );
        }
    }

    /// The event loop (LDK work, persistence, ticks) and the event consumer; both end
    /// with shutdown, the loop after a last write of the channel manager.
    pub fn run(
        self: &Arc<Self>,
        mut events: mpsc::UnboundedReceiver<ln::LnEvent>,
        peers: net::PeerNode,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(off_worker_async(async move {
            while let Some(ln::LnEvent { event, done }) = events.recv().await {
                // The loop stopped waiting only if it is shutting down.
                let _ = done.send(me.on_event(event).await);
            }
        }));
        let me = self.clone();
        let sd = self.node.shutdown.clone();
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(REFRESH);
            loop {
                tokio::select! {
                    _ = sd.recv() => break,
                    _ = iv.tick() => {
                        me.refresh();
                        if me.has_host() {
                            me.refill_spare().await;
                        }
                    }
                }
            }
        });
        let flush = peers.clone();
        self.ln.set_flush(Box::new(move || flush.process_events()));
        let ln = self.ln.clone();
        let sd = self.node.shutdown.clone();
        let quiet = peers.clone();
        let mut host_set = self.host_set.subscribe();
        tokio::spawn(off_worker_async(async move {
            // LDK's loop (its manager writes, its events) starts once plugins answered
            // `init`, as Core Lightning starts its channel daemons after it: a restart
            // writes nothing that a db_write plugin could not answer yet (a cln-plugin
            // one exits on a write before `init`). A stop before then changed nothing.
            tokio::select! {
                _ = host_set.wait_for(|set| *set) => {}
                _ = sd.recv() => return,
            }
            ln.run(move || peers.process_events(), async move {
                sd.recv().await;
                // Peers go before the manager's last write: a message handled after
                // it would leave a monitor newer than the manager, and LDK
                // force-closes such a channel at the next start.
                quiet.shutdown();
            })
            .await
        }))
    }

    /// Decides again the payments to us left undecided at the last stop (after plugins'
    /// `init`: their hooks run again).
    pub fn resume_payments(self: &Arc<Self>) {
        if let Some(p) = self.payments.get().cloned() {
            let ln = self.ln.clone();
            tokio::spawn(off_worker_async(async move { p.resume(&ln).await }));
        }
    }

    /// What `event` means to us; `Err` when what it must leave durable could not be
    /// written (LDK hands it over again).
    async fn on_event(self: &Arc<Self>, event: Event) -> Result<(), ln::ReplayEvent> {
        if let Some(f) = self.forwards.get() {
            if let Some(verdict) = f.on_event(&event).await {
                return verdict;
            }
        }
        if let Some(p) = self.payments.get() {
            if let Some(verdict) = p.on_event(&self.ln, &event).await {
                return verdict;
            }
        }
        match event {
            Event::OpenChannelRequest {
                temporary_channel_id,
                counterparty_node_id,
                funding_satoshis,
                channel_negotiation_type,
                channel_type,
                is_announced,
                params,
            } => {
                let me = self.clone();
                tokio::spawn(async move {
                    me.decide_inbound(inbound::Offer {
                        temporary_channel_id,
                        peer: counterparty_node_id,
                        funding_satoshis,
                        push_msat: match channel_negotiation_type {
                            lightning::events::InboundChannelFunds::PushMsat(p) => p,
                            lightning::events::InboundChannelFunds::DualFunded => 0,
                        },
                        channel_type,
                        is_announced,
                        params,
                    })
                    .await
                });
            }
            Event::ChannelPending {
                channel_id,
                former_temporary_channel_id,
                counterparty_node_id,
                funding_txo,
                ..
            } => {
                if let Some(tmp) = former_temporary_channel_id {
                    self.rename(tmp, channel_id);
                }
                self.refresh();
                let inbound = self
                    .ln
                    .manager
                    .list_channels_with_counterparty(&counterparty_node_id)
                    .into_iter()
                    .find(|c| c.channel_id == channel_id)
                    .filter(|c| !c.is_outbound);
                if let (Some(c), Some(h)) = (inbound, self.host()) {
                    h.notify(
                        "channel_opened",
                        json!({
                            "id": counterparty_node_id.to_string(),
                            "funding_msat": c.channel_value_satoshis * 1000,
                            "funding_txid": funding_txo.txid.to_string(),
                            "channel_ready": false,
                        }),
                    );
                }
            }
            Event::ChannelReady {
                channel_id,
                counterparty_node_id,
                ..
            } => {
                self.refresh();
                let details = self
                    .ln
                    .manager
                    .list_channels_with_counterparty(&counterparty_node_id)
                    .into_iter()
                    .find(|c| c.channel_id == channel_id);
                if let Some(d) = details {
                    let me = self.clone();
                    let _ = tokio::task::spawn_blocking(move || me.record_open(&d)).await;
                }
            }
            Event::ChannelClosed {
                channel_id,
                reason,
                counterparty_node_id,
                channel_capacity_sats,
                channel_funding_txo,
                last_local_balance_msat,
                ..
            } => {
                self.close_moves(
                    channel_id,
                    counterparty_node_id,
                    channel_capacity_sats,
                    channel_funding_txo,
                    last_local_balance_msat,
                )
                .await;
                self.on_closed(channel_id, reason, counterparty_node_id)
            }
            _ => self.refresh(),
        }
        Ok(())
    }

    /// `channel_close` (and `channel_open` first when the funding was spent before lock-in)
    /// for a channel that got past opening.
    async fn close_moves(
        self: &Arc<Self>,
        id: ChannelId,
        peer: Option<PublicKey>,
        capacity_sat: Option<u64>,
        funding: Option<lightning::chain::transaction::OutPoint>,
        our_balance_msat: Option<u64>,
    ) {
        let last = match self.tracked().get(&id) {
            Some(e) if !state::is_opening(e.state) => e.last.clone(),
            _ => return,
        };
        let Some(funding) = funding.or(last.as_ref().and_then(|l| l.funding_txo)) else {
            return;
        };
        let capacity_sat = capacity_sat
            .or(last.as_ref().map(|l| l.channel_value_satoshis))
            .unwrap_or(0);
        let balance = our_balance_msat
            .or(last.as_ref().map(|l| self.to_us_msat(l)))
            .unwrap_or(0);
        let me = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(l) = last {
                me.record_open(&l);
            }
            me.resolution.closed(
                &me,
                &id,
                funding.into_bitcoin_outpoint(),
                capacity_sat,
                peer.map(|p| p.to_string()),
                balance,
            );
        })
        .await;
    }

    fn on_closed(&self, id: ChannelId, reason: ClosureReason, peer: Option<PublicKey>) {
        let (new_state, cause, closer) = match &reason {
            ClosureReason::LocallyInitiatedCooperativeClosure => {
                (state::CLOSING_COMPLETE, None, "local")
            }
            ClosureReason::CounterpartyInitiatedCooperativeClosure
            | ClosureReason::LegacyCooperativeClosure => (state::CLOSING_COMPLETE, None, "remote"),
            ClosureReason::HolderForceClosed { .. } => {
                (state::AWAITING_UNILATERAL, Some("user"), "local")
            }
            ClosureReason::CounterpartyForceClosed { .. } => {
                (state::AWAITING_UNILATERAL, Some("remote"), "remote")
            }
            ClosureReason::CommitmentTxConfirmed => {
                (state::FUNDING_SPEND_SEEN, Some("onchain"), "remote")
            }
            ClosureReason::ProcessingError { .. } => {
                (state::AWAITING_UNILATERAL, Some("protocol"), "local")
            }
            _ => (state::AWAITING_UNILATERAL, Some("local"), "local"),
        };
        let mut t = self.tracked();
        let Some(entry) = t.get_mut(&id) else {
            return;
        };
        if state::is_opening(entry.state) {
            // Never committed: nothing on chain, the open just failed.
            t.remove(&id);
            drop(t);
            if let Some(h) = self.host() {
                h.notify("channel_open_failed", json!({"channel_id": id.to_string()}));
            }
            return;
        }
        if entry.closer.is_none() {
            entry.closer = Some(closer);
        }
        let cause = cause.unwrap_or(if entry.user_close {
            "user"
        } else {
            entry.cause
        });
        entry.close_cause = Some(cause.to_string());
        let msg = match new_state {
            state::CLOSING_COMPLETE => "Closing complete".to_string(),
            state::FUNDING_SPEND_SEEN => "Onchain funding spend".to_string(),
            _ => reason.to_string(),
        };
        let notes = transition(entry, new_state, cause, Some(msg));
        let to_us = entry.last.as_ref().map(|c| self.to_us_msat(c)).unwrap_or(0);
        let record = closed_json(&id, entry, peer, to_us);
        let internal = closed_internal(entry);
        drop(t);
        self.save_closed(&id, &record);
        self.save_internal(&id, &internal);
        self.emit(notes.into_iter().collect());
    }

    /// Compares LDK's view with what was last notified and emits the differences (off
    /// the worker: LDK's locks may be held across a store write that waits for a
    /// `db_write` plugin, whose reply needs a free worker).
    pub fn refresh(&self) {
        off_worker(|| self.refresh_now())
    }

    fn refresh_now(&self) {
        let live = self.ln.manager.list_channels();
        let mut notes = Vec::new();
        let mut t = self.tracked();
        for c in &live {
            let new = state::live_state(c);
            let entry = t.entry(c.channel_id).or_insert_with(|| Tracked {
                id: c.channel_id,
                peer: c.counterparty.node_id,
                state: state::OPENINGD,
                cause: if c.is_outbound { "user" } else { "remote" },
                closer: None,
                changes: Vec::new(),
                last: None,
                close_cause: None,
                user_close: false,
            });
            entry.last = Some(c.clone());
            if new == entry.state || new == state::OPENINGD {
                continue;
            }
            let (cause, msg) = match new {
                state::AWAITING_LOCKIN => (entry.cause, "new channel opened"),
                state::NORMAL => (entry.cause, "Lockin complete"),
                state::SHUTTING_DOWN if entry.user_close => {
                    ("user", "User or plugin invoked close command")
                }
                state::SHUTTING_DOWN => ("remote", "Peer closes channel"),
                state::SIGEXCHANGE => (entry.cause, "Start closingd"),
                _ => (entry.cause, "Closing complete"),
            };
            if new == state::SHUTTING_DOWN && entry.closer.is_none() {
                entry.closer = Some(if entry.user_close { "local" } else { "remote" });
            }
            notes.extend(transition(entry, new, cause, Some(msg.to_string())));
        }
        let gone: Vec<ChannelId> = t
            .keys()
            .filter(|id| !live.iter().any(|c| &c.channel_id == *id))
            .copied()
            .collect();
        let mut forgotten = Vec::new();
        for id in gone {
            let Some(entry) = t.get_mut(&id) else {
                continue;
            };
            if state::is_opening(entry.state) {
                continue;
            }
            let balances = self
                .ln
                .chain_monitor
                .get_monitor(id)
                .ok()
                .map(|m| m.get_claimable_balances());
            let Some(new) = state::onchain_state(balances.as_deref()) else {
                continue;
            };
            if new == entry.state {
                continue;
            }
            let cause = if entry.closer.is_none() {
                "onchain"
            } else {
                entry.cause
            };
            if new == state::ONCHAIN || new == state::CLOSED {
                if !matches!(entry.state, state::FUNDING_SPEND_SEEN | state::ONCHAIN) {
                    notes.extend(transition(
                        entry,
                        state::FUNDING_SPEND_SEEN,
                        cause,
                        Some("Onchain funding spend".into()),
                    ));
                }
                if entry.state != state::ONCHAIN {
                    notes.extend(transition(
                        entry,
                        state::ONCHAIN,
                        cause,
                        Some("Onchain init reply".into()),
                    ));
                }
            }
            if new == state::CLOSED {
                notes.extend(transition(entry, state::CLOSED, "unknown", None));
                t.remove(&id);
                forgotten.push(id);
            }
        }
        drop(t);
        for id in forgotten {
            let _ = self.kv.remove(CLOSING_NS, "", &id.to_string(), false);
        }
        self.emit(notes);
    }

    fn emit(&self, notes: Vec<Value>) {
        if notes.is_empty() {
            return;
        }
        if let Some(h) = self.host() {
            for n in notes {
                h.notify("channel_state_changed", n);
            }
        }
    }

    /// `close` marks the channels it shuts down (cause `user`).
    pub fn mark_user_close(&self, id: &ChannelId) {
        if let Some(e) = self.tracked().get_mut(id) {
            e.user_close = true;
        }
    }

    fn closed_record(&self, id: &ChannelId) -> Option<Value> {
        let bytes = self.kv.read(CLOSED_NS, "", &id.to_string()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn save_internal(&self, id: &ChannelId, v: &Value) {
        let bytes = serde_json::to_vec(v).unwrap_or_default();
        if let Err(e) = self.kv.write(CLOSING_NS, "", &id.to_string(), bytes) {
            tracing::warn!("recording closing channel {id}: {e}");
        }
    }

    fn internal_record(&self, id: &ChannelId) -> Option<Value> {
        let bytes = self.kv.read(CLOSING_NS, "", &id.to_string()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn save_closed(&self, id: &ChannelId, record: &Value) {
        let bytes = serde_json::to_vec(record).unwrap_or_default();
        if let Err(e) = self.kv.write(CLOSED_NS, "", &id.to_string(), bytes) {
            tracing::warn!("recording closed channel {id}: {e}");
        }
    }

    /// Every closed channel we recorded (`listclosedchannels`).
    pub fn closed_channels(&self) -> Vec<Value> {
        let keys = self.kv.list(CLOSED_NS, "").unwrap_or_default();
        keys.iter()
            .filter_map(|k| self.kv.read(CLOSED_NS, "", k).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect()
    }

    /// `getinfo`'s counts: pending (opening or awaiting lock-in), active (open, peer
    /// connected), inactive (open, peer away).
    pub fn counts(&self, connected: impl Fn(&PublicKey) -> bool) -> (usize, usize, usize) {
        let t = self.tracked();
        let mut n = (0, 0, 0);
        for e in t.values() {
            if matches!(e.state, state::OPENINGD | state::AWAITING_LOCKIN) {
                n.0 += 1;
            } else if state::is_open(e.state) {
                if connected(&e.peer) {
                    n.1 += 1;
                } else {
                    n.2 += 1;
                }
            }
        }
        n
    }

    /// Channels per peer (`listpeers`' `num_channels`).
    pub fn per_peer(&self) -> HashMap<PublicKey, usize> {
        let mut m = HashMap::new();
        for e in self.tracked().values() {
            *m.entry(e.peer).or_insert(0) += 1;
        }
        m
    }

    /// Whether the peer has a channel `disconnect` must not drop without `force`.
    pub fn has_active_channel(&self, peer: &PublicKey) -> bool {
        self.tracked()
            .values()
            .any(|e| &e.peer == peer && !matches!(e.state, state::ONCHAIN | state::CLOSED))
    }
}

/// Applies a state change to `entry`; the notification payload.
fn transition(
    entry: &mut Tracked,
    new: &'static str,
    cause: &'static str,
    message: Option<String>,
) -> Option<Value> {
    let old = entry.state;
    if old == new {
        return None;
    }
    let first = old == state::OPENINGD;
    entry.state = new;
    if cause != "unknown" {
        entry.cause = cause;
    }
    let ts = state::timestamp();
    entry.changes.push(Change {
        timestamp: ts.clone(),
        old_state: (!first).then_some(old),
        new_state: new,
        cause,
        message: message.clone(),
    });
    let channel_id = entry.id.to_string();
    let scid = entry
        .last
        .as_ref()
        .and_then(|c| c.short_channel_id)
        .map(json::scid);
    tracing::info!("{channel_id}: State changed from {old} to {new}");
    let mut n = json!({
        "peer_id": entry.peer.to_string(),
        "channel_id": channel_id,
        "short_channel_id": scid,
        "timestamp": ts,
        "new_state": new,
        "cause": cause,
        "message": message,
    });
    if !first {
        if let Some(o) = n.as_object_mut() {
            o.insert("old_state".into(), json!(old));
        }
    }
    Some(n)
}

/// What a restart needs of a closed channel still resolving on chain (not shown by
/// `listclosedchannels`): the state it closed into and LDK's last listing of it.
fn closed_internal(e: &Tracked) -> Value {
    use lightning::util::ser::Writeable;
    json!({
        "close_state": e.state,
        "details": e.last.as_ref().map(|c| hex::encode(c.encode())),
    })
}

fn closed_json(id: &ChannelId, e: &Tracked, peer: Option<PublicKey>, to_us: u64) -> Value {
    let mut v = json!({
        "peer_id": peer.unwrap_or(e.peer).to_string(),
        "channel_id": id.to_string(),
        "closer": e.closer.unwrap_or("local"),
        "close_cause": e.close_cause.clone().unwrap_or_default(),
    });
    if let (Some(c), Some(o)) = (&e.last, v.as_object_mut()) {
        o.insert(
            "opener".into(),
            json!(if c.is_outbound { "local" } else { "remote" }),
        );
        o.insert("private".into(), json!(!c.is_announced));
        o.insert(
            "channel_type".into(),
            json::channel_type(c.channel_type.as_ref()),
        );
        if let Some(s) = c.short_channel_id {
            o.insert("short_channel_id".into(), json!(json::scid(s)));
        }
        if let Some(f) = c.funding_txo {
            o.insert("funding_txid".into(), json!(f.txid.to_string()));
            o.insert("funding_outnum".into(), json!(f.index));
        }
        o.insert("total_msat".into(), json!(c.channel_value_satoshis * 1000));
        o.insert("final_to_us_msat".into(), json!(to_us));
        o.insert("min_to_us_msat".into(), json!(to_us));
        o.insert("max_to_us_msat".into(), json!(to_us));
        o.insert("leased".into(), json!(false));
    }
    v
}

/// Builds the channels from the store, after the chain (fees, broadcaster, tip) and the
/// wallet; joins the poller at the channel manager's best block (blocks it missed are
/// replayed before new ones).
pub fn start(
    node: &Arc<Node>,
    storage: &crate::storage::Storage,
    chain: &crate::chain_wiring::Chain,
    wallet: &Arc<wallet::Wallet>,
    host: &plugins::PluginHost,
) -> Result<(Arc<Channels>, mpsc::UnboundedReceiver<ln::LnEvent>), String> {
    let tip = chain
        .status
        .borrow()
        .tip
        .ok_or_else(|| "channels: the chain has no tip yet".to_string())?;
    let (c, events) = Channels::start(
        node,
        storage.kv_store(),
        chain.fees.clone(),
        chain.broadcaster.clone(),
        wallet.clone(),
        tip,
        host,
    )?;
    let best = c.ln.replay_from();
    // LDK and then the on-chain resolution's moves, block by block.
    let at = resolution::Resolution::start_at(&c.kv, best);
    chain.add_listener((
        Arc::new(resolution::ResolutionListener(c.clone())),
        Some(at),
    ))?;
    Ok((c, events))
}

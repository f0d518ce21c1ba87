//! Coin movements (`coin_movement` v2, reference §6.7) and `balance_snapshot` (§6.8):
//! numbering (`created_index`), de-duplication of chain moves (a block replayed after a
//! restart or a reorg is not counted twice), persistence and the notification. Whoever
//! sees money move (the wallet's listener, channels) builds a [`ChainMove`] and calls
//! [`CoinMoves::chain_move`].
//!
//! Moves are kept in the store's `kv` table (primary namespaces `chain_moves` and
//! `channel_moves`, each numbered on its own), one row
//! per move, written before the notification goes out.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::{Network, OutPoint, Txid};
use plugins::PluginHost;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::storage::Storage;

/// Writes `stored` under its index in its kind's namespace; on the store thread.
fn write_move<M: Move>(s: &mut store::Store, stored: &Stored<M>) -> Result<(), store::StoreError> {
    let bytes = serde_json::to_vec(stored)
        .map_err(|e| store::StoreError::Corrupt(format!("encoding a coin movement: {e}")))?;
    s.kv_write(
        M::NAMESPACE,
        "",
        &format!("{:020}", stored.created_index),
        &bytes,
    )
}

/// One kind of move: where it is kept, what makes it unique, how it is shown.
trait Move: Serialize + DeserializeOwned + Send + 'static {
    /// The kv namespace; each kind is numbered on its own (`created_index`).
    const NAMESPACE: &'static str;
    /// Recorded once per key.
    fn key(&self) -> String;
}

/// One movement of a channel's balance by an HTLC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelMove {
    /// The channel id in hex.
    pub account_id: String,
    pub credit_msat: u64,
    pub debit_msat: u64,
    pub primary_tag: String,
    pub payment_hash: Option<String>,
    /// Our own payment's part (`part_id`, `group_id`): set together or not at all.
    #[serde(default)]
    pub part: Option<(u64, u64)>,
    pub fees_msat: u64,
    /// What makes the move unique (e.g. the HTLC and its side): recorded once.
    pub key: String,
}

impl Move for ChannelMove {
    const NAMESPACE: &'static str = "channel_moves";
    fn key(&self) -> String {
        self.key.clone()
    }
}

/// One on-chain movement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainMove {
    /// `wallet`, `external`, or a channel id in hex.
    pub account_id: String,
    pub credit_msat: u64,
    pub debit_msat: u64,
    pub primary_tag: String,
    pub extra_tags: Vec<String>,
    pub utxo: OutPoint,
    pub peer_id: Option<String>,
    pub originating_account: Option<String>,
    pub spending_txid: Option<Txid>,
    pub payment_hash: Option<String>,
    pub output_msat: u64,
    pub output_count: Option<u32>,
    /// 0 while unconfirmed.
    pub blockheight: u32,
}

impl Move for ChainMove {
    const NAMESPACE: &'static str = "chain_moves";
    /// Core Lightning records a chain move once per (account, outpoint, spending txid,
    /// tags).
    fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.account_id,
            self.utxo,
            self.spending_txid
                .map(|t| t.to_string())
                .unwrap_or_default(),
            self.primary_tag,
            self.extra_tags.join(",")
        )
    }
}

/// A stored move: the move, its index and when it was made.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "M: Move")]
struct Stored<M> {
    created_index: u64,
    timestamp: u64,
    #[serde(flatten)]
    mv: M,
}

/// The BIP173 prefix of the network (`coin_type`).
pub fn coin_type(network: Network) -> &'static str {
    match network {
        Network::Bitcoin => "bc",
        Network::Signet => "tbs",
        Network::Regtest => "bcrt",
        _ => "tb",
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

struct State {
    next_index: u64,
    seen: HashSet<String>,
}

/// The `balance_snapshot` rows of channel accounts (set by channels, which start after
/// the wallet).
pub type ChannelAccounts = dyn Fn() -> Vec<(String, u64)> + Send + Sync;

pub struct CoinMoves {
    node_id: String,
    coin_type: &'static str,
    plugins: PluginHost,
    storage: Storage,
    state: Mutex<State>,
    channel_state: Mutex<State>,
    /// Set once polling runs (plugins have their `init`); the first block after it sends
    /// the process's one `balance_snapshot`.
    snapshot_armed: AtomicBool,
    snapshot_sent: AtomicBool,
    channel_accounts: Mutex<Option<Arc<ChannelAccounts>>>,
}

/// The moves of one kind recorded so far. Blocking: store reads.
fn load_state<M: Move>(storage: &Storage) -> Result<State, String> {
    let stored = storage
        .run_blocking(|s| {
            let keys = s.kv_list(M::NAMESPACE, "")?;
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                if let Some(v) = s.kv_read(M::NAMESPACE, "", &k)? {
                    out.push(v);
                }
            }
            Ok(out)
        })
        .map_err(|e| format!("loading {}: {e}", M::NAMESPACE))?;
    let mut state = State {
        next_index: 1,
        seen: HashSet::new(),
    };
    for bytes in stored {
        let s: Stored<M> = serde_json::from_slice(&bytes)
            .map_err(|e| format!("bad stored entry in {}: {e}", M::NAMESPACE))?;
        state.next_index = state.next_index.max(s.created_index + 1);
        state.seen.insert(s.mv.key());
    }
    Ok(state)
}

impl CoinMoves {
    /// Loads the moves recorded so far. Blocking: store reads.
    pub fn load(
        node_id: String,
        network: Network,
        plugins: PluginHost,
        storage: Storage,
    ) -> Result<CoinMoves, String> {
        let state = load_state::<ChainMove>(&storage)?;
        let channel_state = load_state::<ChannelMove>(&storage)?;
        Ok(CoinMoves {
            node_id,
            coin_type: coin_type(network),
            plugins,
            storage,
            state: Mutex::new(state),
            channel_state: Mutex::new(channel_state),
            snapshot_armed: AtomicBool::new(false),
            snapshot_sent: AtomicBool::new(false),
            channel_accounts: Mutex::new(None),
        })
    }

    /// Records `mv` durably under the next index of its kind, unless one with the same
    /// key was recorded before: `Ok(None)` then. Blocking: a store write.
    fn record<M: Move>(&self, state: &Mutex<State>, mv: M) -> Result<Option<Stored<M>>, String> {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        let key = mv.key();
        if st.seen.contains(&key) {
            return Ok(None);
        }
        let stored = Stored {
            created_index: st.next_index,
            timestamp: now(),
            mv,
        };
        let stored = self
            .storage
            .run_blocking(move |s| {
                write_move(s, &stored)?;
                Ok(stored)
            })
            .map_err(|e| format!("storing a coin movement: {e}"))?;
        st.next_index += 1;
        st.seen.insert(key);
        Ok(Some(stored))
    }

    /// Records `mv` (durably) and notifies it, unless the same move was recorded
    /// before. Blocking: a store write.
    pub fn chain_move(&self, mv: ChainMove) {
        match self.record(&self.state, mv) {
            Ok(Some(stored)) if self.plugins.anyone_cares("coin_movement") => {
                self.plugins
                    .notify("coin_movement", self.chain_json(&stored));
            }
            Ok(_) => {}
            Err(e) => tracing::error!("{e}"),
        }
    }

    /// Records a channel move (durably) and notifies it, unless one with the same key was
    /// recorded before. `Err` when it could not be written (the caller has LDK hand its
    /// event over again). Blocking: a store write.
    pub fn channel_move(&self, mv: ChannelMove) -> Result<(), String> {
        let stored = self.record(&self.channel_state, mv).inspect_err(|e| {
            tracing::error!("{e}");
        })?;
        if let Some(stored) = stored {
            if self.plugins.anyone_cares("coin_movement") {
                self.plugins
                    .notify("coin_movement", self.channel_json(&stored));
            }
        }
        Ok(())
    }

    /// [`CoinMoves::channel_move`] for an LDK event handler that answers once the moves
    /// are queued (`after_commit.rs`): their indexes are taken now, `part` (if given)
    /// fills their part in on the store thread, in the same job, and they are notified
    /// once committed. A move recorded before is left out. `Err`: nothing was queued.
    #[allow(clippy::type_complexity)]
    pub async fn channel_moves_queued(
        self: &Arc<Self>,
        moves: Vec<ChannelMove>,
        part: Option<
            Box<
                dyn FnOnce(&mut store::Store) -> Result<Option<(u64, u64)>, store::StoreError>
                    + Send,
            >,
        >,
    ) -> Result<(), String> {
        let fresh: Vec<Stored<ChannelMove>> = {
            let mut st = self.channel_state.lock().unwrap_or_else(|p| p.into_inner());
            let mut fresh = Vec::new();
            for mv in moves {
                // Seen from now on: if its record fails the store stops, and the next
                // start loads what is really recorded.
                if !st.seen.insert(mv.key()) {
                    continue;
                }
                fresh.push(Stored {
                    created_index: st.next_index,
                    timestamp: now(),
                    mv,
                });
                st.next_index += 1;
            }
            fresh
        };
        if fresh.is_empty() {
            return Ok(());
        }
        let record = move |s: &mut store::Store| {
            let mut fresh = fresh;
            if let Some(part) = part {
                let p = part(s)?;
                for f in &mut fresh {
                    f.mv.part = p;
                }
            }
            for f in &fresh {
                write_move(s, f)?;
            }
            Ok::<_, store::StoreError>(fresh)
        };
        let me = self.clone();
        let then = move |r: Result<Vec<Stored<ChannelMove>>, String>| match r {
            Ok(fresh) if me.plugins.anyone_cares("coin_movement") => {
                for f in &fresh {
                    me.plugins.notify("coin_movement", me.channel_json(f));
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!("storing a coin movement: {e}"),
        };
        self.storage
            .record_then(record, then)
            .await
            .map_err(|e| format!("storing a coin movement: {e}"))
    }

    fn channel_json(&self, s: &Stored<ChannelMove>) -> Value {
        let mv = &s.mv;
        let mut m = Map::new();
        m.insert("version".into(), json!(2));
        m.insert("coin_type".into(), json!(self.coin_type));
        m.insert("node_id".into(), json!(self.node_id));
        m.insert("type".into(), json!("channel_mvt"));
        m.insert("created_index".into(), json!(s.created_index));
        m.insert("account_id".into(), json!(mv.account_id));
        m.insert("credit_msat".into(), json!(mv.credit_msat));
        m.insert("debit_msat".into(), json!(mv.debit_msat));
        m.insert("timestamp".into(), json!(s.timestamp));
        m.insert("tags".into(), json!([mv.primary_tag]));
        m.insert("primary_tag".into(), json!(mv.primary_tag));
        m.insert("extra_tags".into(), json!([]));
        if let Some(h) = &mv.payment_hash {
            m.insert("payment_hash".into(), json!(h));
        }
        if let Some((part_id, group_id)) = mv.part {
            m.insert("part_id".into(), json!(part_id));
            m.insert("group_id".into(), json!(group_id));
        }
        m.insert("fees_msat".into(), json!(mv.fees_msat));
        Value::Object(m)
    }

    fn chain_json(&self, s: &Stored<ChainMove>) -> Value {
        let mv = &s.mv;
        let mut tags = vec![mv.primary_tag.clone()];
        tags.extend(mv.extra_tags.iter().cloned());
        let mut m = Map::new();
        m.insert("version".into(), json!(2));
        m.insert("coin_type".into(), json!(self.coin_type));
        m.insert("node_id".into(), json!(self.node_id));
        m.insert("type".into(), json!("chain_mvt"));
        m.insert("created_index".into(), json!(s.created_index));
        m.insert("account_id".into(), json!(mv.account_id));
        m.insert("credit_msat".into(), json!(mv.credit_msat));
        m.insert("debit_msat".into(), json!(mv.debit_msat));
        m.insert("timestamp".into(), json!(s.timestamp));
        m.insert("tags".into(), json!(tags));
        m.insert("primary_tag".into(), json!(mv.primary_tag));
        m.insert("extra_tags".into(), json!(mv.extra_tags));
        m.insert("utxo".into(), json!(mv.utxo.to_string()));
        if let Some(p) = &mv.peer_id {
            m.insert("peer_id".into(), json!(p));
        }
        if let Some(o) = &mv.originating_account {
            m.insert("originating_account".into(), json!(o));
        }
        if let Some(t) = mv.spending_txid {
            m.insert("txid".into(), json!(t.to_string()));
            m.insert("spending_txid".into(), json!(t.to_string()));
        }
        m.insert("utxo_txid".into(), json!(mv.utxo.txid.to_string()));
        m.insert("vout".into(), json!(mv.utxo.vout));
        if let Some(h) = &mv.payment_hash {
            m.insert("payment_hash".into(), json!(h));
        }
        m.insert("output_msat".into(), json!(mv.output_msat));
        if let Some(n) = mv.output_count {
            m.insert("output_count".into(), json!(n));
        }
        m.insert("blockheight".into(), json!(mv.blockheight));
        Value::Object(m)
    }

    /// From now on the next block sends the `balance_snapshot` (call once plugins run).
    pub fn arm_snapshot(&self) {
        self.snapshot_armed.store(true, Ordering::SeqCst);
    }

    /// True exactly once: for the first block after [`CoinMoves::arm_snapshot`].
    pub fn snapshot_due(&self) -> bool {
        self.snapshot_armed.load(Ordering::SeqCst)
            && !self.snapshot_sent.swap(true, Ordering::SeqCst)
    }

    /// Channel accounts join the `balance_snapshot` from now on.
    pub fn set_channel_accounts(&self, f: Arc<ChannelAccounts>) {
        if let Ok(mut c) = self.channel_accounts.lock() {
            *c = Some(f);
        }
    }

    /// The channel rows of a `balance_snapshot` (none before channels start).
    pub fn channel_accounts(&self) -> Vec<(String, u64)> {
        let f = self.channel_accounts.lock().ok().and_then(|c| c.clone());
        f.map(|f| f()).unwrap_or_default()
    }

    /// `balance_snapshot` with `(account_id, balance_msat)` rows.
    pub fn balance_snapshot(&self, blockheight: u32, accounts: &[(String, u64)]) {
        let accounts: Vec<Value> = accounts
            .iter()
            .map(|(a, b)| json!({"account_id": a, "balance_msat": b, "coin_type": self.coin_type}))
            .collect();
        self.plugins.notify(
            "balance_snapshot",
            json!({
                "node_id": self.node_id,
                "blockheight": blockheight,
                "timestamp": now(),
                "accounts": accounts,
            }),
        );
    }
}

/// A wallet move (deposit to or withdrawal from account `wallet`).
pub fn wallet_move(
    primary_tag: &str,
    utxo: OutPoint,
    value_msat: u64,
    spending_txid: Option<Txid>,
    blockheight: u32,
) -> ChainMove {
    let credit = primary_tag == "deposit";
    ChainMove {
        account_id: "wallet".into(),
        credit_msat: if credit { value_msat } else { 0 },
        debit_msat: if credit { 0 } else { value_msat },
        primary_tag: primary_tag.into(),
        extra_tags: Vec::new(),
        utxo,
        peer_id: None,
        originating_account: None,
        spending_txid,
        payment_hash: None,
        output_msat: value_msat,
        output_count: None,
        blockheight,
    }
}

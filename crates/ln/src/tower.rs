//! The watchtower feed: a `Persist` wrapper that, beside LDK's own persister, builds and
//! signs a penalty (justice) transaction for every counterparty commitment once the peer
//! revokes it, and queues it durably for the `commitment_revocation` hook.
//!
//! Flow per channel: each monitor update's new counterparty commitments
//! (`counterparty_commitment_txs_from_update`, or the initial one for a new channel) get
//! an unsigned justice tx spending their `to_local` (`build_to_local_justice_tx`), kept
//! as *pending*; once the revocation secret is in the monitor (`sign_to_local_justice_tx`
//! succeeds) it moves to *ready*. Both lists live in the kv namespace [`NS`] and are
//! written before the update is acknowledged, so a kill -9 loses nothing. The daemon
//! drains *ready* ([`Tower::ready`], [`Tower::delivered`]) whenever [`Tower::changed`]
//! fires. Commitments without a non-dust `to_local` for the peer get no entry (as Core
//! Lightning, which has no penalty base for them), and nothing is built or written while
//! no plugin takes the hook ([`Tower::set_wanted`]).
//!
//! Must not touch: plugins and JSON (the daemon delivers), the monitor's own persistence
//! (the inner persister's status is returned as it is).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::{ScriptBuf, Transaction, Txid};
use chain::Fees;
use lightning::chain::chainmonitor::Persist;
use lightning::chain::channelmonitor::{ChannelMonitor, ChannelMonitorUpdate};
use lightning::chain::ChannelMonitorUpdateStatus;
use lightning::ln::chan_utils::CommitmentTransaction;
use lightning::ln::types::ChannelId;
use lightning::sign::InMemorySigner;
use lightning::util::persist::MonitorName;
use tokio::sync::Notify;
use wallet::{AddressType, Wallet};

use crate::types::{Kv, Persister};

/// The queue's kv namespace (primary); the lists are secondary namespaces.
pub const NS: &str = "boltd_tower";
/// Unsigned justice txs of commitments not yet revoked, key `<monitor>_<ldk number>`.
const PENDING: &str = "pending";
/// Signed penalties not yet delivered to every plugin, key `<commitnum>_<monitor>`.
const READY: &str = "ready";
/// Per monitor: the wallet script every penalty of that channel pays to (one address per
/// channel: at most one of its revoked commitments can ever be broadcast).
const DEST: &str = "dest";

/// LDK numbers commitments down from this; Core Lightning's `commitnum` counts up from 0.
const INITIAL_COMMITMENT_NUMBER: u64 = (1 << 48) - 1;

/// One revoked commitment's penalty, as the `commitment_revocation` hook carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Penalty {
    /// The queue key ([`Tower::delivered`] takes it back).
    pub key: String,
    pub channel_id: ChannelId,
    /// Core Lightning's numbering: 0 for the first commitment.
    pub commitnum: u64,
    pub commitment_txid: Txid,
    pub penalty_tx: Transaction,
}

#[derive(Debug, Clone)]
struct Unsigned {
    key: String,
    channel_id: ChannelId,
    /// LDK's commitment number.
    number: u64,
    /// The revoked `to_local` output's value (signed over).
    value: u64,
    justice: Transaction,
}

impl Unsigned {
    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&self.channel_id.0);
        v.extend_from_slice(&self.number.to_be_bytes());
        v.extend_from_slice(&self.value.to_be_bytes());
        v.extend_from_slice(&serialize(&self.justice));
        v
    }

    fn decode(key: String, b: &[u8]) -> Option<Unsigned> {
        let id: [u8; 32] = b.get(..32)?.try_into().ok()?;
        let number = u64::from_be_bytes(b.get(32..40)?.try_into().ok()?);
        let value = u64::from_be_bytes(b.get(40..48)?.try_into().ok()?);
        let justice = deserialize(b.get(48..)?).ok()?;
        Some(Unsigned {
            key,
            channel_id: ChannelId(id),
            number,
            value,
            justice,
        })
    }
}

fn encode_penalty(channel_id: &ChannelId, commitnum: u64, tx: &Transaction) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&channel_id.0);
    v.extend_from_slice(&commitnum.to_be_bytes());
    v.extend_from_slice(&serialize(tx));
    v
}

fn decode_penalty(key: String, b: &[u8]) -> Option<Penalty> {
    let id: [u8; 32] = b.get(..32)?.try_into().ok()?;
    let commitnum = u64::from_be_bytes(b.get(32..40)?.try_into().ok()?);
    let penalty_tx: Transaction = deserialize(b.get(40..)?).ok()?;
    let commitment_txid = penalty_tx.input.first()?.previous_output.txid;
    Some(Penalty {
        key,
        channel_id: ChannelId(id),
        commitnum,
        commitment_txid,
        penalty_tx,
    })
}

/// What the queue knows of one channel (by monitor name), cached from the kv.
#[derive(Default)]
struct Chan {
    pending: Vec<Unsigned>,
    /// [`DEST`]'s value once read or made.
    dest: Option<ScriptBuf>,
    /// The initial commitment of a channel read back at start-up with no update yet,
    /// queued at its first update: queueing may reveal a wallet address and writes, and a
    /// restart writes nothing before plugins' `init` (the first revocation comes in an
    /// update, and the queue is written before that update is acknowledged).
    initial: Option<CommitmentTransaction>,
}

/// The durable queue and the in-memory copy of its per-channel state.
pub struct Tower {
    kv: Kv,
    wallet: Arc<Wallet>,
    fees: Arc<Fees>,
    /// By monitor name; the lock also serialises the queue's writes.
    chans: Mutex<HashMap<String, Chan>>,
    changed: Notify,
    /// Penalties queued whose writes may not be durable yet ([`Tower::announce`]).
    unannounced: AtomicBool,
    /// Whether some plugin takes the hook now (unset: queue everything).
    wanted: OnceLock<Box<dyn Fn() -> bool + Send + Sync>>,
}

impl Tower {
    /// Loads the pending list (entries that do not decode are logged and dropped).
    pub fn load(kv: Kv, wallet: Arc<Wallet>, fees: Arc<Fees>) -> Tower {
        let mut chans: HashMap<String, Chan> = HashMap::new();
        for key in kv.list(NS, PENDING).unwrap_or_default() {
            let Some((monitor, _)) = key.rsplit_once('_') else {
                continue;
            };
            match kv.read(NS, PENDING, &key) {
                Ok(b) => match Unsigned::decode(key.clone(), &b) {
                    Some(u) => chans
                        .entry(monitor.to_string())
                        .or_default()
                        .pending
                        .push(u),
                    None => tracing::warn!("watchtower: unreadable pending entry {key}"),
                },
                Err(e) => tracing::warn!("watchtower: pending entry {key}: {e}"),
            }
        }
        Tower {
            kv,
            wallet,
            fees,
            chans: Mutex::new(chans),
            changed: Notify::new(),
            unannounced: AtomicBool::new(false),
            wanted: OnceLock::new(),
        }
    }

    /// From now on a penalty is queued only if `wanted()` says some plugin takes the hook
    /// at that moment (as Core Lightning calls a hook's current chain; queueing for
    /// nobody would cost store writes on every payment).
    pub fn set_wanted(&self, wanted: Box<dyn Fn() -> bool + Send + Sync>) {
        let _ = self.wanted.set(wanted);
    }

    fn is_wanted(&self) -> bool {
        self.wanted.get().is_none_or(|w| w())
    }

    /// Wakes when a penalty was queued (a permit is kept if nobody waits).
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// The penalties not yet delivered, in `commitnum` order per channel.
    pub fn ready(&self) -> Vec<Penalty> {
        let mut keys = self.kv.list(NS, READY).unwrap_or_default();
        keys.sort();
        keys.into_iter()
            .filter_map(|k| {
                let b = self.kv.read(NS, READY, &k).ok()?;
                let p = decode_penalty(k.clone(), &b);
                if p.is_none() {
                    tracing::warn!("watchtower: unreadable queued penalty {k}");
                }
                p
            })
            .collect()
    }

    /// Every plugin got it: off the queue.
    pub fn delivered(&self, key: &str) {
        if let Err(e) = self.kv.remove(NS, READY, key, false) {
            tracing::warn!("watchtower: removing delivered penalty {key}: {e}");
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Chan>> {
        self.chans.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn destination(&self, monitor: &str, chan: &mut Chan) -> Option<ScriptBuf> {
        if let Some(d) = &chan.dest {
            return Some(d.clone());
        }
        let script = match self.kv.read(NS, DEST, monitor) {
            Ok(b) => ScriptBuf::from_bytes(b),
            Err(_) => {
                let script = match self.wallet.new_address(AddressType::Bech32) {
                    Ok(a) => a.script_pubkey(),
                    Err(e) => {
                        tracing::error!("watchtower: no wallet address for penalties: {e}");
                        return None;
                    }
                };
                if let Err(e) = self.kv.write(NS, DEST, monitor, script.as_bytes().to_vec()) {
                    tracing::error!("watchtower: storing the penalty address: {e}");
                    return None;
                }
                script
            }
        };
        chan.dest = Some(script.clone());
        Some(script)
    }

    /// An unsigned justice tx for `tx`'s `to_local`, if it has a non-dust one.
    fn justice_for(
        &self,
        monitor: &str,
        chan: &mut Chan,
        channel_id: ChannelId,
        tx: &CommitmentTransaction,
    ) -> Option<Unsigned> {
        let trusted = tx.trust();
        let idx = trusted.revokeable_output_index()?;
        let value = trusted
            .built_transaction()
            .transaction
            .output
            .get(idx)?
            .value;
        let dest = self.destination(monitor, chan)?;
        let feerate = self.fees.penalty().unwrap_or_else(|| self.fees.floor());
        let justice = trusted
            .build_to_local_justice_tx(u64::from(feerate), dest.clone())
            .ok()?;
        if justice.output.first()?.value < dest.minimal_non_dust() {
            return None;
        }
        let number = tx.commitment_number();
        Some(Unsigned {
            key: format!("{monitor}_{number:012x}"),
            channel_id,
            number,
            value: value.to_sat(),
            justice,
        })
    }

    /// [`Tower::track`] for an update's new counterparty commitments; nothing at all (not
    /// even building them) while no plugin takes the hook and nothing is pending.
    fn track_update(
        &self,
        monitor_name: &MonitorName,
        monitor: &ChannelMonitor<InMemorySigner>,
        update: &ChannelMonitorUpdate,
    ) {
        let txs = if self.is_wanted() {
            monitor.counterparty_commitment_txs_from_update(update)
        } else {
            let name = monitor_name.to_string();
            let mut all = self.lock();
            let Some(chan) = all.get_mut(&name) else {
                return;
            };
            // Its revocation may be in this update, which no plugin wants now.
            chan.initial = None;
            if chan.pending.is_empty() {
                return;
            }
            Vec::new()
        };
        self.track(monitor_name, monitor, txs);
    }

    /// Queues `txs` as pending, then signs every pending entry whose secret the monitor
    /// now holds. Everything is written before it returns. `txs` are new: each monitor
    /// update reaches the persister once (LDK replays only updates it was not told were
    /// persisted, and those reach the queue before the inner persister).
    fn track(
        &self,
        monitor_name: &MonitorName,
        monitor: &ChannelMonitor<InMemorySigner>,
        txs: Vec<CommitmentTransaction>,
    ) {
        let name = monitor_name.to_string();
        let channel_id = monitor.channel_id();
        let mut all = self.lock();
        let chan = all.entry(name.clone()).or_default();
        for tx in chan.initial.take().into_iter().chain(txs) {
            let n = tx.commitment_number();
            if chan.pending.iter().any(|u| u.number == n) {
                continue;
            }
            let Some(u) = self.justice_for(&name, chan, channel_id, &tx) else {
                continue;
            };
            if let Err(e) = self.kv.write(NS, PENDING, &u.key, u.encode()) {
                tracing::error!("watchtower: queueing commitment {n} of {channel_id}: {e}");
                continue;
            }
            tracing::debug!("watchtower: commitment {n} of {channel_id} pending");
            chan.pending.push(u);
        }
        let mut queued = false;
        let mut wanted = None;
        let mut keep = Vec::new();
        // Oldest (highest LDK number) first: the queue's order.
        chan.pending.sort_by_key(|u| std::cmp::Reverse(u.number));
        for u in chan.pending.drain(..) {
            let Ok(tx) = monitor.sign_to_local_justice_tx(u.justice.clone(), 0, u.value, u.number)
            else {
                keep.push(u);
                continue;
            };
            let commitnum = INITIAL_COMMITMENT_NUMBER.saturating_sub(u.number);
            let key = format!("{commitnum:012x}_{name}");
            if *wanted.get_or_insert_with(|| self.is_wanted()) {
                // Ready before the pending entry goes: a crash in between repeats a
                // delivery, never loses one.
                if let Err(e) = self.kv.write(
                    NS,
                    READY,
                    &key,
                    encode_penalty(&u.channel_id, commitnum, &tx),
                ) {
                    tracing::error!("watchtower: queueing the penalty for {key}: {e}");
                    keep.push(u);
                    continue;
                }
                tracing::debug!("watchtower: penalty {key} of {channel_id} queued");
                queued = true;
            }
            if let Err(e) = self.kv.remove(NS, PENDING, &u.key, false) {
                tracing::warn!("watchtower: removing pending {}: {e}", u.key);
            }
        }
        chan.pending = keep;
        drop(all);
        if queued {
            // Its writes are durable only once the group they joined is committed
            // (write_order.rs): told then, by `announce`.
            self.unannounced.store(true, Ordering::SeqCst);
        }
    }

    /// Wakes [`Tower::changed`] if penalties were queued since the last call: called once
    /// the writes that queued them are durable (a group commit, the start-up load).
    pub(crate) fn announce(&self) {
        if self.unannounced.swap(false, Ordering::SeqCst) {
            self.changed.notify_one();
        }
    }

    /// A new channel's monitor: its initial commitment is queued now.
    pub(crate) fn track_monitor(&self, monitor: &ChannelMonitor<InMemorySigner>) {
        let initial = self.initial_commitment(monitor);
        self.track(
            &monitor.persistence_key(),
            monitor,
            initial.into_iter().collect(),
        );
    }

    /// A monitor read back at start-up (LDK does not hand it to the persister again):
    /// its initial commitment, new only if no update (the first revocation among them)
    /// has reached it yet, waits in memory for its first update ([`Chan::initial`]);
    /// pending entries it can now sign are signed.
    pub(crate) fn track_loaded_monitor(&self, monitor: &ChannelMonitor<InMemorySigner>) {
        self.track(&monitor.persistence_key(), monitor, Vec::new());
        let initial = self.initial_commitment(monitor);
        let name = monitor.persistence_key().to_string();
        self.lock().entry(name).or_default().initial = initial;
    }

    fn initial_commitment(
        &self,
        monitor: &ChannelMonitor<InMemorySigner>,
    ) -> Option<CommitmentTransaction> {
        if monitor.get_latest_update_id() == 0 && self.is_wanted() {
            monitor.initial_counterparty_commitment_tx()
        } else {
            None
        }
    }

    /// The channel is gone for good: its pending entries and records go too (queued
    /// penalties stay until the plugins have them).
    fn forget(&self, monitor_name: &MonitorName) {
        let name = monitor_name.to_string();
        let mut all = self.lock();
        for u in all.remove(&name).map(|c| c.pending).unwrap_or_default() {
            let _ = self.kv.remove(NS, PENDING, &u.key, false);
        }
        let _ = self.kv.remove(NS, DEST, &name, false);
    }
}

/// LDK's `MonitorUpdatingPersister` with the watchtower feed beside it. The inner
/// persister's status is returned unchanged; the queue's writes are done before.
pub struct TowerPersister {
    inner: Arc<Persister>,
    tower: Arc<Tower>,
}

impl TowerPersister {
    pub fn new(inner: Arc<Persister>, tower: Arc<Tower>) -> TowerPersister {
        TowerPersister { inner, tower }
    }
}

impl Persist<InMemorySigner> for TowerPersister {
    fn persist_new_channel(
        &self,
        monitor_name: MonitorName,
        monitor: &ChannelMonitor<InMemorySigner>,
    ) -> ChannelMonitorUpdateStatus {
        self.tower.track_monitor(monitor);
        self.inner.persist_new_channel(monitor_name, monitor)
    }

    fn update_persisted_channel(
        &self,
        monitor_name: MonitorName,
        update: Option<&ChannelMonitorUpdate>,
        monitor: &ChannelMonitor<InMemorySigner>,
    ) -> ChannelMonitorUpdateStatus {
        if let Some(u) = update {
            self.tower.track_update(&monitor_name, monitor, u);
        }
        self.inner
            .update_persisted_channel(monitor_name, update, monitor)
    }

    fn archive_persisted_channel(&self, monitor_name: MonitorName) {
        self.tower.forget(&monitor_name);
        <Persister as Persist<InMemorySigner>>::archive_persisted_channel(&self.inner, monitor_name)
    }

    fn get_and_clear_completed_updates(&self) -> Vec<(ChannelId, u64)> {
        <Persister as Persist<InMemorySigner>>::get_and_clear_completed_updates(&self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::hashes::Hash;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, OutPoint, Sequence, TxIn, TxOut, Witness};

    fn tx() -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::new(Txid::from_byte_array([7; 32]), 2),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::from_slice(&[vec![1u8; 71], vec![1], vec![2; 80]]),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(179_000),
                script_pubkey: ScriptBuf::from_bytes(vec![0, 20, 9, 9]),
            }],
        }
    }

    #[test]
    fn queue_entries_round_trip() {
        let u = Unsigned {
            key: "k".into(),
            channel_id: ChannelId([3; 32]),
            number: INITIAL_COMMITMENT_NUMBER - 5,
            value: 180_000,
            justice: tx(),
        };
        let back = Unsigned::decode("k".into(), &u.encode()).unwrap();
        assert_eq!(
            (back.channel_id, back.number, back.value, back.justice),
            (u.channel_id, u.number, u.value, u.justice)
        );
        let p = decode_penalty("r".into(), &encode_penalty(&ChannelId([3; 32]), 5, &tx())).unwrap();
        assert_eq!(p.commitnum, 5);
        assert_eq!(p.channel_id, ChannelId([3; 32]));
        assert_eq!(p.commitment_txid, Txid::from_byte_array([7; 32]));
        assert_eq!(p.penalty_tx, tx());
    }

    #[test]
    fn damaged_entries_decode_to_nothing() {
        let whole = encode_penalty(&ChannelId([3; 32]), 5, &tx());
        for cut in [0, 10, 32, 39, 40, 41, whole.len() - 1] {
            assert!(decode_penalty("r".into(), &whole[..cut]).is_none(), "{cut}");
        }
        let u = Unsigned {
            key: "k".into(),
            channel_id: ChannelId([3; 32]),
            number: 1,
            value: 2,
            justice: tx(),
        }
        .encode();
        for cut in [0, 31, 40, 47, 48, u.len() - 1] {
            assert!(Unsigned::decode("k".into(), &u[..cut]).is_none(), "{cut}");
        }
    }
}

//! HTLCs we forward, as Core Lightning users see them: our own record of each (the
//! `forwards` table), `forward_event` per status change, `listforwards`,
//! `fees_collected_msat` and the `routed` channel moves.
//!
//! LDK forwards on its own; its events name the incoming HTLC (channel, id) but not its
//! payment hash, and nothing tells when the outgoing HTLC is offered. So the event loop
//! shows us the channels' pending HTLCs around each forwarding pass ([`ln::HtlcWatch`]):
//! an incoming HTLC is remembered when it arrives (hash, amount, time), and becomes an
//! `offered` forward when an outgoing HTLC with its hash appears on another channel.
//! `PaymentForwarded` settles it; `HTLCHandlingFailed` fails it (`failed` when the next
//! node failed it, `local_failed` when we did).
//!
//! Not known on LDK, so not shown: the `preimage` of a settled forward (LDK's event does
//! not carry it).

pub mod failcodes;
pub mod intercept;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lightning::events::{
    Event, HTLCHandlingFailureReason, HTLCHandlingFailureType, InboundHTLCLocator,
    OutboundHTLCLocator, ReplayEvent,
};
use lightning::ln::channel_state::{ChannelDetails, InboundHTLCStateDetails};
use lightning::ln::types::ChannelId;
use ln::Ln;
use plugins::PluginHost;
use serde_json::{json, Map, Value};
use store::{ForwardFields, ForwardQuery, StoredForward};
use tokio::sync::mpsc;

use crate::coin_moves::{ChannelMove, CoinMoves};

/// Test knob: the process's first forward update fails as a store failure would (tests of
/// LDK handing the event over again).
const DEV_FAIL_UPDATE_ENV: &str = "BOLTD_DEV_FAIL_FORWARD_UPDATE";
static DEV_FAILED_UPDATE: AtomicBool = AtomicBool::new(false);
use crate::storage::Storage;

/// An incoming HTLC not forwarded (a payment to us, or refused) is forgotten this long
/// after it left its channel.
const FORGET: Duration = Duration::from_secs(600);

/// An incoming HTLC as it arrived.
#[derive(Debug, Clone)]
struct Seen {
    hash: [u8; 32],
    amount_msat: u64,
    received: Duration,
    /// Still in its channel at the last look.
    present: bool,
    /// Recorded as a forward.
    forwarded: bool,
}

/// An outgoing HTLC offered for an incoming one.
#[derive(Debug, Clone)]
struct Offered {
    in_channel: ChannelId,
    in_htlc_id: u64,
    seen: Seen,
    out_channel: ChannelId,
    out_msat: u64,
    out_htlc_id: Option<u64>,
}

#[derive(Default)]
struct Inner {
    seen: HashMap<(ChannelId, u64), Seen>,
    /// Outgoing HTLCs already matched: (channel, hash, amount, cltv).
    matched: HashSet<(ChannelId, [u8; 32], u64, u32)>,
    /// What we show for each channel id (its short channel id, or our alias for it).
    scids: HashMap<ChannelId, String>,
    /// Incoming HTLCs an `htlc_accepted` plugin failed: no forward record (as CLN).
    hook_failed: HashSet<(ChannelId, u64)>,
    /// Incoming HTLCs whose forward is settled or failed, while their channel still
    /// lists them (a failure waits for the peer's revocation): never `seen` again, or a
    /// later failure would be pinned on them.
    done: HashSet<(ChannelId, u64)>,
}

pub struct Forwards {
    ln: Arc<Ln>,
    storage: Storage,
    host: PluginHost,
    coin_moves: Arc<CoinMoves>,
    inner: Mutex<Inner>,
    /// Record changes one at a time (the watch's `offered` and the events' outcomes).
    writes: tokio::sync::Mutex<()>,
    offered: mpsc::UnboundedSender<Offered>,
    /// The fees of settled forwards: the store's sum at start, plus each settlement once
    /// it is durable (`getinfo` is called far more often than forwards settle).
    fees_collected: AtomicU64,
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// CLN's time fields: seconds with the nanoseconds as the fraction.
fn time(d: Duration) -> f64 {
    d.as_secs() as f64 + f64::from(d.subsec_nanos()) / 1e9
}

fn key(channel: &ChannelId, htlc_id: u64) -> String {
    format!("{channel}/{htlc_id}")
}

/// The real short channel id, or our alias for a channel without one (as CLN shows it).
fn scid_of(c: &ChannelDetails) -> Option<String> {
    c.short_channel_id
        .or(c.inbound_scid_alias)
        .map(crate::channels::json::scid)
}

const FINAL: &[&str] = &["settled", "failed", "local_failed"];

impl Forwards {
    /// Starts the record keeping: the channels' pending HTLCs are remembered now (a restart
    /// loses what was only in memory), and the task that records `offered` forwards runs.
    pub async fn start(
        ln: Arc<Ln>,
        storage: Storage,
        host: PluginHost,
        coin_moves: Arc<CoinMoves>,
    ) -> Result<Arc<Forwards>, String> {
        let fees = storage
            .call(|s| s.forwards_fees_collected())
            .await
            .and_then(|r| r)
            .map_err(|e| format!("reading the fees collected: {e}"))?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let f = Arc::new(Forwards {
            ln: ln.clone(),
            storage,
            host,
            coin_moves,
            inner: Mutex::new(Inner::default()),
            writes: tokio::sync::Mutex::new(()),
            offered: tx,
            fees_collected: AtomicU64::new(fees),
        });
        ln::HtlcWatch::before_forwards(
            &*f,
            &crate::channels::off_worker(|| ln.manager.list_channels()),
        );
        let _ = ln.htlc_watch.set(f.clone());
        f.sync_interception();
        let me = f.clone();
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(Duration::from_secs(1));
            loop {
                iv.tick().await;
                me.sync_interception();
            }
        });
        let me = f.clone();
        tokio::spawn(async move {
            while let Some(o) = rx.recv().await {
                me.record_offered(o).await;
            }
        });
        Ok(f)
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What we show for channel `id`.
    fn scid(&self, id: &ChannelId) -> String {
        if let Some(s) = self.inner().scids.get(id) {
            return s.clone();
        }
        let found = crate::channels::off_worker(|| self.ln.manager.list_channels())
            .iter()
            .find(|c| &c.channel_id == id)
            .and_then(scid_of);
        match found {
            Some(s) => {
                self.inner().scids.insert(*id, s.clone());
                s
            }
            None => id.to_string(),
        }
    }

    /// Handles `event` if it is about a forward: `None` if it is not, else LDK's answer.
    /// Awaited: the record is durable before LDK counts the event handled (`Err`: it
    /// could not be written, LDK hands the event over again).
    pub async fn on_event(self: &Arc<Self>, event: &Event) -> Option<Result<(), ReplayEvent>> {
        match event {
            Event::PaymentForwarded {
                prev_htlcs,
                next_htlcs,
                total_fee_earned_msat,
                outbound_amount_forwarded_msat,
                ..
            } => {
                let r = self
                    .settled(
                        prev_htlcs,
                        next_htlcs,
                        *total_fee_earned_msat,
                        *outbound_amount_forwarded_msat,
                    )
                    .await;
                Some(r)
            }
            Event::HTLCHandlingFailed {
                prev_channel_ids,
                failure_type,
                failure_reason,
            } => {
                tracing::debug!(
                    "HTLC from {prev_channel_ids:?} failed: {failure_type:?} {failure_reason:?}"
                );
                let (out, status, code) = match (failure_type, failure_reason) {
                    (
                        HTLCHandlingFailureType::Forward { channel_id, .. },
                        Some(HTLCHandlingFailureReason::Downstream),
                    ) => (Some(*channel_id), "failed", None),
                    (HTLCHandlingFailureType::Forward { channel_id, .. }, r) => (
                        Some(*channel_id),
                        "local_failed",
                        Some(
                            r.as_ref()
                                .and_then(failcodes::local_code)
                                .unwrap_or(failcodes::TEMPORARY_CHANNEL_FAILURE),
                        ),
                    ),
                    (
                        HTLCHandlingFailureType::InvalidForward { .. }
                        | HTLCHandlingFailureType::UnknownNextHop { .. },
                        r,
                    ) => (
                        None,
                        "local_failed",
                        Some(
                            r.as_ref()
                                .and_then(failcodes::local_code)
                                .unwrap_or(failcodes::UNKNOWN_NEXT_PEER),
                        ),
                    ),
                    _ => return None,
                };
                Some(self.failed(prev_channel_ids, out, status, code).await)
            }
            Event::HTLCIntercepted {
                intercept_id,
                requested_next_hop_scid,
                payment_hash,
                inbound_amount_msat,
                expected_outbound_amount_msat,
                outgoing_htlc_expiry_block_height,
            } => {
                self.intercepted(intercept::Intercepted {
                    intercept_id: *intercept_id,
                    requested_scid: *requested_next_hop_scid,
                    payment_hash: *payment_hash,
                    inbound_msat: *inbound_amount_msat,
                    outbound_msat: *expected_outbound_amount_msat,
                    outgoing_cltv: *outgoing_htlc_expiry_block_height,
                });
                Some(Ok(()))
            }
            _ => None,
        }
    }

    /// The row `listforwards` shows and the notification's fields, from a stored record.
    fn row(f: &StoredForward) -> Value {
        let mut row = f.record.get("row").cloned().unwrap_or_else(|| json!({}));
        if let Some(o) = row.as_object_mut() {
            let mut m = Map::new();
            m.insert("created_index".into(), json!(f.created_index));
            if let Some(u) = f.updated_index {
                m.insert("updated_index".into(), json!(u));
            }
            m.extend(std::mem::take(o));
            *o = m;
        }
        row
    }

    fn notify(&self, f: &StoredForward, created: bool) {
        if !self.host.anyone_cares("forward_event") {
            return;
        }
        let mut row = f.record.get("row").cloned().unwrap_or_else(|| json!({}));
        let Some(o) = row.as_object_mut() else {
            return;
        };
        o.remove("out_htlc_id");
        let mut m = Map::new();
        if created {
            m.insert("created_index".into(), json!(f.created_index));
        } else if let Some(u) = f.updated_index {
            m.insert("updated_index".into(), json!(u));
        }
        if let Some(h) = f.record.get("payment_hash") {
            m.insert("payment_hash".into(), h.clone());
        }
        m.extend(std::mem::take(o));
        self.host.notify("forward_event", Value::Object(m));
    }

    fn fields(record: Value) -> ForwardFields {
        let row = &record["row"];
        ForwardFields {
            in_channel: row["in_channel"].as_str().unwrap_or_default().to_string(),
            out_channel: row["out_channel"].as_str().map(str::to_string),
            status: row["status"].as_str().unwrap_or_default().to_string(),
            fee_msat: row["fee_msat"].as_u64(),
            record,
        }
    }

    fn offered_record(&self, o: &Offered) -> Value {
        let mut row = json!({
            "in_channel": self.scid(&o.in_channel),
            "in_htlc_id": o.in_htlc_id,
            "out_channel": self.scid(&o.out_channel),
            "in_msat": o.seen.amount_msat,
            "out_msat": o.out_msat,
            "fee_msat": o.seen.amount_msat.saturating_sub(o.out_msat),
            "status": "offered",
            "style": "tlv",
            "received_time": time(o.seen.received),
        });
        if let (Some(id), Some(r)) = (o.out_htlc_id, row.as_object_mut()) {
            r.insert("out_htlc_id".into(), json!(id));
        }
        json!({
            "row": row,
            "payment_hash": hex::encode(o.seen.hash),
            "out_channel_id": o.out_channel.to_string(),
        })
    }

    /// Stores a new record: `Ok(None)` if one with that key was there.
    async fn insert(
        &self,
        key: String,
        record: Value,
    ) -> Result<Option<StoredForward>, ReplayEvent> {
        let fields = Self::fields(record);
        match self
            .storage
            .call(move |s| s.forward_insert(&key, &fields))
            .await
        {
            Ok(Ok(f)) => Ok(f),
            Ok(Err(e)) | Err(e) => {
                tracing::error!("recording a forward: {e}");
                Err(ReplayEvent())
            }
        }
    }

    /// Applies `change` to the record's JSON (declined for a final status: `Ok(None)`).
    async fn update(
        &self,
        key: String,
        change: impl FnOnce(&mut Value) + Send + 'static,
    ) -> Result<Option<StoredForward>, ReplayEvent> {
        if std::env::var_os(DEV_FAIL_UPDATE_ENV).is_some()
            && !DEV_FAILED_UPDATE.swap(true, Ordering::SeqCst)
        {
            tracing::error!("updating a forward: {DEV_FAIL_UPDATE_ENV}: this write fails");
            return Err(ReplayEvent());
        }
        let r = self
            .storage
            .call(move |s| {
                s.forward_update(&key, |old| {
                    if FINAL.contains(&old.status.as_str()) {
                        return None;
                    }
                    let mut rec = old.record.clone();
                    change(&mut rec);
                    Some(Self::fields(rec))
                })
            })
            .await;
        match r {
            Ok(Ok(f)) => {
                // A final status is never changed again, so each settlement counts once.
                if let Some(f) = f.as_ref().filter(|f| f.status == "settled") {
                    self.fees_collected
                        .fetch_add(f.fee_msat.unwrap_or(0), Ordering::Relaxed);
                }
                Ok(f)
            }
            Ok(Err(e)) | Err(e) => {
                tracing::error!("updating a forward: {e}");
                Err(ReplayEvent())
            }
        }
    }

    async fn record_offered(&self, o: Offered) {
        let _w = self.writes.lock().await;
        let record = self.offered_record(&o);
        if let Ok(Some(f)) = self.insert(key(&o.in_channel, o.in_htlc_id), record).await {
            self.notify(&f, true);
        }
    }

    async fn settled(
        &self,
        prev: &[InboundHTLCLocator],
        next: &[OutboundHTLCLocator],
        fee: Option<u64>,
        out_msat: u64,
    ) -> Result<(), ReplayEvent> {
        let _w = self.writes.lock().await;
        let Some(out) = next.first() else {
            return Ok(());
        };
        for p in prev {
            let Some(htlc_id) = p.htlc_id else {
                tracing::warn!("a forward over {} settled without its HTLC id (an event from before LDK 0.3): not recorded", p.channel_id);
                continue;
            };
            let k = key(&p.channel_id, htlc_id);
            let seen = {
                let mut inner = self.inner();
                inner.done.insert((p.channel_id, htlc_id));
                inner.seen.remove(&(p.channel_id, htlc_id))
            };
            let in_msat = p
                .amount_msat
                .or(seen.as_ref().map(|s| s.amount_msat))
                .unwrap_or(out_msat + fee.unwrap_or(0));
            let fee = fee.unwrap_or(in_msat.saturating_sub(out_msat));
            // Never seen offered (it went through between two looks, or before a restart):
            // it is offered now, then settled, as Core Lightning would have told it.
            let existing = match self
                .storage
                .call({
                    let k = k.clone();
                    move |s| s.forward_get(&k)
                })
                .await
            {
                Ok(Ok(e)) => e,
                Ok(Err(e)) | Err(e) => {
                    tracing::error!("reading a forward: {e}");
                    return Err(ReplayEvent());
                }
            };
            if existing.is_none() {
                let o = Offered {
                    in_channel: p.channel_id,
                    in_htlc_id: htlc_id,
                    seen: seen.clone().unwrap_or(Seen {
                        hash: [0; 32],
                        amount_msat: in_msat,
                        received: now(),
                        present: false,
                        forwarded: true,
                    }),
                    out_channel: out.channel_id,
                    out_msat,
                    out_htlc_id: None,
                };
                let mut record = self.offered_record(&o);
                if seen.is_none() {
                    if let Some(r) = record.as_object_mut() {
                        r.remove("payment_hash");
                    }
                }
                if let Some(f) = self.insert(k.clone(), record).await? {
                    self.notify(&f, true);
                }
            }
            let resolved = time(now());
            let out_scid = self.scid(&out.channel_id);
            let f = match self
                .update(k, move |rec| {
                    let row = &mut rec["row"];
                    row["status"] = json!("settled");
                    row["in_msat"] = json!(in_msat);
                    row["out_msat"] = json!(out_msat);
                    row["fee_msat"] = json!(fee);
                    row["out_channel"] = json!(out_scid);
                    row["resolved_time"] = json!(resolved);
                })
                .await?
            {
                Some(f) => {
                    self.notify(&f, false);
                    f
                }
                // Settled before: this is LDK's replay of the event, whose moves may not
                // all have been written (each is written once).
                None => match existing {
                    Some(f) if f.record["row"]["status"] == "settled" => f,
                    _ => continue,
                },
            };
            let hash = f
                .record
                .get("payment_hash")
                .and_then(Value::as_str)
                .map(str::to_string);
            let (moves, in_ch, out_ch) = (self.coin_moves.clone(), p.channel_id, out.channel_id);
            let key = f.key.clone();
            let written = tokio::task::spawn_blocking(move || {
                moves.channel_move(ChannelMove {
                    account_id: in_ch.to_string(),
                    credit_msat: in_msat,
                    debit_msat: 0,
                    primary_tag: "routed".into(),
                    payment_hash: hash.clone(),
                    part: None,
                    fees_msat: fee,
                    key: format!("routed|{key}|in"),
                })?;
                moves.channel_move(ChannelMove {
                    account_id: out_ch.to_string(),
                    credit_msat: 0,
                    debit_msat: out_msat,
                    primary_tag: "routed".into(),
                    payment_hash: hash,
                    part: None,
                    fees_msat: fee,
                    key: format!("routed|{key}|out"),
                })
            })
            .await;
            if !matches!(written, Ok(Ok(()))) {
                return Err(ReplayEvent());
            }
        }
        Ok(())
    }

    /// The pending HTLCs of channel `id` (empty once it is gone).
    fn channel(&self, id: &ChannelId) -> Option<ChannelDetails> {
        crate::channels::off_worker(|| self.ln.manager.list_channels())
            .into_iter()
            .find(|c| &c.channel_id == id)
    }

    async fn failed(
        &self,
        prev: &[ChannelId],
        out: Option<ChannelId>,
        status: &'static str,
        code: Option<u16>,
    ) -> Result<(), ReplayEvent> {
        let _w = self.writes.lock().await;
        if out.is_none() {
            let mut inner = self.inner();
            let gone = inner
                .hook_failed
                .iter()
                .find(|k| prev.contains(&k.0))
                .copied();
            if let Some(k) = gone {
                inner.hook_failed.remove(&k);
                return Ok(());
            }
        }
        let offered = match self.storage.call(|s| s.forwards_offered()).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) | Err(e) => {
                tracing::error!("reading forwards: {e}");
                return Err(ReplayEvent());
            }
        };
        let out_id = out.map(|o| o.to_string());
        let candidates: Vec<StoredForward> = offered
            .into_iter()
            .filter(|f| prev.iter().any(|p| f.key.starts_with(&format!("{p}/"))))
            .filter(|f| {
                out_id.is_none()
                    || f.record.get("out_channel_id").and_then(Value::as_str) == out_id.as_deref()
            })
            .collect();
        // The one whose outgoing HTLC is gone from the next channel.
        let still_out: HashSet<String> = out
            .and_then(|o| self.channel(&o))
            .map(|c| {
                c.pending_outbound_htlcs
                    .iter()
                    .map(|h| hex::encode(h.payment_hash.0))
                    .collect()
            })
            .unwrap_or_default();
        let pick = candidates
            .iter()
            .find(|f| {
                f.record
                    .get("payment_hash")
                    .and_then(Value::as_str)
                    .is_none_or(|h| !still_out.contains(h))
            })
            .or(candidates.first())
            .cloned();
        let resolved = time(now());
        let set_failure = move |row: &mut Value| {
            row["status"] = json!(status);
            if let Some(c) = code {
                row["failcode"] = json!(c);
                row["failreason"] = json!(failcodes::name(c));
            }
            if status == "failed" {
                row["resolved_time"] = json!(resolved);
            }
        };
        if let Some(f) = pick {
            if let Some((ch, id)) = f.key.split_once('/') {
                let id: u64 = id.parse().unwrap_or(0);
                let mut inner = self.inner();
                inner
                    .seen
                    .retain(|k, _| !(k.0.to_string() == ch && k.1 == id));
                let parsed = hex::decode(ch)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok());
                if let Some(b) = parsed {
                    inner.done.insert((ChannelId(b), id));
                }
            }
            if let Some(f) = self
                .update(f.key.clone(), move |rec| set_failure(&mut rec["row"]))
                .await?
            {
                self.notify(&f, false);
            }
            return Ok(());
        }
        // Failed before an outgoing HTLC was offered: the incoming HTLC that is being
        // failed back (or already gone) on one of `prev`, oldest first.
        let Some((in_ch, htlc_id, seen)) = self.failing_incoming(prev) else {
            tracing::debug!(
                "a forward from {prev:?} failed before we saw it: not recorded ({} known)",
                self.inner().seen.len()
            );
            return Ok(());
        };
        let mut row = json!({
            "in_channel": self.scid(&in_ch),
            "in_htlc_id": htlc_id,
            "in_msat": seen.amount_msat,
            "status": status,
            "style": "tlv",
            "received_time": time(seen.received),
        });
        if let Some(o) = out {
            row["out_channel"] = json!(self.scid(&o));
        }
        set_failure(&mut row);
        let record = json!({"row": row, "payment_hash": hex::encode(seen.hash)});
        match self.insert(key(&in_ch, htlc_id), record).await {
            Ok(Some(f)) => self.notify(&f, true),
            Ok(None) => {}
            Err(e) => {
                // Seen again, so LDK's replay finds it.
                let mut inner = self.inner();
                inner.done.remove(&(in_ch, htlc_id));
                inner.seen.insert((in_ch, htlc_id), seen);
                return Err(e);
            }
        }
        Ok(())
    }

    fn failing_incoming(&self, prev: &[ChannelId]) -> Option<(ChannelId, u64, Seen)> {
        let states: HashMap<(ChannelId, u64), Option<InboundHTLCStateDetails>> = prev
            .iter()
            .filter_map(|p| self.channel(p))
            .flat_map(|c| {
                c.pending_inbound_htlcs
                    .iter()
                    .map(|h| ((c.channel_id, h.htlc_id), h.state.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut inner = self.inner();
        let mut c: Vec<(ChannelId, u64, Seen)> = inner
            .seen
            .iter()
            .filter(|(k, s)| prev.contains(&k.0) && !s.forwarded)
            .map(|(k, s)| (k.0, k.1, s.clone()))
            .collect();
        // Being failed back or gone first (its failure may still wait in the holding
        // cell, leaving it committed), then the oldest.
        c.sort_by_key(|(ch, id, s)| {
            let failing = match states.get(&(*ch, *id)) {
                None => true,
                Some(st) => matches!(
                    st,
                    Some(InboundHTLCStateDetails::AwaitingRemoteRevokeToRemoveFail)
                ),
            };
            (!failing, s.received, *id)
        });
        let (ch, id, s) = c.into_iter().next()?;
        inner.seen.remove(&(ch, id));
        inner.done.insert((ch, id));
        Some((ch, id, s))
    }

    /// `listforwards`: the rows `q` selects.
    pub async fn list(&self, q: ForwardQuery) -> Result<Vec<Value>, String> {
        let rows = self
            .storage
            .call(move |s| s.forwards_list(&q))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        Ok(rows.iter().map(Self::row).collect())
    }

    /// `getinfo.fees_collected_msat`: the settled forwards' fees, without asking the store.
    pub fn fees_collected(&self) -> u64 {
        self.fees_collected.load(Ordering::Relaxed)
    }
}

impl ln::HtlcWatch for Forwards {
    fn before_forwards(&self, channels: &[ChannelDetails]) -> bool {
        let t = now();
        let mut inner = self.inner();
        for c in channels {
            if let Some(s) = scid_of(c) {
                inner.scids.insert(c.channel_id, s);
            }
        }
        for s in inner.seen.values_mut() {
            s.present = false;
        }
        let present: HashSet<(ChannelId, u64)> = channels
            .iter()
            .flat_map(|c| {
                c.pending_inbound_htlcs
                    .iter()
                    .map(|h| (c.channel_id, h.htlc_id))
            })
            .collect();
        // HTLC ids are never reused within a channel: once gone, never back.
        inner.done.retain(|k| present.contains(k));
        let mut new = false;
        for c in channels {
            for h in &c.pending_inbound_htlcs {
                if inner.done.contains(&(c.channel_id, h.htlc_id)) {
                    continue;
                }
                let e = inner
                    .seen
                    .entry((c.channel_id, h.htlc_id))
                    .or_insert_with(|| {
                        new = true;
                        Seen {
                            hash: h.payment_hash.0,
                            amount_msat: h.amount_msat,
                            received: t,
                            present: true,
                            forwarded: false,
                        }
                    });
                e.present = true;
            }
        }
        inner
            .seen
            .retain(|_, s| s.present || t.saturating_sub(s.received) < FORGET);
        tracing::trace!(
            "forwarding pass: {} incoming HTLCs known, new: {new}",
            inner.seen.len()
        );
        // One not forwarded yet may be offered in this pass (a plugin let it go).
        new || inner.seen.values().any(|s| s.present && !s.forwarded)
    }

    fn after_forwards(&self, channels: &[ChannelDetails]) {
        let mut out = Vec::new();
        {
            let mut inner = self.inner();
            for c in channels {
                for h in &c.pending_outbound_htlcs {
                    let m = (c.channel_id, h.payment_hash.0, h.amount_msat, h.cltv_expiry);
                    if inner.matched.contains(&m) {
                        continue;
                    }
                    let found = inner
                        .seen
                        .iter()
                        .filter(|(k, s)| {
                            s.hash == h.payment_hash.0 && !s.forwarded && k.0 != c.channel_id
                        })
                        .min_by_key(|(k, s)| (s.received, k.1))
                        .map(|(k, _)| *k);
                    let Some(k) = found else {
                        continue;
                    };
                    inner.matched.insert(m);
                    if let Some(s) = inner.seen.get_mut(&k) {
                        s.forwarded = true;
                        out.push(Offered {
                            in_channel: k.0,
                            in_htlc_id: k.1,
                            seen: s.clone(),
                            out_channel: c.channel_id,
                            out_msat: h.amount_msat,
                            out_htlc_id: h.htlc_id,
                        });
                    }
                }
            }
            // Matches of outgoing HTLCs no longer pending are not needed again.
            let live: HashSet<_> = channels
                .iter()
                .flat_map(|c| {
                    c.pending_outbound_htlcs
                        .iter()
                        .map(|h| (c.channel_id, h.payment_hash.0, h.amount_msat, h.cltv_expiry))
                })
                .collect();
            inner.matched.retain(|m| live.contains(m));
        }
        for o in out {
            let _ = self.offered.send(o);
        }
    }
}

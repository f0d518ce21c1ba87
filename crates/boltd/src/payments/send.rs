//! Our outgoing payments: `pay` on LDK's router, one payment per hash recorded in the
//! store before any HTLC leaves (a second `pay` of the same invoice waits for the first,
//! or gets its result), completed from LDK's `PaymentSent`/`PaymentFailed`, with the
//! `sendpay_success`/`sendpay_failure` notifications.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::PublicKey;
use jsonrpc::RpcError;
use lightning::events::{Event, ReplayEvent};
use lightning::ln::channelmanager::{OptionalBolt11PaymentParams, PaymentId};
use lightning::ln::outbound_payment::{Bolt11PaymentError, RetryableSendFailure};
use lightning::ln::outbound_payment::{RecipientCustomTlvs, RecipientOnionFields, Retry};
use lightning::routing::router::{PaymentParameters, RouteParameters};
use lightning::types::payment::{PaymentPreimage, PaymentSecret};
use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef, Currency};
use ln::Ln;
use plugins::PluginHost;
use serde_json::{json, Value};

use super::failure;
use crate::invoices::Invoices;
use crate::storage::{store_rpc_error, Storage};

mod self_pay;
mod told;

/// `pay`'s error codes (CLN's PAY_* numbers).
pub mod codes {
    pub const IN_PROGRESS: i64 = 200;
    pub const RHASH_ALREADY_USED: i64 = 201;
    pub const NO_SUCH_PAYMENT: i64 = 208;
    pub const UNSPECIFIED: i64 = 209;
    pub const ROUTE_NOT_FOUND: i64 = 205;
    pub const INVOICE_EXPIRED: i64 = 207;
    pub const STOPPED_RETRYING: i64 = 209;
    pub const DESTINATION_PERM_FAIL: i64 = 203;
}

/// The final CLTV delta CLN's keysend uses.
const KEYSEND_FINAL_CLTV: u32 = 42;

/// A payment about to be recorded.
struct Start {
    hash: [u8; 32],
    dest: PublicKey,
    amount: u64,
    created_at: f64,
    label: Option<String>,
    bolt11: Option<String>,
    description: Option<String>,
}

impl Start {
    /// The payment object (§4.5 order) with `created_index` `index`, pending.
    fn record(&self, index: u64) -> Value {
        let fields = PartFields {
            hash: self.hash,
            dest: self.dest,
            amount: self.amount,
            sent: self.amount,
            created_at: self.created_at as u64,
            label: self.label.clone(),
            bolt11: self.bolt11.clone(),
            description: self.description.clone(),
        };
        Value::Object(fields.record(index, 1, 0))
    }
}

/// A change to a stored payment object; true if it finished the part (notify).
type Update = Box<dyn Fn(&mut Value) -> bool + Send>;

/// Internal notes in a stored record (never shown): LDK's payment id of a `sendpay`
/// part, the last attempt's failure, attempts failed, paths that succeeded.
const LDK_ID: &str = "_ldk_id";
const FAIL: &str = "_fail";
const ATTEMPTS: &str = "_attempts";
const PARTS: &str = "_parts";

/// `pay`'s parameters after parsing.
#[derive(Debug, Clone)]
pub struct PayRequest {
    pub bolt11: String,
    pub amount_msat: Option<u64>,
    pub label: Option<String>,
    pub maxfeepercent: f64,
    pub exemptfee_msat: u64,
    pub maxfee_msat: Option<u64>,
    pub retry_for: u64,
    pub maxdelay: u32,
}

pub struct Sender {
    ln: Arc<Ln>,
    storage: Storage,
    plugins: PluginHost,
    our_id: PublicKey,
    currency: Currency,
    /// Our invoices, which a self-payment (`sendpay` with an empty route) pays directly.
    invoices: Arc<Invoices>,
    /// Bumped after every stored change; waiters re-read the store when it moves.
    changed: told::Told,
    /// Parts found at start-up that nothing will ever end ([`Sender::find_unsent`]).
    unsent: std::sync::Mutex<Vec<store::StoredSendpay>>,
}

fn now_secs_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn invalid(msg: impl Into<String>) -> RpcError {
    RpcError::invalid_params(msg.into())
}

/// The fee we accept: `maxfee`, else the larger of `maxfeepercent` of the amount and
/// `exemptfee` (CLN lets any fee under `exemptfee` through).
pub fn fee_budget(amount_msat: u64, r: &PayRequest) -> u64 {
    r.maxfee_msat.unwrap_or_else(|| {
        let pct = (amount_msat as f64 * r.maxfeepercent / 100.0) as u64;
        pct.max(r.exemptfee_msat)
    })
}

impl Sender {
    pub fn new(
        ln: Arc<Ln>,
        storage: Storage,
        plugins: PluginHost,
        our_id: PublicKey,
        currency: Currency,
        invoices: Arc<Invoices>,
    ) -> Self {
        Sender {
            ln,
            storage,
            plugins,
            our_id,
            currency,
            invoices,
            changed: told::Told::new(),
            unsent: std::sync::Mutex::new(Vec::new()),
        }
    }

    async fn store<T, F>(&self, f: F) -> Result<T, RpcError>
    where
        T: Send + 'static,
        F: FnOnce(&mut store::Store) -> Result<T, store::StoreError> + Send + 'static,
    {
        self.storage
            .call(f)
            .await
            .and_then(|r| r)
            .map_err(|e| store_rpc_error(&e))
    }

    /// The stored payment objects (`listsendpays`).
    pub async fn list(&self) -> Result<Vec<Value>, RpcError> {
        Ok(self
            .store(|s| s.sendpays_list())
            .await?
            .into_iter()
            .map(|mut p| {
                strip_internal(&mut p.record);
                p.record
            })
            .collect())
    }

    /// The payment `pay`/`keysend` made of `hash` (group 1, part 0).
    async fn record_of(&self, hash: [u8; 32]) -> Result<Option<Value>, RpcError> {
        Ok(self
            .store(move |s| s.sendpays_of(&hash))
            .await?
            .into_iter()
            .find(|p| (p.groupid, p.partid) == (1, 0))
            .map(|p| p.record))
    }

    /// Replaces a stored record (its `created_index` says which; `changed`: a status
    /// change, which gets an `updated_index`) and wakes the waiters; the record stored.
    async fn put(&self, rec: &Value, changed: bool) -> Result<Value, RpcError> {
        let stored = self.put_untold(rec, changed).await?;
        self.tell();
        Ok(stored)
    }

    /// [`Self::put`] without waking the payment's waiters (the caller does, with
    /// [`Self::tell`]).
    async fn put_untold(&self, rec: &Value, changed: bool) -> Result<Value, RpcError> {
        let index = rec["created_index"]
            .as_u64()
            .ok_or_else(|| RpcError::daemon("payment record without created_index"))?;
        let r = rec.clone();
        self.store(move |s| s.sendpay_update(index, &r, changed))
            .await
    }

    /// Wakes whoever waits on a payment's record (`pay`, `waitsendpay`).
    fn tell(&self) {
        self.changed.any();
    }

    /// Pays a bolt11 invoice and waits for the outcome.
    pub async fn pay(&self, r: PayRequest) -> Result<Value, RpcError> {
        let inv: Bolt11Invoice = r
            .bolt11
            .trim()
            .parse()
            .map_err(|e| invalid(format!("Invalid bolt11: {e}")))?;
        if inv.currency() != self.currency {
            return Err(invalid("Invalid bolt11: Invoice is for another network"));
        }
        let dest = inv.get_payee_pub_key();
        let amount = match (inv.amount_milli_satoshis(), r.amount_msat) {
            (Some(_), Some(_)) => return Err(invalid("msatoshi parameter unnecessary")),
            (None, None) => return Err(invalid("msatoshi parameter required")),
            (Some(a), None) | (None, Some(a)) => a,
        };
        if amount == 0 {
            return Err(invalid("Cannot pay bolt11 invoice with zero amount"));
        }
        let hash = inv.payment_hash().0;
        let description = match inv.description() {
            Bolt11InvoiceDescriptionRef::Direct(d) => Some(d.to_string()),
            Bolt11InvoiceDescriptionRef::Hash(_) => None,
        };
        let expires_at = inv.duration_since_epoch().as_secs() + inv.expiry_time().as_secs();
        if now_secs() >= expires_at {
            if let Some(rec) = self.record_of(hash).await? {
                if rec["status"] == "complete" {
                    return Ok(pay_result(&rec, None));
                }
            }
            return Err(RpcError::new(
                codes::INVOICE_EXPIRED,
                format!("Invoice expired {} seconds ago", now_secs() - expires_at),
            ));
        }
        let created_at = now_secs_f64();
        let start = Start {
            hash,
            dest,
            amount,
            created_at,
            label: r.label.clone(),
            bolt11: Some(r.bolt11.trim().to_string()),
            description,
        };
        if dest == self.our_id {
            return self.pay_self(start).await;
        }
        let begun = self.begin(start).await?;
        match begun {
            // Another `pay` (now or before) owns this hash: its outcome is ours.
            Err(_) => return self.outcome(hash, None).await,
            Ok(_) => self.changed.any(),
        }
        let mut params = OptionalBolt11PaymentParams {
            retry_strategy: Retry::Timeout(Duration::from_secs(r.retry_for)),
            ..Default::default()
        };
        params.route_params_config.max_total_routing_fee_msat = Some(fee_budget(amount, &r));
        params.route_params_config.max_total_cltv_expiry_delta = r.maxdelay;
        let sent = crate::channels::off_worker(|| {
            self.ln
                .manager
                .pay_for_bolt11_invoice(&inv, PaymentId(hash), r.amount_msat, params)
        });
        if let Err(e) = sent {
            self.fail(hash, &format!("{e:?}")).await;
            let why = match e {
                Bolt11PaymentError::SendingFailed(f) => not_sent(&f),
                Bolt11PaymentError::InvalidAmount => "Invalid amount for this invoice",
            };
            return Err(RpcError::new(
                codes::ROUTE_NOT_FOUND,
                format!("Failed: {why}"),
            ));
        }
        self.outcome(hash, Some(created_at)).await
    }

    /// Records a new payment (or a retry of a failed one) before anything is sent;
    /// `Err` (inside `Ok`) when the hash already has a payment that is not failed.
    async fn begin(
        &self,
        st: Start,
    ) -> Result<Result<store::StoredSendpay, store::StoredSendpay>, RpcError> {
        let hash = st.hash;
        self.store(move |s| {
            s.sendpay_add(
                &hash,
                |parts| match parts.iter().find(|p| (p.groupid, p.partid) == (1, 0)) {
                    Some(old) if old.record["status"] == "failed" => {
                        store::Admit::Replace(old.created_index)
                    }
                    Some(old) => store::Admit::Refuse(old.clone()),
                    None => store::Admit::Insert {
                        groupid: 1,
                        partid: 0,
                    },
                },
                |index, _, _| st.record(index),
            )
        })
        .await
    }

    /// Sends `amount_msat` to `dest` without an invoice (keysend) and waits for the outcome.
    #[allow(clippy::too_many_arguments)]
    pub async fn keysend(
        &self,
        dest: PublicKey,
        amount_msat: u64,
        label: Option<String>,
        fees: &PayRequest,
        extratlvs: Vec<(u64, Vec<u8>)>,
    ) -> Result<Value, RpcError> {
        if dest == self.our_id {
            return Err(invalid(
                "We are the destination. Keysend cannot be used to send funds to yourself",
            ));
        }
        let tlvs = RecipientCustomTlvs::new(extratlvs).map_err(|_| {
            invalid("extratlvs: not usable as custom TLVs (types must be >= 65536, unique)")
        })?;
        let preimage: [u8; 32] = rand::random();
        let hash = sha256::Hash::hash(&preimage).to_byte_array();
        let created_at = now_secs_f64();
        let start = Start {
            hash,
            dest,
            amount: amount_msat,
            created_at,
            label,
            bolt11: None,
            description: None,
        };
        if self.begin(start).await?.is_err() {
            return Err(RpcError::daemon("payment hash collision".to_string()));
        }
        self.changed.any();
        let mut pp = PaymentParameters::for_keysend(dest, KEYSEND_FINAL_CLTV, false);
        pp.max_total_cltv_expiry_delta = fees.maxdelay;
        let mut route = RouteParameters::from_payment_params_and_value(pp, amount_msat);
        route.max_total_routing_fee_msat = Some(fee_budget(amount_msat, fees));
        let onion = RecipientOnionFields::spontaneous_empty(amount_msat).with_custom_tlvs(tlvs);
        let sent = crate::channels::off_worker(|| {
            self.ln.manager.send_spontaneous_payment(
                Some(PaymentPreimage(preimage)),
                onion,
                PaymentId(hash),
                route,
                Retry::Timeout(Duration::from_secs(fees.retry_for)),
            )
        });
        if let Err(e) = sent {
            self.fail(hash, &format!("{e:?}")).await;
            return Err(RpcError::new(
                codes::ROUTE_NOT_FOUND,
                format!("Failed: {}", not_sent(&e)),
            ));
        }
        self.outcome(hash, Some(created_at)).await
    }

    /// Marks the payment of `hash` failed before it left.
    async fn fail(&self, hash: [u8; 32], why: &str) {
        if let Ok(Some(mut rec)) = self.record_of(hash).await {
            rec["status"] = json!("failed");
            rec["completed_at"] = json!(now_secs());
            rec["failure"] = json!(why);
            let _ = self.put(&rec, true).await;
            tracing::info!("payment {} failed: {why}", hex::encode(hash));
        }
    }

    /// The parts left pending by a kill before LDK's manager knew of them durably: a
    /// payment's first manager write and the monitor update of its HTLC are one commit
    /// (write_order.rs in `ln`), so after a kill before it LDK has no such payment, nothing
    /// of it left the node, and nothing would ever end it. Read at start-up before any
    /// RPC can begin a payment (LDK's manager, read back, is what is known); ended by
    /// [`Self::fail_unsent`] once plugins' `init` allows writes.
    pub async fn find_unsent(&self) -> Result<(), RpcError> {
        use lightning::ln::channelmanager::RecentPaymentDetails as R;
        let known: std::collections::HashSet<PaymentId> = self
            .ln
            .manager
            .list_recent_payments()
            .into_iter()
            .map(|p| match p {
                R::AwaitingInvoice { payment_id }
                | R::Pending { payment_id, .. }
                | R::Fulfilled { payment_id, .. }
                | R::Abandoned { payment_id, .. } => payment_id,
            })
            .collect();
        let parts = self.store(|s| s.sendpays_list()).await?;
        let unsent = parts
            .into_iter()
            .filter(|p| p.record["status"] == "pending" && !known.contains(&ldk_id(p)))
            .collect();
        if let Ok(mut u) = self.unsent.lock() {
            *u = unsent;
        }
        Ok(())
    }

    /// Ends, as failed, the parts [`Self::find_unsent`] found.
    pub async fn fail_unsent(&self) {
        let unsent = match self.unsent.lock() {
            Ok(mut u) => std::mem::take(&mut *u),
            Err(_) => return,
        };
        for p in unsent {
            let mut rec = p.record.clone();
            if self.paid_self(&mut rec).await {
                continue;
            }
            rec["status"] = json!("failed");
            rec["completed_at"] = json!(now_secs());
            rec["failure"] = json!(UNSENT);
            if let Err(e) = self.put(&rec, true).await {
                tracing::error!(
                    "payment {} part {}: {UNSENT}, but recording it failed: {e:?}",
                    hex::encode(p.payment_hash),
                    p.partid
                );
                continue;
            }
            tracing::info!(
                "payment {} part {}: {UNSENT}",
                hex::encode(p.payment_hash),
                p.partid
            );
        }
    }

    /// Waits until the payment of `hash` is no longer pending: `pay`'s result or error.
    async fn outcome(&self, hash: [u8; 32], created_at: Option<f64>) -> Result<Value, RpcError> {
        let mut rx = self.changed.watch(hash);
        loop {
            rx.mark();
            let rec = self
                .record_of(hash)
                .await?
                .ok_or_else(|| RpcError::daemon("payment record vanished".to_string()))?;
            match rec["status"].as_str() {
                Some("complete") => return Ok(pay_result(&rec, created_at)),
                Some("failed") => return Err(pay_error(&rec)),
                _ => {}
            }
            if rx.changed().await.is_err() {
                return Err(RpcError::daemon("shutting down".to_string()));
            }
        }
    }

    /// LDK's outcome events for our payments: `None` if `event` is not one, else LDK's
    /// answer (`Err` when the outcome could not be recorded: LDK hands it over again).
    pub async fn on_event(self: &Arc<Self>, event: &Event) -> Option<Result<(), ReplayEvent>> {
        let (hash, id, update): (Option<[u8; 32]>, Option<PaymentId>, Update) = match event {
            Event::PaymentSent {
                payment_id,
                payment_hash,
                payment_preimage,
                fee_paid_msat,
                ..
            } => {
                let (pre, fee) = (payment_preimage.0, *fee_paid_msat);
                (
                    Some(payment_hash.0),
                    *payment_id,
                    Box::new(move |rec: &mut Value| {
                        if rec["status"] != "pending" {
                            return false;
                        }
                        rec["status"] = json!("complete");
                        if let (Some(amount), Some(fee)) = (rec["amount_msat"].as_u64(), fee) {
                            rec["amount_sent_msat"] = json!(amount + fee);
                        }
                        rec["completed_at"] = json!(now_secs());
                        rec["payment_preimage"] = json!(hex::encode(pre));
                        true
                    }),
                )
            }
            Event::PaymentPathSuccessful {
                payment_id,
                payment_hash,
                ..
            } => (
                payment_hash.map(|h| h.0),
                Some(*payment_id),
                Box::new(|rec: &mut Value| {
                    let n = rec[PARTS].as_u64().unwrap_or(0);
                    rec[PARTS] = json!(n + 1);
                    false
                }),
            ),
            Event::PaymentPathFailed {
                payment_id,
                payment_hash,
                payment_failed_permanently,
                failure,
                path,
                short_channel_id,
                ..
            } => {
                let f = failure::from_path_failed(
                    self.our_id,
                    path,
                    *payment_failed_permanently,
                    failure,
                    *short_channel_id,
                );
                (
                    Some(payment_hash.0),
                    *payment_id,
                    Box::new(move |rec: &mut Value| {
                        let n = rec[ATTEMPTS].as_u64().unwrap_or(0);
                        rec[ATTEMPTS] = json!(n + 1);
                        rec[FAIL] = f.to_json();
                        false
                    }),
                )
            }
            Event::PaymentFailed {
                payment_id,
                payment_hash,
                reason,
            } => {
                let why = reason.map(|r| format!("{r:?}")).unwrap_or_default();
                (
                    payment_hash.map(|h| h.0),
                    Some(*payment_id),
                    Box::new(move |rec: &mut Value| {
                        if rec["status"] != "pending" {
                            return false;
                        }
                        rec["status"] = json!("failed");
                        rec["completed_at"] = json!(now_secs());
                        rec["failure"] = json!(why.clone());
                        true
                    }),
                )
            }
            _ => return None,
        };
        let sent = matches!(event, Event::PaymentSent { .. });
        if sent {
            super::crash_point("sent_before_record");
        }
        // The part is read and updated in one job, queued before LDK gets its answer and
        // committed before the manager write that consumes the event (after_commit.rs):
        // the loop does not wait for either.
        let read_and_update = move |s: &mut store::Store| {
            let Some(part) = part_of(s, hash, id)? else {
                return Ok::<_, store::StoreError>(None);
            };
            let mut rec = part.record;
            let finished = update(&mut rec);
            if sent {
                super::crash_point_delayed("sent_record_queued");
            }
            let stored = s.sendpay_update(part.created_index, &rec, finished)?;
            Ok(Some((stored, finished, part.payment_hash)))
        };
        let me = self.clone();
        let then = move |r: Result<Option<(Value, bool, [u8; 32])>, String>| {
            let (mut rec, finished, paid_hash) = match r {
                Ok(Some(done)) => done,
                Ok(None) => return,
                // The store stopped: the daemon shuts down and LDK hands the event over
                // again at the next start.
                Err(e) => {
                    tracing::warn!(
                        "cannot record payment {}: {e}",
                        hash.map(hex::encode).unwrap_or_default()
                    );
                    return;
                }
            };
            if sent && finished {
                super::crash_point("sent_after_record");
            }
            // Waiters are told after the crash knob's point, so "after the record" is
            // before anyone acted on it (else `pay` could answer before the payer dies).
            me.changed.about(paid_hash);
            if !finished {
                return;
            }
            match rec["status"].as_str() {
                Some("complete") => {
                    strip_internal(&mut rec);
                    me.plugins.notify("sendpay_success", rec)
                }
                _ => {
                    let e = failure_error(&rec);
                    me.plugins.notify(
                        "sendpay_failure",
                        json!({"code": e.code, "message": e.message, "data": e.data}),
                    )
                }
            }
        };
        if let Err(e) = self.storage.record_then(read_and_update, then).await {
            tracing::warn!("cannot record payment: {e}");
            return Some(Err(ReplayEvent()));
        }
        Some(Ok(()))
    }

    /// `sendpay`: records the part, then hands LDK the route; answers once it is on its
    /// way (pending) or was refused.
    pub async fn sendpay(&self, r: SendpayRequest) -> Result<Value, RpcError> {
        if r.partid != 0 && r.amount_msat.is_none() {
            return Err(invalid("Must specify msatoshi with partid"));
        }
        let (Some(first), Some(last)) = (r.route.first(), r.route.last()) else {
            return self.self_payment(r).await;
        };
        let final_msat = last.amount_msat;
        if r.partid != 0 && r.payment_secret.is_none() {
            return Err(invalid("partid requires payment_secret"));
        }
        if let Some(a) = r.amount_msat {
            if r.partid == 0 && a != final_msat {
                return Err(invalid(format!(
                    "Do not specify msatoshi ({a}msat) without partid: if you do, it must be exactly the final amount ({final_msat}msat)"
                )));
            }
            if final_msat > a {
                return Err(invalid(format!(
                    "Final amount {final_msat}msat is greater than {a}msat, despite MPP"
                )));
            }
        }
        ln::check_hops(&r.route).map_err(|e| invalid(format!("route: {e}")))?;
        let usable = crate::channels::off_worker(|| self.ln.manager.list_usable_channels());
        let first_ok = usable.iter().any(|c| {
            c.counterparty.node_id == first.id
                && [
                    c.short_channel_id,
                    c.outbound_scid_alias,
                    c.inbound_scid_alias,
                ]
                .contains(&Some(first.channel))
        });
        if !first_ok {
            let f = failure::RouteFailure::no_first_peer(self.our_id, &first.id);
            let mut data = serde_json::Map::new();
            f.add_to(&mut data);
            return Err(RpcError::new(f.code, "No connection to first peer found")
                .with_data(Value::Object(data)));
        }
        let total = r.amount_msat.unwrap_or(final_msat);
        let hash = r.hash;
        let (partid, dest, sent) = (r.partid, last.id, first.amount_msat);
        let (label, bolt11, description) =
            (r.label.clone(), r.bolt11.clone(), r.description.clone());
        let want_group = r.groupid;
        let created_at = now_secs();
        let fields = PartFields {
            hash,
            dest,
            amount: final_msat,
            sent,
            created_at,
            label,
            bolt11,
            description,
        };
        let added = self
            .store(move |s| {
                s.sendpay_add(
                    &hash,
                    |parts| admit(parts, want_group, partid, final_msat, &dest, total),
                    |index, groupid, partid| {
                        let mut o = fields.record(index, groupid, partid);
                        o.insert(
                            LDK_ID.into(),
                            json!(hex::encode(sendpay_id(&hash, groupid, partid).0)),
                        );
                        Value::Object(o)
                    },
                )
            })
            .await?;
        let part = match added {
            Ok(p) => p,
            Err(Refusal::Error(e)) => return Err(e),
            Err(Refusal::Same(p)) => return self.sendpay_answer(p.record),
        };
        self.changed.any();
        let mut onion = match r.payment_secret {
            Some(s) => RecipientOnionFields::secret_only(PaymentSecret(s), total),
            None => RecipientOnionFields::spontaneous_empty(total),
        };
        onion.payment_metadata = r.payment_metadata;
        let id = sendpay_id(&hash, part.groupid, part.partid);
        let sent = crate::channels::off_worker(|| self.ln.send_hops(&r.route, hash, onion, id))
            .map_err(|e| invalid(format!("route: {e}")))?;
        if let Err(e) = sent {
            let f = failure::RouteFailure {
                detail: format!("First peer not ready: {e:?}"),
                failcode: failure::TEMPORARY_CHANNEL_FAILURE,
                erring_channel: Some(first.channel),
                ..failure::RouteFailure::no_first_peer(self.our_id, &first.id)
            };
            return Err(self.fail_part(part.record, &f, None).await?);
        }
        self.sendpay_answer(part.record)
    }

    /// Records a part failed with `f` (and LDK's `reason`, if any), tells
    /// `sendpay_failure`; the error its waiters get.
    async fn fail_part(
        &self,
        mut rec: Value,
        f: &failure::RouteFailure,
        reason: Option<&str>,
    ) -> Result<RpcError, RpcError> {
        rec["status"] = json!("failed");
        rec["completed_at"] = json!(now_secs());
        if let Some(r) = reason {
            rec["failure"] = json!(r);
        }
        rec[FAIL] = f.to_json();
        let rec = self.put(&rec, true).await?;
        let e = failure_error(&rec);
        self.plugins.notify(
            "sendpay_failure",
            json!({"code": e.code, "message": e.message, "data": e.data}),
        );
        Ok(e)
    }

    /// `sendpay`'s answer for a part: pending with the monitoring hint, else as stored.
    fn sendpay_answer(&self, mut rec: Value) -> Result<Value, RpcError> {
        match rec["status"].as_str() {
            Some("failed") => Err(failure_error(&rec)),
            Some("pending") => {
                strip_internal(&mut rec);
                if let Some(o) = rec.as_object_mut() {
                    o.insert(
                        "message".into(),
                        json!("Monitor status with listpays or waitsendpay"),
                    );
                }
                Ok(rec)
            }
            _ => {
                strip_internal(&mut rec);
                Ok(rec)
            }
        }
    }

    /// `waitsendpay`: the part once it is complete, its failure once failed, or
    /// `Timed out while waiting` after `timeout` seconds.
    pub async fn waitsendpay(
        &self,
        hash: [u8; 32],
        timeout: Option<u64>,
        partid: u64,
        groupid: Option<u64>,
    ) -> Result<Value, RpcError> {
        let deadline = timeout.map(|t| tokio::time::Instant::now() + Duration::from_secs(t));
        let mut rx = self.changed.watch(hash);
        loop {
            rx.mark();
            let parts = self.store(move |s| s.sendpays_of(&hash)).await?;
            let group =
                groupid.unwrap_or_else(|| parts.iter().map(|p| p.groupid).max().unwrap_or(0));
            let Some(part) = parts
                .into_iter()
                .find(|p| (p.groupid, p.partid) == (group, partid))
            else {
                return Err(RpcError::new(
                    codes::NO_SUCH_PAYMENT,
                    format!(
                        "Never attempted payment part {partid} for '{}'",
                        hex::encode(hash)
                    ),
                ));
            };
            let mut rec = part.record;
            match rec["status"].as_str() {
                Some("complete") => {
                    strip_internal(&mut rec);
                    return Ok(rec);
                }
                Some("failed") => return Err(failure_error(&rec)),
                _ => {}
            }
            let changed = rx.changed();
            let ok = match deadline {
                Some(d) => match tokio::time::timeout_at(d, changed).await {
                    Ok(r) => r.is_ok(),
                    Err(_) => {
                        return Err(RpcError::new(codes::IN_PROGRESS, "Timed out while waiting"))
                    }
                },
                None => changed.await.is_ok(),
            };
            if !ok {
                return Err(RpcError::daemon("shutting down".to_string()));
            }
        }
    }
}

/// `sendpay`'s parameters after parsing.
#[derive(Debug, Clone)]
pub struct SendpayRequest {
    pub route: Vec<ln::Hop>,
    pub hash: [u8; 32],
    pub label: Option<String>,
    pub amount_msat: Option<u64>,
    pub bolt11: Option<String>,
    pub payment_secret: Option<[u8; 32]>,
    pub partid: u64,
    pub groupid: Option<u64>,
    pub payment_metadata: Option<Vec<u8>>,
    pub description: Option<String>,
}

/// A new `sendpay` part's fields, before the store numbers it.
struct PartFields {
    hash: [u8; 32],
    dest: PublicKey,
    /// What reaches the destination, and what leaves us.
    amount: u64,
    sent: u64,
    created_at: u64,
    label: Option<String>,
    bolt11: Option<String>,
    description: Option<String>,
}

impl PartFields {
    /// The payment object (§4.5 order), pending.
    fn record(&self, index: u64, groupid: u64, partid: u64) -> serde_json::Map<String, Value> {
        let mut o = serde_json::Map::new();
        o.insert("created_index".into(), json!(index));
        o.insert("id".into(), json!(index));
        o.insert("payment_hash".into(), json!(hex::encode(self.hash)));
        o.insert("groupid".into(), json!(groupid));
        if partid != 0 {
            o.insert("partid".into(), json!(partid));
        }
        o.insert("destination".into(), json!(self.dest.to_string()));
        o.insert("amount_msat".into(), json!(self.amount));
        o.insert("amount_sent_msat".into(), json!(self.sent));
        o.insert("created_at".into(), json!(self.created_at));
        o.insert("status".into(), json!("pending"));
        if let Some(l) = &self.label {
            o.insert("label".into(), json!(l));
        }
        if let Some(b) = &self.bolt11 {
            o.insert("bolt11".into(), json!(b));
        }
        if let Some(d) = &self.description {
            o.insert("description".into(), json!(d));
        }
        o
    }
}

/// Why `sendpay` records nothing: an error, or an identical part that exists already.
pub enum Refusal {
    Error(RpcError),
    Same(store::StoredSendpay),
}

fn msat(a: u64) -> String {
    format!("{a}msat")
}

/// Core Lightning's rules for a new part of `hash` against its earlier parts
/// (lightningd/pay.c `check_progress`): at most one group in flight, parallel and
/// non-parallel parts never mixed, nothing new once a part succeeded, a repeat of a
/// pending or complete part answers that part.
pub fn admit(
    parts: &[store::StoredSendpay],
    groupid: Option<u64>,
    partid: u64,
    amount: u64,
    dest: &PublicKey,
    total: u64,
) -> store::Admit<Refusal> {
    use store::Admit;
    let group = groupid.unwrap_or_else(|| parts.iter().map(|p| p.groupid).max().unwrap_or(0) + 1);
    let fail = |code: i64, m: String| Admit::Refuse(Refusal::Error(RpcError::new(code, m)));
    let dest_s = dest.to_string();
    let mut complete = false;
    let mut pending_sum = 0u64;
    for p in parts {
        let rec = &p.record;
        let their_amount = rec["amount_msat"].as_u64().unwrap_or(0);
        let other_dest = rec["destination"].as_str().filter(|d| *d != dest_s);
        match rec["status"].as_str() {
            Some("complete") => {
                complete = true;
                if p.partid != partid {
                    continue;
                }
                if their_amount != amount {
                    return fail(
                        codes::RHASH_ALREADY_USED,
                        format!(
                            "Already succeeded with amount {} (not {})",
                            msat(their_amount),
                            msat(amount)
                        ),
                    );
                }
                if let Some(d) = other_dest {
                    return fail(
                        codes::RHASH_ALREADY_USED,
                        format!("Already succeeded to {d}"),
                    );
                }
                return Admit::Refuse(Refusal::Same(p.clone()));
            }
            Some("pending") => {
                if p.groupid != group {
                    return fail(
                        codes::IN_PROGRESS,
                        format!(
                            "Payment with groupid={} still in progress, cannot retry before that completes.",
                            p.groupid
                        ),
                    );
                }
                if (p.partid == 0) != (partid == 0) {
                    return fail(
                        codes::IN_PROGRESS,
                        format!(
                            "Already have {} payment in progress",
                            if p.partid != 0 {
                                "parallel"
                            } else {
                                "non-parallel"
                            }
                        ),
                    );
                }
                if p.partid == partid {
                    if their_amount != amount {
                        return fail(
                            codes::RHASH_ALREADY_USED,
                            format!(
                                "Already pending with amount {} (not {})",
                                msat(their_amount),
                                msat(amount)
                            ),
                        );
                    }
                    if let Some(d) = other_dest {
                        return fail(codes::RHASH_ALREADY_USED, format!("Already pending to {d}"));
                    }
                    return Admit::Refuse(Refusal::Same(p.clone()));
                }
                pending_sum = pending_sum.saturating_add(their_amount);
            }
            _ => {}
        }
        if p.partid == partid && p.groupid == group {
            return fail(
                codes::RHASH_ALREADY_USED,
                format!(
                    "There already is a payment with payment_hash={}, groupid={group}, partid={partid}. Either change the partid, or wait for the payment to complete and start a new group.",
                    hex::encode(p.payment_hash)
                ),
            );
        }
    }
    if complete {
        return fail(
            codes::RHASH_ALREADY_USED,
            "Already succeeded other parts".into(),
        );
    }
    if total != 0 && pending_sum >= total {
        return fail(
            codes::IN_PROGRESS,
            format!(
                "Already have {} of {} payments in progress",
                msat(pending_sum),
                msat(total)
            ),
        );
    }
    Admit::Insert {
        groupid: group,
        partid,
    }
}

/// Why LDK sent nothing, in words.
fn not_sent(e: &RetryableSendFailure) -> &'static str {
    match e {
        RetryableSendFailure::RouteNotFound => "Could not find a route",
        RetryableSendFailure::PaymentExpired => "Invoice expired",
        RetryableSendFailure::DuplicatePayment => "A payment of this hash is already under way",
        RetryableSendFailure::OnionPacketSizeExceeded => {
            "The onion would be too large (too much extratlvs or route hint data)"
        }
    }
}

/// Why a part left pending by a kill before anything of it was durable failed.
const UNSENT: &str = "not sent: the node stopped before the payment was written";

/// LDK's payment id of a `sendpay` part: its own per (hash, group, part), never a
/// hash `pay` uses as its id.
pub fn sendpay_id(hash: &[u8; 32], groupid: u64, partid: u64) -> PaymentId {
    let mut b = Vec::with_capacity(7 + 32 + 16);
    b.extend_from_slice(b"sendpay");
    b.extend_from_slice(hash);
    b.extend_from_slice(&groupid.to_be_bytes());
    b.extend_from_slice(&partid.to_be_bytes());
    PaymentId(sha256::Hash::hash(&b).to_byte_array())
}

/// The LDK payment id of a stored part (`pay` and `keysend` use the hash).
fn ldk_id(p: &store::StoredSendpay) -> PaymentId {
    p.record[LDK_ID]
        .as_str()
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(PaymentId)
        .unwrap_or(PaymentId(p.payment_hash))
}

/// The stored part LDK's payment `id` (or, without one, the pending part of `hash`) is
/// about. On the store thread: inside the job that acts on it.
fn part_of(
    s: &mut store::Store,
    hash: Option<[u8; 32]>,
    id: Option<PaymentId>,
) -> Result<Option<store::StoredSendpay>, store::StoreError> {
    let rows = match hash {
        Some(h) => s.sendpays_of(&h)?,
        None => s.sendpays_list()?,
    };
    Ok(rows.into_iter().rev().find(|r| match id {
        Some(id) => ldk_id(r) == id,
        None => r.record["status"] == "pending",
    }))
}

/// `(part_id, group_id)` of the stored part LDK's payment `id` is about, for its coin
/// movements: a `sendpay` part's own, or for a `pay`/`keysend` split by LDK the number of
/// the path that succeeded (counted from 1). On the store thread, in the job recording the
/// move, so it sees every record queued before it.
pub fn part_numbers(
    s: &mut store::Store,
    hash: Option<[u8; 32]>,
    id: PaymentId,
) -> Result<Option<(u64, u64)>, store::StoreError> {
    Ok(part_of(s, hash, Some(id))?.map(|p| {
        let r = &p.record;
        let group = r["groupid"].as_u64().unwrap_or(1);
        match r["partid"].as_u64() {
            Some(part) if part != 0 => (part, group),
            _ => (r[PARTS].as_u64().unwrap_or(0) + 1, group),
        }
    }))
}

/// The error `waitsendpay` (and `sendpay_failure`) gives for a failed part: its
/// recorded failure, with the payment object and failure fields as `data`.
pub fn failure_error(rec: &Value) -> RpcError {
    let fail = rec[FAIL].clone();
    let mut data = rec.clone();
    strip_internal(&mut data);
    let Some(code) = fail["code"].as_i64() else {
        return RpcError::new(codes::UNSPECIFIED, "Payment failure reason unknown").with_data(data);
    };
    if let (Some(d), Value::Object(f)) = (data.as_object_mut(), &fail) {
        for (k, v) in f {
            if k != "code" && k != "message" {
                d.insert(k.clone(), v.clone());
            }
        }
    }
    RpcError::new(code, fail["message"].as_str().unwrap_or("failed")).with_data(data)
}

/// `pay`'s error for a failed payment (xpay's codes): 203 when the destination refused
/// it, 207 when the invoice expired meanwhile, 205 when no route was ever found, else
/// 209 with the number of attempts and the last failure. The `data` is the payment
/// object with the last failure's fields, as legacy `pay` gives.
pub fn pay_error(rec: &Value) -> RpcError {
    let reason = rec["failure"].as_str().unwrap_or_default().to_string();
    let attempts = rec[ATTEMPTS].as_u64().unwrap_or(0);
    let last = failure_error(rec);
    let data = last.data.clone();
    let fail = &rec[FAIL];
    let (code, message) =
        if fail["code"] == codes::DESTINATION_PERM_FAIL || reason == "RecipientRejected" {
            let name = fail["failcodename"]
                .as_str()
                .unwrap_or("WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS");
            (
                codes::DESTINATION_PERM_FAIL,
                format!("Destination said it doesn't know invoice: {name}"),
            )
        } else if reason == "PaymentExpired" {
            (codes::INVOICE_EXPIRED, "Invoice expired".to_string())
        } else if attempts == 0 {
            (
                codes::ROUTE_NOT_FOUND,
                format!(
                    "Failed: {}",
                    if reason.is_empty() {
                        "Could not find a route"
                    } else {
                        reason.as_str()
                    }
                ),
            )
        } else {
            (
                codes::STOPPED_RETRYING,
                format!(
                    "Failed after {attempts} attempts. Last failure: {}",
                    last.message
                ),
            )
        };
    let e = RpcError::new(code, message);
    match data {
        Some(d) => e.with_data(d),
        None => e,
    }
}

/// Takes our internal notes (keys starting with `_`, and `failure`: why LDK gave up)
/// out of a stored payment object; returns the `failure` text.
fn strip_internal(rec: &mut Value) -> Option<String> {
    let o = rec.as_object_mut()?;
    o.retain(|k, _| !k.starts_with('_'));
    o.remove("failure")
        .and_then(|v| v.as_str().map(str::to_string))
}

/// `pay`'s success shape (§4.3) from a completed payment object.
pub fn pay_result(rec: &Value, created_at: Option<f64>) -> Value {
    // `pay` answers a float even when it waited on another caller's payment, whose
    // record keeps listsendpays' whole seconds.
    let created = created_at
        .or_else(|| rec["created_at"].as_f64())
        .map(|c| json!(c))
        .unwrap_or_else(|| rec["created_at"].clone());
    json!({
        "payment_preimage": rec["payment_preimage"],
        "payment_hash": rec["payment_hash"],
        "destination": rec["destination"],
        "created_at": created,
        // Paths LDK reported successful by now; at least the one that brought the
        // preimage (LDK reports paths only after their HTLCs are fully removed).
        "parts": rec[PARTS].as_u64().unwrap_or(0).max(1),
        "amount_msat": rec["amount_msat"],
        "amount_sent_msat": rec["amount_sent_msat"],
        "status": "complete",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(status: &str) -> Value {
        json!({"created_index": 1, "id": 1, "payment_hash": "00", "groupid": 1,
               "amount_msat": 1000, "amount_sent_msat": 1001, "created_at": 5,
               "destination": dest().to_string(), "status": status})
    }

    fn part(groupid: u64, partid: u64, status: &str, amount: u64) -> store::StoredSendpay {
        let mut r = rec(status);
        r["amount_msat"] = json!(amount);
        store::StoredSendpay {
            created_index: groupid * 10 + partid,
            payment_hash: [0; 32],
            groupid,
            partid,
            record: r,
        }
    }

    fn dest() -> PublicKey {
        "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619"
            .parse()
            .unwrap()
    }

    fn refused(a: store::Admit<Refusal>) -> (i64, String) {
        match a {
            store::Admit::Refuse(Refusal::Error(e)) => (e.code, e.message),
            _ => panic!("not refused"),
        }
    }

    #[test]
    fn pay_failures_map_to_xpay_codes_with_the_last_failure_as_data() {
        let mut r = rec("failed");
        r["failure"] = json!("RecipientRejected");
        r[ATTEMPTS] = json!(1);
        r[FAIL] = json!({"code": 203, "message": "failed: X (reply from remote)",
                         "failcode": 16399,
                         "failcodename": "WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS",
                         "erring_index": 1});
        let e = pay_error(&r);
        assert_eq!(e.code, 203);
        assert_eq!(
            e.message,
            "Destination said it doesn't know invoice: WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS"
        );
        let d = e.data.unwrap();
        assert_eq!(
            (d["erring_index"].clone(), d["status"].clone()),
            (json!(1), json!("failed"))
        );
        assert!(d.get(FAIL).is_none() && d.get("failure").is_none());

        let mut r = rec("failed");
        r["failure"] = json!("RetriesExhausted");
        r[ATTEMPTS] = json!(3);
        r[FAIL] = json!({"code": 204, "message": "failed: WIRE_TEMPORARY_CHANNEL_FAILURE (reply from remote)",
                         "failcode": 4103, "erring_index": 1});
        let e = pay_error(&r);
        assert_eq!(e.code, 209);
        assert!(e
            .message
            .starts_with("Failed after 3 attempts. Last failure: failed: WIRE_TEMPORARY"));

        let mut r = rec("failed");
        r["failure"] = json!("RouteNotFound");
        assert_eq!(pay_error(&r).code, 205);
        r["failure"] = json!("PaymentExpired");
        assert_eq!(pay_error(&r).code, 207);
        // waitsendpay on a part without a recorded failure.
        assert_eq!(failure_error(&rec("failed")).code, 209);
    }

    #[test]
    fn sendpay_admits_parts_as_cln_does() {
        let d = dest();
        // Nothing yet: group 1; after group 1, the default is group 2.
        assert!(matches!(
            admit(&[], None, 0, 1000, &d, 1000),
            store::Admit::Insert {
                groupid: 1,
                partid: 0
            }
        ));
        let failed = [part(1, 0, "failed", 1000)];
        assert!(matches!(
            admit(&failed, None, 0, 1000, &d, 1000),
            store::Admit::Insert {
                groupid: 2,
                partid: 0
            }
        ));
        let (c, m) = refused(admit(&failed, Some(1), 0, 1000, &d, 1000));
        assert_eq!(c, 201);
        assert!(
            m.starts_with("There already is a payment with payment_hash="),
            "{m}"
        );
        // A pending group blocks a new one; the same part again is that part.
        let pending = [part(1, 0, "pending", 1000)];
        let (c, m) = refused(admit(&pending, None, 0, 1000, &d, 1000));
        assert_eq!(
            (c, m.as_str()),
            (
                200,
                "Payment with groupid=1 still in progress, cannot retry before that completes."
            )
        );
        assert!(matches!(
            admit(&pending, Some(1), 0, 1000, &d, 1000),
            store::Admit::Refuse(Refusal::Same(_))
        ));
        let (c, m) = refused(admit(&pending, Some(1), 0, 999, &d, 999));
        assert_eq!(
            (c, m.as_str()),
            (201, "Already pending with amount 1000msat (not 999msat)")
        );
        let (_, m) = refused(admit(&pending, Some(1), 2, 500, &d, 1000));
        assert_eq!(m, "Already have non-parallel payment in progress");
        // Parallel parts add up to the total.
        let parts = [part(1, 1, "pending", 600), part(1, 2, "pending", 400)];
        let (c, m) = refused(admit(&parts, Some(1), 3, 100, &d, 1000));
        assert_eq!(
            (c, m.as_str()),
            (
                200,
                "Already have 1000msat of 1000msat payments in progress"
            )
        );
        // Once a part succeeded, nothing new.
        let done = [part(1, 1, "complete", 600)];
        let (_, m) = refused(admit(&done, Some(1), 2, 400, &d, 1000));
        assert_eq!(m, "Already succeeded other parts");
        let (_, m) = refused(admit(&done, Some(1), 1, 500, &d, 1000));
        assert_eq!(m, "Already succeeded with amount 600msat (not 500msat)");
    }
}

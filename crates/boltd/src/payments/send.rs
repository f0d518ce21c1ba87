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
use lightning::ln::outbound_payment::{RecipientCustomTlvs, RecipientOnionFields, Retry};
use lightning::routing::router::{PaymentParameters, RouteParameters};
use lightning::types::payment::PaymentPreimage;
use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef, Currency};
use ln::Ln;
use plugins::PluginHost;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::storage::{store_rpc_error, Storage};

/// `pay`'s error codes (CLN's PAY_* numbers).
pub mod codes {
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
        let mut o = serde_json::Map::new();
        o.insert("created_index".into(), json!(index));
        o.insert("id".into(), json!(index));
        o.insert("payment_hash".into(), json!(hex::encode(self.hash)));
        o.insert("groupid".into(), json!(1));
        o.insert("destination".into(), json!(self.dest.to_string()));
        o.insert("amount_msat".into(), json!(self.amount));
        o.insert("amount_sent_msat".into(), json!(self.amount));
        o.insert("created_at".into(), json!(self.created_at as u64));
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
        Value::Object(o)
    }
}

/// A change to a stored payment object.
type Update = Box<dyn Fn(&mut Value) + Send>;

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
    /// Bumped after every stored change; waiters re-read the store when it moves.
    changed: watch::Sender<u64>,
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
    ) -> Self {
        Sender {
            ln,
            storage,
            plugins,
            our_id,
            currency,
            changed: watch::channel(0).0,
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

    async fn record_of(&self, hash: [u8; 32]) -> Result<Option<Value>, RpcError> {
        Ok(self
            .store(|s| s.sendpays_list())
            .await?
            .into_iter()
            .find(|p| p.payment_hash == hash)
            .map(|p| p.record))
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
        if dest == self.our_id {
            return Err(invalid("Invalid bolt11: This is our own invoice"));
        }
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
        let begun = self.begin(start).await?;
        match begun {
            // Another `pay` (now or before) owns this hash: its outcome is ours.
            Err(_) => return self.outcome(hash, None).await,
            Ok(_) => self.changed.send_modify(|n| *n += 1),
        }
        let mut params = OptionalBolt11PaymentParams {
            retry_strategy: Retry::Timeout(Duration::from_secs(r.retry_for)),
            ..Default::default()
        };
        params.route_params_config.max_total_routing_fee_msat = Some(fee_budget(amount, &r));
        params.route_params_config.max_total_cltv_expiry_delta = r.maxdelay;
        let sent =
            self.ln
                .manager
                .pay_for_bolt11_invoice(&inv, PaymentId(hash), r.amount_msat, params);
        if let Err(e) = sent {
            self.fail(hash, &format!("{e:?}")).await;
            return Err(RpcError::new(
                codes::ROUTE_NOT_FOUND,
                format!("Failed: {e:?}"),
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
            s.sendpay_begin(
                &hash,
                |old| old.record["status"] == "failed",
                |index| st.record(index),
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
        self.changed.send_modify(|n| *n += 1);
        let mut pp = PaymentParameters::for_keysend(dest, KEYSEND_FINAL_CLTV, false);
        pp.max_total_cltv_expiry_delta = fees.maxdelay;
        let mut route = RouteParameters::from_payment_params_and_value(pp, amount_msat);
        route.max_total_routing_fee_msat = Some(fee_budget(amount_msat, fees));
        let onion = RecipientOnionFields::spontaneous_empty(amount_msat).with_custom_tlvs(tlvs);
        let sent = self.ln.manager.send_spontaneous_payment(
            Some(PaymentPreimage(preimage)),
            onion,
            PaymentId(hash),
            route,
            Retry::Timeout(Duration::from_secs(fees.retry_for)),
        );
        if let Err(e) = sent {
            self.fail(hash, &format!("{e:?}")).await;
            return Err(RpcError::new(
                codes::ROUTE_NOT_FOUND,
                format!("Failed: {e:?}"),
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
            let r = rec.clone();
            if self
                .store(move |s| s.sendpay_update(&hash, &r))
                .await
                .is_ok()
            {
                self.changed.send_modify(|n| *n += 1);
            }
            tracing::info!("payment {} failed: {why}", hex::encode(hash));
        }
    }

    /// Waits until the payment of `hash` is no longer pending: `pay`'s result or error.
    async fn outcome(&self, hash: [u8; 32], created_at: Option<f64>) -> Result<Value, RpcError> {
        let mut rx = self.changed.subscribe();
        loop {
            rx.borrow_and_update();
            let rec = self
                .record_of(hash)
                .await?
                .ok_or_else(|| RpcError::daemon("payment record vanished".to_string()))?;
            match rec["status"].as_str() {
                Some("complete") => return Ok(pay_result(&rec, created_at)),
                Some("failed") => {
                    return Err(RpcError::new(
                        codes::STOPPED_RETRYING,
                        format!(
                            "Failed after {} attempts. {}",
                            1,
                            rec["failure"].as_str().unwrap_or("Payment failed")
                        ),
                    ))
                }
                _ => {}
            }
            if rx.changed().await.is_err() {
                return Err(RpcError::daemon("shutting down".to_string()));
            }
        }
    }

    /// LDK's outcome events for our payments: `None` if `event` is not one, else LDK's
    /// answer (`Err` when the outcome could not be recorded: LDK hands it over again).
    pub async fn on_event(&self, event: &Event) -> Option<Result<(), ReplayEvent>> {
        let (hash, update): ([u8; 32], Update) = match event {
            Event::PaymentSent {
                payment_hash,
                payment_preimage,
                fee_paid_msat,
                ..
            } => {
                let (pre, fee) = (payment_preimage.0, fee_paid_msat.unwrap_or(0));
                (
                    payment_hash.0,
                    Box::new(move |rec: &mut Value| {
                        let amount = rec["amount_msat"].as_u64().unwrap_or(0);
                        rec["status"] = json!("complete");
                        rec["amount_sent_msat"] = json!(amount + fee);
                        rec["completed_at"] = json!(now_secs());
                        rec["payment_preimage"] = json!(hex::encode(pre));
                    }),
                )
            }
            Event::PaymentFailed {
                payment_id, reason, ..
            } => {
                let why = reason.map(|r| format!("{r:?}")).unwrap_or_default();
                (
                    payment_id.0,
                    Box::new(move |rec: &mut Value| {
                        rec["status"] = json!("failed");
                        rec["completed_at"] = json!(now_secs());
                        rec["failure"] = json!(why.clone());
                    }),
                )
            }
            _ => return None,
        };
        let mut rec = match self.record_of(hash).await {
            Ok(Some(rec)) => rec,
            Ok(None) => return Some(Ok(())),
            Err(_) => return Some(Err(ReplayEvent())),
        };
        if rec["status"] != "pending" {
            return Some(Ok(()));
        }
        let sent = matches!(event, Event::PaymentSent { .. });
        if sent {
            super::crash_point("sent_before_record");
        }
        update(&mut rec);
        let stored = rec.clone();
        if let Err(e) = self.store(move |s| s.sendpay_update(&hash, &stored)).await {
            tracing::warn!("cannot record payment {}: {e:?}", hex::encode(hash));
            return Some(Err(ReplayEvent()));
        }
        if sent {
            super::crash_point("sent_after_record");
        }
        self.changed.send_modify(|n| *n += 1);
        let failure = strip_internal(&mut rec);
        match failure {
            None => self.plugins.notify("sendpay_success", rec),
            Some(why) => self.plugins.notify(
                "sendpay_failure",
                json!({
                    "code": codes::STOPPED_RETRYING,
                    "message": format!("failed: {why}"),
                    "data": rec,
                }),
            ),
        }
        Some(Ok(()))
    }
}

/// Takes our own `failure` note (why LDK gave up) out of a stored payment object.
fn strip_internal(rec: &mut Value) -> Option<String> {
    rec.as_object_mut()
        .and_then(|o| o.remove("failure"))
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
        "parts": 1,
        "amount_msat": rec["amount_msat"],
        "amount_sent_msat": rec["amount_sent_msat"],
        "status": "complete",
    })
}

//! Invoices we issue and their life: created (real BOLT 11, LDK's payment secret, our
//! preimage stored before the client hears of the invoice), listed, waited on, deleted,
//! expired by the clock, paid once. The commands in `commands/` parse and render; this
//! holds the rules and the waiters. The `ln` side plugs in twice: route hints for
//! private channels ([`RouteHintSource`]) and, on a claimable payment, [`Invoices::preimage`]
//! then [`Invoices::mark_paid`].
//!
//! Why here and not in `ln`: invoices need the store, the node key and the plugin host
//! (the `invoice_creation` notification) but no channel state, and must work (create,
//! list, wait, expire) whether or not channels exist; `ln` depends on this, not the
//! reverse.

pub mod amount;
pub mod create;
pub mod decode;
pub mod ldk_events;
pub mod receive;
pub mod render;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bitcoin::{Address, Network};
use jsonrpc::RpcError;
use lightning::sign::EntropySource;
use lightning_invoice::{Fallback, RouteHint};
use plugins::PluginHost;
use serde_json::{json, Value};
use store::{InvoiceError, InvoiceOrder, NewInvoice, StoredInvoice};
use tokio::sync::watch;

use crate::storage::{store_rpc_error, Storage};

/// Core Lightning's invoice error codes (common/jsonrpc_errors.h).
pub mod codes {
    pub const LABEL_ALREADY_EXISTS: i64 = 900;
    pub const PREIMAGE_ALREADY_EXISTS: i64 = 901;
    pub const HINTS_GAVE_NO_ROUTES: i64 = 902;
    pub const EXPIRED_DURING_WAIT: i64 = 903;
    pub const WAIT_TIMED_OUT: i64 = 904;
    pub const NOT_FOUND: i64 = 905;
    pub const STATUS_UNEXPECTED: i64 = 906;
    pub const NO_DESCRIPTION: i64 = 908;
}

/// lightningd's `cltv-final` default (the invoice's `c` is raised to LDK's minimum, see
/// [`create::final_cltv`]).
pub const DEFAULT_CLTV: u32 = 18;

/// `exposeprivatechannels` as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expose {
    /// Not given: private channels only when there is nothing better (CLN's default).
    Default,
    /// `true` / `false`.
    All(bool),
    /// Only these channels (short channel ids).
    Only(Vec<u64>),
}

/// What a [`RouteHintSource`] found for one invoice.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    pub hints: Vec<RouteHint>,
    /// CLN's `warning_*` fields (name, fixed text), in its order.
    pub warnings: Vec<(&'static str, &'static str)>,
}

/// CLN's text for "no incoming capacity" (also: no channels at all).
pub const WARNING_CAPACITY: (&str, &str) = (
    "warning_capacity",
    "Insufficient incoming channel capacity to pay invoice",
);

/// `Expose::Only` named channels none of which can be used (902).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("None of those hints were suitable local channels")]
pub struct NoSuitableHints;

/// Route hints for `invoice` from our channels: the `ln` crate implements it once
/// channels exist.
pub trait RouteHintSource: Send + Sync {
    fn route_hints(
        &self,
        amount_msat: Option<u64>,
        expose: &Expose,
    ) -> Result<Hints, NoSuitableHints>;
}

/// `invoice`'s parameters after parsing.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub amount_msat: Option<u64>,
    pub label: String,
    pub description: String,
    pub expiry: u64,
    pub fallbacks: Vec<String>,
    pub preimage: Option<[u8; 32]>,
    pub expose: Expose,
    pub cltv: u32,
    pub deschashonly: bool,
}

/// Which invoices `listinvoices` wants.
#[derive(Debug, Clone)]
pub enum Select {
    All {
        order: InvoiceOrder,
        start: u64,
        limit: Option<u64>,
    },
    Label(String),
    Hash([u8; 32]),
    /// A selector that can match nothing we store (a BOLT 12 `offer_id`).
    Nothing,
}

/// How long the invoice made for a received keysend is valid (it is paid at once; one
/// week like any invoice, so a payment LDK replays after a restart still finds it).
pub const KEYSEND_EXPIRY: u64 = 604_800;

/// Seconds since the epoch, now.
pub fn now() -> u64 {
    now_exact().as_secs()
}

pub(crate) fn now_exact() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// How long until second `at` begins (zero if it has).
fn until(at: u64) -> Duration {
    Duration::from_secs(at).saturating_sub(now_exact())
}

fn invoice_rpc_error(e: &InvoiceError) -> RpcError {
    let code = match e {
        InvoiceError::PreimageUsed => codes::PREIMAGE_ALREADY_EXISTS,
        InvoiceError::DuplicateLabel(_) => codes::LABEL_ALREADY_EXISTS,
        InvoiceError::NotFound => codes::NOT_FOUND,
        InvoiceError::NoDescription => codes::NO_DESCRIPTION,
        InvoiceError::NotUnpaid => jsonrpc::codes::LIGHTNINGD,
        InvoiceError::Store(s) => return store_rpc_error(s),
    };
    RpcError::new(code, e.to_string())
}

/// The invoices service: one per daemon, shared by the commands and (later) `ln`.
pub struct Invoices {
    storage: Storage,
    keys: keys::Keys,
    network: Network,
    plugins: PluginHost,
    /// Bumped after every change a waiter may be waiting for (paid, deleted); waiters
    /// re-read the store when it moves, so no change between a read and the wait is lost.
    changed: watch::Sender<u64>,
    /// Route hints from our channels, once `ln` provides them.
    hints: RwLock<Option<Arc<dyn RouteHintSource>>>,
    /// Payment hashes decided for claiming and not yet recorded, with when: a second
    /// payment for the same invoice meanwhile is refused. An entry older than
    /// [`CLAIM_WINDOW`] is stale (LDK gave up the claim) and ignored.
    claiming: Mutex<HashMap<[u8; 32], Instant>>,
    /// `delinvoice` calls so far, counted before each one's store job is queued: a
    /// decision that read an invoice, then waited on a plugin, reads it again only if
    /// this moved meanwhile (a deletion queued after its read).
    deletions: AtomicU64,
}

/// How long a decided claim may take to be confirmed by LDK before another payment for
/// the same invoice is considered again.
const CLAIM_WINDOW: Duration = Duration::from_secs(600);

impl Invoices {
    pub fn new(storage: Storage, keys: keys::Keys, network: Network, plugins: PluginHost) -> Self {
        Invoices {
            storage,
            keys,
            network,
            plugins,
            changed: watch::channel(0).0,
            hints: RwLock::new(None),
            claiming: Mutex::new(HashMap::new()),
            deletions: AtomicU64::new(0),
        }
    }

    /// Marks `hash` as being claimed; false if it already is (and not stale).
    fn claiming_start(&self, hash: [u8; 32]) -> bool {
        let Ok(mut c) = self.claiming.lock() else {
            return false;
        };
        c.retain(|_, at| at.elapsed() < CLAIM_WINDOW);
        if c.contains_key(&hash) {
            return false;
        }
        c.insert(hash, Instant::now());
        true
    }

    /// `delinvoice` calls so far (see `deletions`).
    fn deletions(&self) -> u64 {
        self.deletions.load(Ordering::SeqCst)
    }

    /// The claim of `hash` ended (recorded, or refused before it was claimed).
    fn claiming_done(&self, hash: &[u8; 32]) {
        if let Ok(mut c) = self.claiming.lock() {
            c.remove(hash);
        }
    }

    /// Lets `ln` supply route hints for private channels.
    pub fn set_route_hints(&self, source: Arc<dyn RouteHintSource>) {
        if let Ok(mut h) = self.hints.write() {
            *h = Some(source);
        }
    }

    pub fn network(&self) -> Network {
        self.network
    }

    fn route_hints(&self, amount_msat: Option<u64>, expose: &Expose) -> Result<Hints, RpcError> {
        let source = self.hints.read().ok().and_then(|h| h.clone());
        let found = match source {
            Some(s) => s.route_hints(amount_msat, expose),
            // No channels: named ones cannot be used, and nobody can pay us yet.
            None if matches!(expose, Expose::Only(_)) => Err(NoSuitableHints),
            None => Ok(Hints {
                hints: vec![],
                warnings: vec![WARNING_CAPACITY],
            }),
        };
        found.map_err(|e| RpcError::new(codes::HINTS_GAVE_NO_ROUTES, e.to_string()))
    }

    fn fallbacks(&self, given: &[String]) -> Result<Vec<Fallback>, RpcError> {
        given
            .iter()
            .map(|a| {
                let unchecked = a
                    .parse::<Address<_>>()
                    .map_err(|_| RpcError::daemon("Fallback address not valid"))?;
                let addr = unchecked.require_network(self.network).map_err(|_| {
                    RpcError::daemon(format!(
                        "Fallback address does not match our network {}",
                        network_name(self.network)
                    ))
                })?;
                create::fallback_of(&addr)
                    .ok_or_else(|| RpcError::daemon("Fallback address not valid"))
            })
            .collect()
    }

    /// `invoice`: builds, stores (durably) and announces a new invoice; the result object.
    pub async fn create(&self, req: CreateRequest) -> Result<Value, RpcError> {
        let fallbacks = self.fallbacks(&req.fallbacks)?;
        let hints = self.route_hints(req.amount_msat, &req.expose)?;
        let manager = self.keys.manager();
        let preimage = req
            .preimage
            .unwrap_or_else(|| manager.get_secure_random_bytes());
        let spec = create::InvoiceSpec {
            amount_msat: req.amount_msat,
            description: req.description.clone(),
            deschashonly: req.deschashonly,
            expiry: req.expiry,
            preimage,
            cltv: req.cltv,
            fallbacks,
            route_hints: hints.hints,
            plugin_features: self.plugins.features().get("invoice").to_vec(),
        };
        let network = self.network;
        let built = create::build(&manager, network, &spec, now())
            .map_err(|e| RpcError::daemon(e.to_string()))?;
        let new = NewInvoice {
            label: req.label.clone(),
            bolt11: built.bolt11.clone(),
            payment_hash: built.payment_hash,
            preimage,
            payment_secret: built.payment_secret,
            amount_msat: req.amount_msat,
            description: Some(req.description),
            expires_at: built.expires_at,
        };
        let stored = self
            .storage
            .call(move |s| s.invoice_insert(&new))
            .await
            .map_err(|e| store_rpc_error(&e))?
            .map_err(|e| invoice_rpc_error(&e))?;
        if self.plugins.anyone_cares("invoice_creation") {
            let mut n = serde_json::Map::new();
            if let Some(a) = req.amount_msat {
                n.insert("msat".into(), json!(a));
            }
            n.insert("preimage".into(), json!(hex::encode(preimage)));
            n.insert("label".into(), json!(req.label));
            self.plugins.notify("invoice_creation", Value::Object(n));
        }
        let mut out = serde_json::Map::new();
        out.insert(
            "payment_hash".into(),
            json!(hex::encode(built.payment_hash)),
        );
        out.insert("expires_at".into(), json!(built.expires_at));
        out.insert("bolt11".into(), json!(built.bolt11));
        out.insert(
            "payment_secret".into(),
            json!(hex::encode(built.payment_secret)),
        );
        out.insert("created_index".into(), json!(stored.created_index));
        for (k, v) in hints.warnings {
            out.insert(k.into(), json!(v));
        }
        Ok(Value::Object(out))
    }

    async fn read<T, F>(&self, f: F) -> Result<T, RpcError>
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

    /// `listinvoices`.
    pub async fn list(&self, select: Select) -> Result<Vec<StoredInvoice>, RpcError> {
        match select {
            Select::All {
                order,
                start,
                limit,
            } => {
                self.read(move |s| s.invoices_list(order, start, limit))
                    .await
            }
            Select::Label(l) => {
                let found = self.read(move |s| s.invoice_by_label(&l)).await?;
                Ok(found.into_iter().collect())
            }
            Select::Hash(h) => {
                let found = self.read(move |s| s.invoice_by_hash(&h)).await?;
                Ok(found.into_iter().collect())
            }
            Select::Nothing => Ok(vec![]),
        }
    }

    pub async fn by_label(&self, label: String) -> Result<Option<StoredInvoice>, RpcError> {
        self.read(move |s| s.invoice_by_label(&label)).await
    }

    /// `delinvoice`: checks the status the caller expects, then deletes the invoice (or
    /// only its description) and returns it.
    pub async fn delete(
        &self,
        label: String,
        expected: String,
        desconly: bool,
    ) -> Result<Value, RpcError> {
        let now = now();
        // Counted before the job is queued: a read queued after this count sees the
        // deletion (one store queue), one queued before it sees the count move.
        self.deletions.fetch_add(1, Ordering::SeqCst);
        // Look, check and delete in one store job: no payment can be recorded between the
        // status check and the delete.
        let done = self
            .storage
            .call(move |s| -> Result<StoredInvoice, RpcError> {
                let inv = s
                    .invoice_by_label(&label)
                    .map_err(|e| store_rpc_error(&e))?
                    .ok_or_else(|| invoice_rpc_error(&InvoiceError::NotFound))?;
                let actual = render::status(&inv, now);
                if actual != expected {
                    return Err(RpcError::new(
                        codes::STATUS_UNEXPECTED,
                        format!("Invoice status is {actual} not {expected}"),
                    )
                    .with_data(json!({"current_status": actual, "expected_status": expected})));
                }
                if desconly {
                    s.invoice_delete_description(&label)
                } else {
                    s.invoice_delete(&label)
                }
                .map_err(|e| invoice_rpc_error(&e))
            })
            .await
            .map_err(|e| store_rpc_error(&e))??;
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        Ok(render::invoice_json(&done, now))
    }

    /// `waitinvoice`: the invoice once paid; 903 once expired; an error if deleted.
    pub async fn wait_label(&self, label: String) -> Result<Value, RpcError> {
        let mut rx = self.changed.subscribe();
        let mut first = true;
        loop {
            rx.borrow_and_update();
            let Some(inv) = self.by_label(label.clone()).await? else {
                return Err(RpcError::daemon(if first {
                    "Label not found"
                } else {
                    "Invoice deleted during wait"
                }));
            };
            first = false;
            let now = now();
            match render::status(&inv, now) {
                "paid" => return Ok(render::invoice_json(&inv, now)),
                "expired" => {
                    return Err(RpcError::new(
                        codes::EXPIRED_DURING_WAIT,
                        "invoice expired during wait",
                    )
                    .with_data(render::invoice_json(&inv, now)))
                }
                _ => {}
            }
            // Long expiries are waited for in steps (a timer far in the future is
            // pointless: something will change first, or we check again).
            let nap = until(inv.expires_at).min(Duration::from_secs(3600));
            tokio::select! {
                r = rx.changed() => if r.is_err() {
                    return Err(RpcError::daemon("Invoice deleted during wait"));
                },
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }

    /// `waitanyinvoice`: the first invoice paid with `pay_index` above `lastpay_index`.
    pub async fn wait_any(
        &self,
        lastpay_index: u64,
        timeout: Option<u64>,
    ) -> Result<Value, RpcError> {
        let mut rx = self.changed.subscribe();
        let deadline = timeout
            .map(|t| tokio::time::Instant::now() + Duration::from_secs(t.min(u64::from(u32::MAX))));
        loop {
            rx.borrow_and_update();
            if let Some(inv) = self
                .read(move |s| s.invoice_paid_after(lastpay_index))
                .await?
            {
                return Ok(render::invoice_json(&inv, now()));
            }
            let timed_out = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = rx.changed() => if r.is_err() {
                    return Err(RpcError::daemon("Shutting down"));
                },
                _ = timed_out => {
                    return Err(RpcError::new(
                        codes::WAIT_TIMED_OUT,
                        "Timed out while waiting for invoice to be paid",
                    ))
                }
            }
        }
    }

    /// The invoice with this payment hash, if we issued one.
    pub async fn by_hash(&self, payment_hash: [u8; 32]) -> Result<Option<StoredInvoice>, RpcError> {
        self.read(move |s| s.invoice_by_hash(&payment_hash)).await
    }

    /// Our preimage for a payment hash we issued (what `ln` claims a payment with).
    pub async fn preimage(&self, payment_hash: [u8; 32]) -> Result<Option<[u8; 32]>, RpcError> {
        Ok(self
            .read(move |s| s.invoice_by_hash(&payment_hash))
            .await?
            .map(|i| i.preimage))
    }

    /// Records that the invoice with this hash was paid `amount_msat` (durable before it
    /// returns; at most once: a second call fails), wakes the waiters and sends the
    /// `invoice_payment` notification. `ln` calls it once the claim is decided.
    pub async fn mark_paid(
        &self,
        payment_hash: [u8; 32],
        amount_msat: u64,
    ) -> Result<StoredInvoice, InvoiceError> {
        let at = now();
        let inv = self
            .storage
            .call(move |s| s.invoice_mark_paid(&payment_hash, amount_msat, at))
            .await
            .map_err(InvoiceError::Store)??;
        self.told_paid(&inv, amount_msat);
        Ok(inv)
    }

    /// An invoice's payment is durable: its waiters and the `invoice_payment`
    /// notification are told.
    pub(crate) fn told_paid(&self, inv: &StoredInvoice, amount_msat: u64) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        if self.plugins.anyone_cares("invoice_payment") {
            self.plugins.notify(
                "invoice_payment",
                json!({
                    "msat": amount_msat,
                    "preimage": hex::encode(inv.preimage),
                    "label": inv.label,
                }),
            );
        }
    }
}

/// lightningd's name for a network (messages).
pub fn network_name(n: Network) -> &'static str {
    match n {
        Network::Bitcoin => "bitcoin",
        Network::Testnet => "testnet",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        _ => "regtest",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::{sha256, Hash};

    pub(super) async fn service(dir: &std::path::Path) -> Arc<Invoices> {
        let storage = Storage::open(
            dir.join("lightningd.sqlite3"),
            None,
            crate::shutdown::Shutdown::new(),
        )
        .await
        .unwrap();
        let (host, _events) =
            PluginHost::new(plugins::HostConfig::new(dir.to_path_buf(), "regtest"));
        Arc::new(Invoices::new(
            storage,
            keys::Keys::from_secret([9; 32]),
            Network::Regtest,
            host,
        ))
    }

    pub(super) fn req(label: &str, expiry: u64) -> CreateRequest {
        CreateRequest {
            amount_msat: Some(5000),
            label: label.into(),
            description: "d".into(),
            expiry,
            fallbacks: vec![],
            preimage: None,
            expose: Expose::Default,
            cltv: DEFAULT_CLTV,
            deschashonly: false,
        }
    }

    pub(super) fn hash_of(created: &Value) -> [u8; 32] {
        hex::decode(created["payment_hash"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    }

    /// The path `ln` takes on a claimable payment: our preimage for the hash, then the
    /// invoice marked paid once; both kinds of waiter wake with the paid invoice.
    #[tokio::test]
    async fn paid_once_wakes_waiters_and_stays_paid() {
        let d = tempfile::tempdir().unwrap();
        let inv = service(d.path()).await;
        let created = inv.create(req("x", 3600)).await.unwrap();
        let hash = hash_of(&created);
        let pre = inv.preimage(hash).await.unwrap().unwrap();
        assert_eq!(sha256::Hash::hash(&pre).to_byte_array(), hash);
        assert_eq!(inv.preimage([0; 32]).await.unwrap(), None);

        let w1 = tokio::spawn({
            let inv = inv.clone();
            async move { inv.wait_label("x".into()).await }
        });
        let w2 = tokio::spawn({
            let inv = inv.clone();
            async move { inv.wait_any(0, None).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!w1.is_finished() && !w2.is_finished());

        let paid = inv.mark_paid(hash, 5001).await.unwrap();
        assert_eq!(paid.pay_index, Some(1));
        for w in [w1, w2] {
            let v = tokio::time::timeout(Duration::from_secs(5), w)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(v["status"], "paid");
            assert_eq!(v["pay_index"], 1);
            assert_eq!(v["amount_received_msat"], 5001);
            assert_eq!(v["payment_preimage"], hex::encode(pre));
        }
        assert!(matches!(
            inv.mark_paid(hash, 5001).await,
            Err(InvoiceError::NotUnpaid)
        ));
        let e = inv.wait_any(1, Some(0)).await.unwrap_err();
        assert_eq!(e.code, codes::WAIT_TIMED_OUT);
        // Already paid: waitinvoice answers at once.
        assert_eq!(inv.wait_label("x".into()).await.unwrap()["status"], "paid");
        let e = inv
            .delete("x".into(), "unpaid".into(), false)
            .await
            .unwrap_err();
        assert_eq!(e.code, codes::STATUS_UNEXPECTED);
        inv.delete("x".into(), "paid".into(), false).await.unwrap();
    }

    /// An invoice expiring ends its waits with 903; a payment arriving then is refused.
    #[tokio::test]
    async fn an_invoice_expiring_while_waited_on_ends_the_wait_and_is_not_taken() {
        let d = tempfile::tempdir().unwrap();
        let inv = service(d.path()).await;
        let created = inv.create(req("soon", 1)).await.unwrap();
        let e = tokio::time::timeout(Duration::from_secs(5), inv.wait_label("soon".into()))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(e.code, codes::EXPIRED_DURING_WAIT);
        let d = inv
            .on_claimable(hash_of(&created), 5000, Duration::from_secs(5))
            .await;
        assert!(matches!(
            d,
            receive::Decision::Fail {
                why: receive::Refusal::Expired(_),
                ..
            }
        ));
    }

    /// `ln`'s path: decide (no plugin: claim), one payment at a time per invoice,
    /// record once on the claim, refuse later payments, replays change nothing.
    #[tokio::test]
    async fn claimable_then_claimed_records_once() {
        let d = tempfile::tempdir().unwrap();
        let inv = service(d.path()).await;
        let created = inv.create(req("c", 3600)).await.unwrap();
        let hash = hash_of(&created);
        let long = Duration::from_secs(5);
        let pre = match inv.on_claimable(hash, 5000, long).await {
            receive::Decision::Claim { preimage } => preimage,
            other => panic!("{other:?}"),
        };
        assert_eq!(sha256::Hash::hash(&pre).to_byte_array(), hash);
        assert!(matches!(
            inv.on_claimable(hash, 5000, long).await,
            receive::Decision::Fail {
                why: receive::Refusal::Claiming(_),
                ..
            }
        ));
        assert!(matches!(
            inv.on_claimable(hash, 4999, long).await,
            receive::Decision::Fail {
                why: receive::Refusal::Underpaid { .. },
                ..
            }
        ));
        assert!(matches!(
            inv.on_claimable([5; 32], 4999, long).await,
            receive::Decision::Fail {
                why: receive::Refusal::Unknown,
                ..
            }
        ));
        inv.on_claimed(hash, 5000, 2).await.unwrap();
        // Replayed after a restart: nothing changes.
        inv.on_claimed(hash, 5000, 2).await.unwrap();
        let [row] = &inv.list(Select::Label("c".into())).await.unwrap()[..] else {
            panic!()
        };
        assert_eq!(
            (row.pay_index, row.amount_received_msat),
            (Some(1), Some(5000))
        );
        assert!(matches!(
            inv.on_claimable(hash, 5000, long).await,
            receive::Decision::Fail {
                why: receive::Refusal::Paid(_),
                ..
            }
        ));
    }

    /// A received keysend becomes an invoice (CLN's label and description), is decided
    /// and recorded like any payment; LDK replaying it reuses that invoice.
    #[tokio::test]
    async fn keysend_becomes_an_invoice_then_is_paid_once() {
        let d = tempfile::tempdir().unwrap();
        let inv = service(d.path()).await;
        let long = Duration::from_secs(5);
        let pre = [0x5a; 32];
        let hash = sha256::Hash::hash(&pre).to_byte_array();
        let dec = inv.on_keysend(pre, 777, Some("hello".into()), long).await;
        assert_eq!(dec, receive::Decision::Claim { preimage: pre });
        let all = inv
            .list(Select::All {
                order: InvoiceOrder::Created,
                start: 0,
                limit: None,
            })
            .await
            .unwrap();
        let [k] = &all[..] else { panic!("{all:?}") };
        assert!(k.label.starts_with("keysend-"), "{}", k.label);
        let (secs, nanos) = k.label["keysend-".len()..].split_once('.').unwrap();
        assert!(secs.parse::<u64>().is_ok() && nanos.len() == 9);
        assert_eq!(k.description.as_deref(), Some("keysend: hello"));
        assert_eq!((k.amount_msat, k.payment_hash), (None, hash));
        // Replayed before the claim was recorded: same invoice, still being claimed.
        assert!(matches!(
            inv.on_keysend(pre, 777, None, long).await,
            receive::Decision::Fail {
                why: receive::Refusal::Claiming(_),
                ..
            }
        ));
        inv.on_claimed(hash, 777, 1).await.unwrap();
        let [k] = &inv.list(Select::Hash(hash)).await.unwrap()[..] else {
            panic!()
        };
        assert_eq!(k.amount_received_msat, Some(777));
        assert_eq!(inv.list(Select::Hash(hash)).await.unwrap().len(), 1);
        assert!(matches!(
            inv.on_keysend(pre, 777, None, long).await,
            receive::Decision::Fail {
                why: receive::Refusal::Paid(_),
                ..
            }
        ));
    }

    /// A plugin with the `invoice_payment` hook, in a mode of `invoice_payment_hook.py`
    /// (None without the test venv).
    async fn with_hook_plugin(inv: &Invoices, dir: &std::path::Path, mode: &str) -> Option<()> {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = repo.join(".venv/bin/python3");
        if !python.exists() {
            eprintln!("skipped: no test venv");
            return None;
        }
        let copy = dir.join("payhook.py");
        std::fs::copy(repo.join("tests/plugins/invoice_payment_hook.py"), &copy).unwrap();
        std::fs::write(dir.join("payhook.py.mode"), mode).unwrap();
        let path = dir.join("payhook");
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\nexec {} {} \"$@\"\n",
                python.display(),
                copy.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        inv.plugins
            .load_startup(vec![plugins::PluginSpec {
                path,
                important: false,
            }])
            .await
            .unwrap();
        assert!(inv.plugins.init_all().await.is_empty());
        Some(())
    }

    /// The hook decides: reject and failure_message fail the payment (mapped to what
    /// LDK can send); a plugin slower than the deadline fails it, naming the plugin;
    /// continue claims it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn invoice_payment_hook_decides_within_the_deadline() {
        let d = tempfile::tempdir().unwrap();
        let inv = service(d.path()).await;
        if with_hook_plugin(&inv, d.path(), "reject").await.is_none() {
            return;
        }
        let hash = hash_of(&inv.create(req("h", 3600)).await.unwrap());
        let long = Duration::from_secs(20);
        match inv.on_claimable(hash, 5000, long).await {
            receive::Decision::Fail { code, why } => {
                assert_eq!(code, receive::FailWith::IncorrectOrUnknownPaymentDetails);
                assert_eq!(why, receive::Refusal::Rejected("h".into()));
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(d.path().join("payhook.py.mode"), "fail:2002").unwrap();
        match inv.on_claimable(hash, 5000, long).await {
            receive::Decision::Fail { code, .. } => {
                assert_eq!(code, receive::FailWith::TemporaryNodeFailure)
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(d.path().join("payhook.py.mode"), "slow:3").unwrap();
        match inv
            .on_claimable(hash, 5000, Duration::from_millis(500))
            .await
        {
            receive::Decision::Fail {
                why: receive::Refusal::HookTimeout { plugins, .. },
                ..
            } => assert!(plugins.contains("payhook"), "{plugins}"),
            other => panic!("{other:?}"),
        }
        // The slow reply arrives late and is ignored; a later payment is decided anew.
        std::fs::write(d.path().join("payhook.py.mode"), "continue").unwrap();
        assert!(matches!(
            inv.on_claimable(hash, 5000, long).await,
            receive::Decision::Claim { .. }
        ));
    }

    /// An invoice deleted while the hook holds its payment is not claimed, though the
    /// plugin says continue; one left alone is claimed without a second look.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_invoice_deleted_while_the_hook_runs_is_not_claimed() {
        let d = tempfile::tempdir().unwrap();
        let inv = service(d.path()).await;
        if with_hook_plugin(&inv, d.path(), "slow:1").await.is_none() {
            return;
        }
        // The payment of `hash` decided on a task; `label` deleted while the hook holds it.
        let decide_deleting = |hash: [u8; 32], label: &str| {
            let (inv, label) = (inv.clone(), label.to_string());
            async move {
                let deciding = {
                    let inv = inv.clone();
                    tokio::spawn(async move {
                        inv.on_claimable(hash, 5000, Duration::from_secs(20)).await
                    })
                };
                tokio::time::sleep(Duration::from_millis(300)).await;
                inv.delete(label, "unpaid".into(), false).await.unwrap();
                deciding.await.unwrap()
            }
        };
        let hash = hash_of(&inv.create(req("gone", 3600)).await.unwrap());
        match decide_deleting(hash, "gone").await {
            receive::Decision::Fail { why, .. } => assert_eq!(why, receive::Refusal::Unknown),
            other => panic!("{other:?}"),
        }
        // Another invoice's deletion meanwhile does not stop this one.
        let kept = hash_of(&inv.create(req("kept", 3600)).await.unwrap());
        inv.create(req("other", 3600)).await.unwrap();
        assert!(matches!(
            decide_deleting(kept, "other").await,
            receive::Decision::Claim { .. }
        ));
    }
}

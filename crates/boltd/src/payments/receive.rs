//! Payments to us: LDK's `PaymentClaimable` goes through `htlc_accepted` ([`final_hop`])
//! and the invoices service, and the decision is carried out on the channel manager;
//! `PaymentClaimed` is recorded against the invoice before LDK may forget it.
//!
//! With no payment hook registered, a `PaymentClaimable` is decided before LDK's event is
//! answered. Otherwise it may wait long on plugins: if it is made within [`QUICK_DECISION`]
//! (a hook that answers at once) the event is answered then, as without a hook, and it is
//! made in the event's handler itself. Else what is left of it goes on on a task of its
//! own and LDK's event is answered without waiting more; LDK
//! does not hand that event over again after a restart (its claimable payments stay,
//! silently, until they near expiry), so the event is first written to the store and only
//! removed once decided: a restart resumes every decision left open ([`Receiver::resume`]). A copy of a payment being decided (LDK's own
//! replay of an event it had not yet forgotten, or ours) is ignored.
//!
//! [`final_hop`]: super::final_hop

use std::collections::HashSet;
use std::future::Future;
use std::io::Cursor;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lightning::events::{Event, PaymentPurpose, ReplayEvent};
use lightning::types::payment::{PaymentHash, PaymentPreimage};
use lightning::util::persist::KVStoreSync;
use lightning::util::ser::{MaybeReadable, Writeable};
use ln::Ln;
use plugins::PluginHost;
use tokio::sync::oneshot;

use super::crash_point;
use super::final_hop::{self, Verdict};
use crate::invoices::ldk_events::{hook_deadline, Action};
use crate::invoices::receive::FailWith;
use crate::invoices::Invoices;

/// The kv namespace of claimable payments not yet decided (key: the payment hash).
const CLAIMABLE_NS: &str = "boltd_claimable";
/// A hooked decision made within this needs no record of the event: LDK's event is
/// answered after it, as without a hook. A hook that holds the payment longer costs the
/// events behind it this much once.
const QUICK_DECISION: Duration = Duration::from_millis(25);
/// Test knob: [`QUICK_DECISION`] in milliseconds (tests under load must not depend on a
/// plugin answering within 25 ms).
const DEV_QUICK_ENV: &str = "BOLTD_DEV_QUICK_DECISION_MS";

fn quick_decision() -> Duration {
    std::env::var(DEV_QUICK_ENV)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(QUICK_DECISION)
}
/// Test knob: the longest any payment hook may take, in seconds (`--developer` tests of
/// plugins that never answer).
const DEV_DEADLINE_ENV: &str = "BOLTD_DEV_HOOK_DEADLINE";

pub struct Receiver {
    invoices: Arc<Invoices>,
    host: PluginHost,
    kv: store::KvStore,
    /// Payment hashes with a decision under way.
    deciding: Mutex<HashSet<[u8; 32]>>,
}

/// How a decision is carried out.
enum Carry {
    Claim([u8; 32]),
    /// Claim accepting the onion's even custom TLVs (keysends, as CLN's keysend plugin;
    /// payments a plugin resolved).
    ClaimAnyTlvs([u8; 32]),
    Fail([u8; 32], FailWith),
}

fn deadline(claim_deadline: Option<u32>, height: u32) -> Duration {
    let d = hook_deadline(claim_deadline, height);
    match std::env::var(DEV_DEADLINE_ENV)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(s) => d.min(Duration::from_secs(s)),
        None => d,
    }
}

impl Receiver {
    pub fn new(invoices: Arc<Invoices>, host: PluginHost, kv: store::KvStore) -> Arc<Receiver> {
        Arc::new(Receiver {
            invoices,
            host,
            kv,
            deciding: Mutex::new(HashSet::new()),
        })
    }

    fn start_deciding(&self, hash: [u8; 32]) -> bool {
        self.deciding
            .lock()
            .map(|mut d| d.insert(hash))
            .unwrap_or(false)
    }

    fn done_deciding(&self, hash: &[u8; 32]) {
        if let Ok(mut d) = self.deciding.lock() {
            d.remove(hash);
        }
    }

    async fn kv<T: Send + 'static>(
        &self,
        f: impl FnOnce(&store::KvStore) -> Result<T, lightning::io::Error> + Send + 'static,
    ) -> Result<T, String> {
        let kv = self.kv.clone();
        match tokio::task::spawn_blocking(move || f(&kv)).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Handles `event` if it is about a payment to us: `None` if it is not, else LDK's
    /// answer (`Err` when what must be durable could not be written).
    pub async fn on_event(
        self: &Arc<Self>,
        ln: &Arc<Ln>,
        event: &Event,
    ) -> Option<Result<(), ReplayEvent>> {
        match event {
            Event::PaymentClaimable { payment_hash, .. } => {
                let hash = payment_hash.0;
                if !self.start_deciding(hash) {
                    return Some(Ok(()));
                }
                if !self.host.has_hook("htlc_accepted") && !self.host.has_hook("invoice_payment") {
                    // Nothing can make the decision wait: decided before LDK may forget the
                    // event, so no record of ours is needed.
                    if let Some(c) = self.decide(ln, event).await {
                        carry_out(ln, c);
                    }
                    self.done_deciding(&hash);
                    return Some(Ok(()));
                }
                // Most hooks answer at once: a decision made within QUICK_DECISION needs
                // no record (as above). It is made right here, not on a task of its own:
                // a spawned task and the wake-up back cost thread hops that a plugin which
                // answers at once would otherwise pay on every payment. A slower one goes
                // on on a task, gets the record, and the event is answered only once it
                // is written.
                let mut decision = Box::pin(self.decision(ln.clone(), event.clone()));
                if tokio::time::timeout(quick_decision(), &mut decision)
                    .await
                    .is_ok()
                {
                    self.done_deciding(&hash);
                    return Some(Ok(()));
                }
                let (recorded, was_recorded) = oneshot::channel();
                self.finish_decision(decision, hash, was_recorded);
                let bytes = event.encode();
                let key = hex::encode(hash);
                if let Err(e) = self
                    .kv(move |kv| kv.write(CLAIMABLE_NS, "", &key, bytes))
                    .await
                {
                    // The decision goes on; LDK hands the event over again (a copy while
                    // it is being decided is ignored).
                    tracing::error!("recording claimable payment {}: {e}", hex::encode(hash));
                    let _ = recorded.send(false);
                    return Some(Err(ReplayEvent()));
                }
                let _ = recorded.send(true);
                Some(Ok(()))
            }
            Event::PaymentClaimed {
                payment_hash,
                amount_msat,
                htlcs,
                ..
            } => {
                crash_point("claimed_before_record");
                // Answered once the record is queued: it is committed before the manager
                // write that consumes the event (after_commit.rs).
                let r = self
                    .invoices
                    .on_claimed_queued(
                        payment_hash.0,
                        *amount_msat,
                        htlcs.len(),
                        || super::crash_point_delayed("claimed_record_queued"),
                        || crash_point("claimed_after_record"),
                    )
                    .await;
                if let Err(e) = r {
                    tracing::error!(
                        "recording claimed payment {}: {e}",
                        hex::encode(payment_hash.0)
                    );
                    return Some(Err(ReplayEvent()));
                }
                Some(Ok(()))
            }
            _ => None,
        }
    }

    /// Start-up: decides again every claimable payment left undecided by the last run. A
    /// copy LDK hands over too is recognised as one (same payment hash).
    pub async fn resume(self: &Arc<Self>, ln: &Arc<Ln>) {
        let keys = match self.kv(|kv| kv.list(CLAIMABLE_NS, "")).await {
            Ok(k) => k,
            Err(e) => {
                tracing::error!("listing undecided claimable payments: {e}");
                return;
            }
        };
        for key in keys {
            let k = key.clone();
            // Gone meanwhile: LDK's own copy of the event was decided first.
            let Ok(bytes) = self.kv(move |kv| kv.read(CLAIMABLE_NS, "", &k)).await else {
                continue;
            };
            match <Event as MaybeReadable>::read(&mut Cursor::new(bytes)) {
                Ok(Some(event @ Event::PaymentClaimable { payment_hash, .. })) => {
                    if self.start_deciding(payment_hash.0) {
                        tracing::info!("deciding payment {key} left undecided at the last stop");
                        let (recorded, was_recorded) = oneshot::channel();
                        let _ = recorded.send(true);
                        let decision = Box::pin(self.decision(ln.clone(), event));
                        self.finish_decision(decision, payment_hash.0, was_recorded);
                    }
                }
                other => {
                    tracing::error!("claimable payment {key} does not read back: {other:?}");
                    let _ = self
                        .kv(move |kv| kv.remove(CLAIMABLE_NS, "", &key, false))
                        .await;
                }
            }
        }
    }

    /// Decides `event` and carries the decision out (owning what it needs, so that what
    /// is left of it can move to a task of its own).
    fn decision(
        self: &Arc<Self>,
        ln: Arc<Ln>,
        event: Event,
    ) -> impl Future<Output = ()> + Send + 'static {
        let me = self.clone();
        async move {
            if let Some(c) = me.decide(&ln, &event).await {
                carry_out(&ln, c);
            }
        }
    }

    /// Finishes `decision` on a task of its own; the record of the event, if `recorded`
    /// says one was written, is removed once the decision is carried out.
    fn finish_decision(
        self: &Arc<Self>,
        decision: Pin<Box<dyn Future<Output = ()> + Send>>,
        hash: [u8; 32],
        recorded: oneshot::Receiver<bool>,
    ) {
        let me = self.clone();
        tokio::spawn(async move {
            decision.await;
            // Not told (the event's handler was dropped): a record it may have written is
            // decided again at the next start, and LDK ignores a second claim or failure.
            if recorded.await == Ok(true) {
                let key = hex::encode(hash);
                if let Err(e) = me
                    .kv(move |kv| kv.remove(CLAIMABLE_NS, "", &key, false))
                    .await
                {
                    // Decided again after a restart: LDK ignores a second claim or failure.
                    tracing::warn!("forgetting decided payment {}: {e}", hex::encode(hash));
                }
            }
            me.done_deciding(&hash);
        });
    }

    async fn decide(&self, ln: &Ln, event: &Event) -> Option<Carry> {
        let Event::PaymentClaimable {
            payment_hash,
            purpose,
            claim_deadline,
            ..
        } = event
        else {
            return None;
        };
        let hash = payment_hash.0;
        let height = ln.best_block().height;
        let mut expected = None;
        if self.host.has_hook("htlc_accepted") {
            let chans = crate::channels::off_worker(|| ln.manager.list_channels());
            let payloads = final_hop::payloads(event, &chans, height);
            if payloads.is_empty() {
                tracing::warn!(
                    "payment {}: its HTLCs are not listed by their channels; htlc_accepted skipped",
                    hex::encode(hash)
                );
            }
            let wait = deadline(*claim_deadline, height);
            match final_hop::decide(&self.host, payloads, hash, wait).await {
                Verdict::Claim(preimage) => return Some(Carry::ClaimAnyTlvs(preimage)),
                Verdict::Fail(code) => return Some(Carry::Fail(hash, code)),
                Verdict::Continue { invoice_msat } => expected = invoice_msat,
            }
        }
        // CLN's keysend plugin drops unknown even TLVs rather than refusing them.
        let keysend = matches!(purpose, PaymentPurpose::SpontaneousPayment(_));
        let wait = deadline(*claim_deadline, height);
        let action = self
            .invoices
            .on_ldk_event_within(event, wait, expected)
            .await?;
        Some(match action {
            Action::Claim(p) if keysend => Carry::ClaimAnyTlvs(p),
            Action::Claim(p) => Carry::Claim(p),
            Action::Fail { payment_hash, code } => Carry::Fail(payment_hash, code),
        })
    }
}

/// Claims or fails. The claim's monitor update (and the `update_fulfill_htlc` behind it)
/// waits for a manager write, which LDK's loop makes once the events in hand are handled
/// (`ln`'s driver.rs): the claims of payments that arrived together share it instead of a
/// write each in turn. (LDK still sends the first fulfill in a commitment of its own: the
/// others, made while its monitor update is in flight, go in the next one.)
fn carry_out(ln: &Ln, c: Carry) {
    crate::channels::off_worker(|| carry_out_only(ln, c))
}

fn carry_out_only(ln: &Ln, c: Carry) {
    match c {
        Carry::Claim(p) => ln.manager.claim_funds(PaymentPreimage(p)),
        Carry::ClaimAnyTlvs(p) => ln
            .manager
            .claim_funds_with_known_custom_tlvs(PaymentPreimage(p)),
        Carry::Fail(hash, code) => ln
            .manager
            .fail_htlc_backwards_with_reason(&PaymentHash(hash), code.into()),
    }
}

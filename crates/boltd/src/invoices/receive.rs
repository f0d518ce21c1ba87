//! Taking a payment for one of our invoices, decided the way lightningd decides it
//! (lightningd/invoice.c): the whole payment has arrived (LDK's `PaymentClaimable`);
//! the invoice must exist, be unpaid and unexpired, and the amount at least the
//! invoice's and at most twice it; then the `invoice_payment` hook chain, within a
//! deadline; then the same checks again (the hook may have taken a while). Only then
//! is the payment claimed, and only once it is claimed (LDK's `PaymentClaimed`) is the
//! invoice marked paid: a claimed payment is never left unrecorded, and a payment never
//! claimed is never recorded.
//!
//! What `ln` does with it: on `PaymentClaimable` call [`Invoices::on_claimable`] and
//! `claim_funds(preimage)` or `fail_htlc_backwards_with_reason(hash, code)`; on
//! `PaymentClaimed` call [`Invoices::on_claimed`].

use std::time::Duration;

use bitcoin::hashes::Hash;

use lightning::ln::channelmanager::FailureCode;
use plugins::hooks::{
    InvoicePayment, InvoicePaymentInfo, InvoicePaymentOutcome, InvoicePaymentPayload,
};
use std::sync::Arc;

use store::{InvoiceError, StoreError, StoredInvoice};

use super::{now, render, Invoices};

/// Why a payment is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no invoice with this payment hash")]
    Unknown,
    #[error("invoice '{0}' is already paid")]
    Paid(String),
    #[error("invoice '{0}' is being paid by another payment")]
    Claiming(String),
    #[error("invoice '{0}' has expired")]
    Expired(String),
    #[error("invoice '{label}': {got}msat is less than {want}msat")]
    Underpaid { label: String, got: u64, want: u64 },
    #[error("invoice '{label}': {got}msat is more than twice {want}msat")]
    Overpaid { label: String, got: u64, want: u64 },
    #[error("invoice '{0}': rejected by an invoice_payment plugin")]
    Rejected(String),
    #[error("invoice '{0}': failed by an invoice_payment plugin with its failure_message")]
    PluginFailure(String),
    #[error(
        "invoice '{label}': invoice_payment hook of {plugins} did not answer within {after:?}"
    )]
    HookTimeout {
        label: String,
        plugins: String,
        after: Duration,
    },
    #[error("store: {0}")]
    Store(String),
}

/// The failures LDK lets the final hop send (its [`FailureCode`], which can be neither
/// printed nor compared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailWith {
    TemporaryNodeFailure,
    RequiredNodeFeatureMissing,
    IncorrectOrUnknownPaymentDetails,
    InvalidOnionPayload,
}

impl From<FailWith> for FailureCode {
    fn from(f: FailWith) -> FailureCode {
        match f {
            FailWith::TemporaryNodeFailure => FailureCode::TemporaryNodeFailure,
            FailWith::RequiredNodeFeatureMissing => FailureCode::RequiredNodeFeatureMissing,
            FailWith::IncorrectOrUnknownPaymentDetails => {
                FailureCode::IncorrectOrUnknownPaymentDetails
            }
            FailWith::InvalidOnionPayload => FailureCode::InvalidOnionPayload(None),
        }
    }
}

/// What to do with a claimable payment.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Claim { preimage: [u8; 32] },
    Fail { code: FailWith, why: Refusal },
}

/// The checks before and after the hook (pure: the invoice as stored, the amount that
/// arrived, the time).
pub fn check(inv: Option<&StoredInvoice>, amount_msat: u64, now: u64) -> Result<(), Refusal> {
    check_expecting(inv, amount_msat, None, now)
}

/// [`check`], expecting `expected_msat` (an `htlc_accepted` plugin's `invoice_msat`)
/// instead of the invoice's amount when given.
pub fn check_expecting(
    inv: Option<&StoredInvoice>,
    amount_msat: u64,
    expected_msat: Option<u64>,
    now: u64,
) -> Result<(), Refusal> {
    let inv = inv.ok_or(Refusal::Unknown)?;
    match render::status(inv, now) {
        "paid" => return Err(Refusal::Paid(inv.label.clone())),
        "expired" => return Err(Refusal::Expired(inv.label.clone())),
        _ => {}
    }
    if let Some(want) = expected_msat.or(inv.amount_msat) {
        if amount_msat < want {
            return Err(Refusal::Underpaid {
                label: inv.label.clone(),
                got: amount_msat,
                want,
            });
        }
        // BOLT 4: more than twice the amount expected SHOULD be failed (CLN does).
        if want.checked_mul(2).is_some_and(|twice| amount_msat > twice) {
            return Err(Refusal::Overpaid {
                label: inv.label.clone(),
                got: amount_msat,
                want,
            });
        }
    }
    Ok(())
}

/// The failure LDK can send nearest to a plugin's BOLT 4 `failure_message` (LDK lets the
/// final hop choose among four): the same message where LDK has it, else
/// `temporary_node_failure` for any other NODE-flagged failure, else
/// `incorrect_or_unknown_payment_details`.
pub fn failure_code(message: &[u8]) -> FailWith {
    const NODE: u16 = 0x2000;
    let code = match message {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => return FailWith::IncorrectOrUnknownPaymentDetails,
    };
    match code {
        0x2002 => FailWith::TemporaryNodeFailure,
        0x6003 => FailWith::RequiredNodeFeatureMissing,
        0x4016 => FailWith::InvalidOnionPayload,
        0x400f => FailWith::IncorrectOrUnknownPaymentDetails,
        c if c & NODE != 0 => FailWith::TemporaryNodeFailure,
        _ => FailWith::IncorrectOrUnknownPaymentDetails,
    }
}

fn fail(why: Refusal) -> Decision {
    Decision::Fail {
        code: FailWith::IncorrectOrUnknownPaymentDetails,
        why,
    }
}

impl Invoices {
    async fn lookup(&self, hash: [u8; 32]) -> Result<Option<StoredInvoice>, Refusal> {
        self.storage
            .call(move |s| s.invoice_by_hash(&hash))
            .await
            .and_then(|r| r)
            .map_err(|e| Refusal::Store(e.to_string()))
    }

    /// Decides a payment of `amount_msat` for `payment_hash` that has fully arrived.
    /// `deadline` bounds the `invoice_payment` hook (the caller derives it from LDK's
    /// claim deadline); a chain that does not answer in time fails the payment, with a
    /// log line naming the hook's plugins.
    pub async fn on_claimable(
        &self,
        payment_hash: [u8; 32],
        amount_msat: u64,
        deadline: Duration,
    ) -> Decision {
        self.on_claimable_expecting(payment_hash, amount_msat, None, deadline)
            .await
    }

    /// [`Invoices::on_claimable`], expecting `expected_msat` instead of the invoice's
    /// amount when given (an `htlc_accepted` plugin's `invoice_msat`).
    pub async fn on_claimable_expecting(
        &self,
        payment_hash: [u8; 32],
        amount_msat: u64,
        expected_msat: Option<u64>,
        deadline: Duration,
    ) -> Decision {
        let decision = self
            .decide(payment_hash, amount_msat, expected_msat, deadline)
            .await;
        match &decision {
            Decision::Claim { .. } => {}
            Decision::Fail { why, .. } => {
                tracing::info!("Refusing payment {}: {why}", hex::encode(payment_hash));
            }
        }
        decision
    }

    async fn decide(
        &self,
        hash: [u8; 32],
        amount_msat: u64,
        expected_msat: Option<u64>,
        deadline: Duration,
    ) -> Decision {
        let deletions = self.deletions();
        let inv = match self.lookup(hash).await {
            Ok(i) => i,
            Err(e) => return fail(e),
        };
        if let Err(why) = check_expecting(inv.as_ref(), amount_msat, expected_msat, now()) {
            return fail(why);
        }
        let Some(inv) = inv else {
            return fail(Refusal::Unknown);
        };
        // One payment per invoice at a time: a second set for the same hash while the
        // first is in the hook or being claimed is refused.
        if !self.claiming_start(hash) {
            return fail(Refusal::Claiming(inv.label.clone()));
        }
        let d = self
            .decide_claiming(hash, amount_msat, expected_msat, deadline, inv, deletions)
            .await;
        if matches!(d, Decision::Fail { .. }) {
            self.claiming_done(&hash);
        }
        d
    }

    /// The hook and the re-check, for a payment marked as being claimed.
    async fn decide_claiming(
        &self,
        hash: [u8; 32],
        amount_msat: u64,
        expected_msat: Option<u64>,
        deadline: Duration,
        inv: StoredInvoice,
        deletions: u64,
    ) -> Decision {
        let payload = InvoicePaymentPayload {
            payment: InvoicePaymentInfo {
                label: inv.label.clone(),
                preimage: hex::encode(inv.preimage),
                msat: amount_msat,
                extratlvs: None,
            },
        };
        let verdict = tokio::time::timeout(
            deadline,
            self.plugins.call_hook::<InvoicePayment>(&payload, None),
        )
        .await;
        match verdict {
            Ok(InvoicePaymentOutcome::Claim) => {}
            Ok(InvoicePaymentOutcome::Reject) => return fail(Refusal::Rejected(inv.label)),
            Ok(InvoicePaymentOutcome::Fail(m)) => {
                return Decision::Fail {
                    code: failure_code(&m),
                    why: Refusal::PluginFailure(inv.label),
                }
            }
            Err(_) => {
                let plugins = self.plugins.hook_plugins("invoice_payment").join(", ");
                let why = Refusal::HookTimeout {
                    label: inv.label,
                    plugins,
                    after: deadline,
                };
                tracing::error!("{why}: failing the payment");
                return fail(why);
            }
        }
        // Paid, expired or deleted while the hook ran: fail. Paid it cannot be (a second
        // payment of it is kept out by `claiming_start`), expired is a matter of the
        // clock, checked below; deleted only if a `delinvoice` came meanwhile. Otherwise
        // the invoice just read is current, and reading it again cost the payment a store
        // round trip, often behind a commit, in LDK's event loop.
        let again = if self.deletions() != deletions {
            match self.lookup(hash).await {
                Ok(i) => i,
                Err(e) => return fail(e),
            }
        } else {
            Some(inv.clone())
        };
        match check_expecting(again.as_ref(), amount_msat, expected_msat, now()) {
            Ok(()) => Decision::Claim {
                preimage: inv.preimage,
            },
            Err(why) => fail(why),
        }
    }

    /// A keysend (a spontaneous payment: the payer chose the preimage) has fully
    /// arrived. As Core Lightning's keysend plugin does, it first becomes an invoice
    /// (label `keysend-<sec>.<nsec>`, amount "any", description `keysend` or `keysend:
    /// <note>`, our preimage table gets its preimage; `invoice_creation` fires), then it
    /// is decided like any payment. The same preimage again (LDK replaying the payment
    /// after a restart) reuses that invoice.
    pub async fn on_keysend(
        &self,
        preimage: [u8; 32],
        amount_msat: u64,
        note: Option<String>,
        deadline: Duration,
    ) -> Decision {
        let at = super::now_exact();
        let req = super::CreateRequest {
            amount_msat: None,
            label: format!("keysend-{}.{:09}", at.as_secs(), at.subsec_nanos()),
            description: note.map_or_else(|| "keysend".to_string(), |n| format!("keysend: {n}")),
            expiry: super::KEYSEND_EXPIRY,
            fallbacks: vec![],
            preimage: Some(preimage),
            expose: super::Expose::Default,
            cltv: super::DEFAULT_CLTV,
            deschashonly: false,
        };
        match self.create(req).await {
            Ok(_) => {}
            Err(e) if e.code == super::codes::PREIMAGE_ALREADY_EXISTS => {}
            Err(e) => return fail(Refusal::Store(e.message)),
        }
        let hash = bitcoin::hashes::sha256::Hash::hash(&preimage).to_byte_array();
        self.on_claimable(hash, amount_msat, deadline).await
    }

    /// A self-payment (`sendpay` with an empty route) of `amount_msat` for `payment_hash`:
    /// checked as lightningd's `invoice_check_payment` checks it (its words are the
    /// error), then recorded as paid at once (no hook). The preimage, or why not.
    pub async fn self_pay(
        &self,
        payment_hash: [u8; 32],
        amount_msat: u64,
        secret: Option<[u8; 32]>,
    ) -> Result<[u8; 32], String> {
        let hash = hex::encode(payment_hash);
        let inv = self.lookup(payment_hash).await.map_err(|e| e.to_string())?;
        let inv = match inv {
            None => return Err(format!("Unknown invoice {hash}")),
            Some(i) if render::status(&i, now()) != "unpaid" => {
                return Err(format!("Already paid or expired invoice {hash}"))
            }
            Some(i) => i,
        };
        // Every invoice we issue requires a payment secret (BOLT 11 `var_onion_optin`).
        match secret {
            None => return Err(format!("Attempt to pay {hash} without secret")),
            Some(s) if s != inv.payment_secret => {
                return Err(format!("Attempt to pay {hash} with wrong payment_secret"))
            }
            Some(_) => {}
        }
        if let Some(want) = inv.amount_msat {
            if amount_msat < want {
                return Err(format!(
                    "Attempt to pay {hash} with amount {amount_msat}msat < {want}msat"
                ));
            }
            if let Some(twice) = want.checked_mul(2).filter(|t| amount_msat > *t) {
                return Err(format!(
                    "Attempt to pay {hash} with amount {amount_msat}msat > {twice}msat"
                ));
            }
        }
        // An arriving payment of this invoice being claimed meanwhile takes it.
        if !self.claiming_start(payment_hash) {
            return Err(format!("Already paid or expired invoice {hash}"));
        }
        let r = self.mark_paid(payment_hash, amount_msat).await;
        self.claiming_done(&payment_hash);
        match r {
            Ok(inv) => {
                tracing::info!(
                    "Self-resolved invoice '{}' with amount {amount_msat}msat",
                    inv.label
                );
                Ok(inv.preimage)
            }
            Err(InvoiceError::NotUnpaid | InvoiceError::NotFound) => {
                Err(format!("Already paid or expired invoice {hash}"))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// The claimed payment (`htlcs` parts) is ours: records the invoice as paid
    /// (durably), wakes waiters, notifies. A repeat for an invoice already recorded (an
    /// event replayed after a restart) changes nothing.
    pub async fn on_claimed(
        &self,
        payment_hash: [u8; 32],
        amount_msat: u64,
        htlcs: usize,
    ) -> Result<(), InvoiceError> {
        let r = self.mark_paid(payment_hash, amount_msat).await;
        self.claiming_done(&payment_hash);
        log_claimed(r, payment_hash, amount_msat, htlcs)
    }

    /// [`Invoices::on_claimed`] for LDK's `PaymentClaimed` handler, which answers once the
    /// record is queued (`after_commit.rs`); `crash_point` runs on the store thread before
    /// it writes, `after` once it is durable, before anyone is told. `Err`: nothing was
    /// queued (the store is gone).
    pub async fn on_claimed_queued(
        self: &Arc<Self>,
        payment_hash: [u8; 32],
        amount_msat: u64,
        htlcs: usize,
        crash_point: fn(),
        after: fn(),
    ) -> Result<(), StoreError> {
        let at = now();
        let record = move |s: &mut store::Store| {
            crash_point();
            // What is not a failure to record comes back as `Ok` (an `Err` stops the store).
            match s.invoice_mark_paid(&payment_hash, amount_msat, at) {
                Ok(inv) => Ok(Ok(inv)),
                Err(InvoiceError::Store(e)) => Err(e),
                Err(other) => Ok(Err(other)),
            }
        };
        let me = self.clone();
        let then = move |r: Result<Result<StoredInvoice, InvoiceError>, String>| {
            let r = match r {
                Ok(r) => r,
                Err(e) => Err(InvoiceError::Store(StoreError::Stopped(e))),
            };
            if let Ok(inv) = &r {
                after();
                me.told_paid(inv, amount_msat);
            }
            me.claiming_done(&payment_hash);
            let _ = log_claimed(r, payment_hash, amount_msat, htlcs);
        };
        self.storage.record_then(record, then).await
    }
}

/// The log line of a claimed payment's record; `Ok` unless it could not be written.
fn log_claimed(
    r: Result<StoredInvoice, InvoiceError>,
    payment_hash: [u8; 32],
    amount_msat: u64,
    htlcs: usize,
) -> Result<(), InvoiceError> {
    match r {
        Ok(inv) => {
            tracing::info!(
                "Resolved invoice '{}' with amount {amount_msat}msat in {htlcs} htlcs",
                inv.label
            );
            Ok(())
        }
        Err(InvoiceError::NotUnpaid) => Ok(()),
        // Deleted meanwhile, or a payment an htlc_accepted plugin resolved: no
        // invoice to record it against.
        Err(InvoiceError::NotFound) => {
            tracing::info!(
                "claimed payment {} ({amount_msat}msat) has no invoice",
                hex::encode(payment_hash)
            );
            Ok(())
        }
        Err(e) => {
            tracing::error!(
                "claimed payment {} ({amount_msat}msat) not recorded: {e}",
                hex::encode(payment_hash)
            );
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(amount: Option<u64>) -> StoredInvoice {
        StoredInvoice {
            created_index: 1,
            label: "l".into(),
            bolt11: "lnbcrt1".into(),
            payment_hash: [1; 32],
            preimage: [2; 32],
            payment_secret: [3; 32],
            amount_msat: amount,
            description: None,
            expires_at: 100,
            pay_index: None,
            amount_received_msat: None,
            paid_at: None,
            updated_index: None,
        }
    }

    #[test]
    fn checks_as_lightningd() {
        let i = inv(Some(1000));
        assert_eq!(check(None, 1000, 0), Err(Refusal::Unknown));
        assert_eq!(check(Some(&i), 1000, 99), Ok(()));
        assert_eq!(check(Some(&i), 2000, 99), Ok(()));
        assert!(matches!(
            check(Some(&i), 999, 99),
            Err(Refusal::Underpaid { .. })
        ));
        assert!(matches!(
            check(Some(&i), 2001, 99),
            Err(Refusal::Overpaid { .. })
        ));
        assert_eq!(
            check(Some(&i), 1000, 100),
            Err(Refusal::Expired("l".into()))
        );
        let paid = StoredInvoice {
            pay_index: Some(1),
            amount_received_msat: Some(1000),
            paid_at: Some(50),
            ..inv(Some(1000))
        };
        assert_eq!(check(Some(&paid), 1000, 60), Err(Refusal::Paid("l".into())));
        // "any": every amount is fine.
        assert_eq!(check(Some(&inv(None)), 1, 99), Ok(()));
        assert_eq!(check(Some(&inv(None)), u64::MAX, 99), Ok(()));
    }

    #[test]
    fn an_htlc_accepted_invoice_msat_replaces_the_amount_expected() {
        let i = inv(Some(1000));
        assert_eq!(check_expecting(Some(&i), 600, Some(500), 99), Ok(()));
        assert!(matches!(
            check_expecting(Some(&i), 400, Some(500), 99),
            Err(Refusal::Underpaid { want: 500, .. })
        ));
        assert!(matches!(
            check_expecting(Some(&i), 1001, Some(500), 99),
            Err(Refusal::Overpaid { want: 500, .. })
        ));
        // On an "any" invoice too.
        assert!(matches!(
            check_expecting(Some(&inv(None)), 1, Some(500), 99),
            Err(Refusal::Underpaid { .. })
        ));
        assert_eq!(check_expecting(Some(&i), 1000, None, 99), Ok(()));
    }

    #[test]
    fn plugin_failure_messages_map_to_what_ldk_can_send() {
        assert_eq!(failure_code(&[0x20, 0x02]), FailWith::TemporaryNodeFailure);
        assert_eq!(
            failure_code(&[0x60, 0x03]),
            FailWith::RequiredNodeFeatureMissing
        );
        assert_eq!(failure_code(&[0x40, 0x16]), FailWith::InvalidOnionPayload);
        assert_eq!(
            failure_code(&[0x40, 0x0f, 0, 0, 0, 0, 0, 0, 0x03, 0xe8, 0, 0, 0, 100]),
            FailWith::IncorrectOrUnknownPaymentDetails
        );
        // permanent_node_failure: nearest is a node failure.
        assert_eq!(failure_code(&[0x60, 0x02]), FailWith::TemporaryNodeFailure);
        // final_incorrect_cltv_expiry (18): not a node failure.
        assert_eq!(
            failure_code(&[0x00, 0x12]),
            FailWith::IncorrectOrUnknownPaymentDetails
        );
        assert_eq!(
            failure_code(&[]),
            FailWith::IncorrectOrUnknownPaymentDetails
        );
    }
}

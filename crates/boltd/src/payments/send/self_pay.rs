//! Paying one of our own invoices: no HTLC and no channel, as in Core Lightning.
//!
//! * `sendpay` with an empty route (lightningd/pay.c `self_payment`): the part is
//!   recorded, the invoice is checked as an arriving payment is (without the
//!   `invoice_payment` hook and `htlc_accepted`), marked paid (the `invoice_payment`
//!   notification fires), and the part completes at once with `sendpay_success`; or it
//!   fails with `incorrect_or_unknown_payment_details` from us and `sendpay_failure`.
//! * `pay` of our own invoice (xpay injects a one-part payment at our own final hop,
//!   lightningd's `injectpaymentonion`): decided like an arriving payment, with the
//!   `invoice_payment` hook, still without `htlc_accepted` (there is no HTLC).
//!
//! A kill between the invoice's paid record and the part's leaves the part pending with
//! no LDK payment behind it: at start-up ([`Sender::paid_self`]) it completes if the
//! invoice is paid, else it fails as any unsent part.

use jsonrpc::RpcError;
use serde_json::{json, Value};

use super::{
    admit, failure, invalid, now_secs, strip_internal, PartFields, Refusal, Sender, SendpayRequest,
    Start,
};
use crate::invoices::ldk_events::hook_deadline;
use crate::invoices::receive::{Decision, FailWith};

/// The BOLT 4 code of a final hop's refusal.
fn failcode(f: &FailWith) -> u16 {
    match f {
        FailWith::TemporaryNodeFailure => failure::TEMPORARY_NODE_FAILURE,
        FailWith::RequiredNodeFeatureMissing => failure::REQUIRED_NODE_FEATURE_MISSING,
        FailWith::IncorrectOrUnknownPaymentDetails => failure::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS,
        FailWith::InvalidOnionPayload => failure::INVALID_ONION_PAYLOAD,
    }
}

impl Sender {
    pub(super) async fn self_payment(&self, r: SendpayRequest) -> Result<Value, RpcError> {
        let Some(amount) = r.amount_msat else {
            return Err(invalid("Self-payment requires amount_msat"));
        };
        if r.partid != 0 {
            return Err(invalid("Self-payment does not allow (non-zero) partid"));
        }
        let (hash, us, want_group) = (r.hash, self.our_id, r.groupid);
        let fields = PartFields {
            hash,
            dest: us,
            amount,
            sent: amount,
            created_at: now_secs(),
            label: r.label,
            bolt11: r.bolt11,
            description: r.description,
        };
        let added = self
            .store(move |s| {
                s.sendpay_add(
                    &hash,
                    |parts| admit(parts, want_group, 0, amount, &us, amount),
                    |index, groupid, partid| Value::Object(fields.record(index, groupid, partid)),
                )
            })
            .await?;
        let rec = match added {
            Ok(p) => p.record,
            Err(Refusal::Error(e)) => return Err(e),
            Err(Refusal::Same(p)) => return self.sendpay_answer(p.record),
        };
        self.tell();
        match self.invoices.self_pay(hash, amount, r.payment_secret).await {
            Ok(preimage) => self.complete_self(rec, preimage).await,
            Err(why) => {
                let f = failure::RouteFailure::refused_by_us(
                    us,
                    failure::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS,
                    why.clone(),
                );
                let e = self.fail_part(rec, &f, None).await?;
                // The caller gets the invoice's reason itself; waiters and the
                // notification get it as `failed: <failcode> (<reason>)` (as lightningd).
                Err(RpcError {
                    code: e.code,
                    message: why,
                    data: e.data,
                })
            }
        }
    }

    /// `pay` of one of our own invoices (`start` is its payment, not yet recorded).
    pub(super) async fn pay_self(&self, start: Start) -> Result<Value, RpcError> {
        let (hash, amount, created_at, us) =
            (start.hash, start.amount, start.created_at, self.our_id);
        let rec = match self.begin(start).await? {
            // Another `pay` (now or before) owns this hash: its outcome is ours.
            Err(_) => return self.outcome(hash, None).await,
            Ok(p) => p.record,
        };
        self.tell();
        let decision = self
            .invoices
            .on_claimable(hash, amount, hook_deadline(None, 0))
            .await;
        match decision {
            Decision::Claim { preimage } => {
                self.invoices
                    .on_claimed(hash, amount, 1)
                    .await
                    .map_err(|e| RpcError::daemon(e.to_string()))?;
                self.complete_self(rec, preimage).await?;
            }
            Decision::Fail { code, why } => {
                let f = failure::RouteFailure::refused_by_us(us, failcode(&code), why.to_string());
                self.fail_part(rec, &f, Some("RecipientRejected")).await?;
            }
        }
        self.outcome(hash, Some(created_at)).await
    }

    /// Records a part to ourselves complete once its invoice is recorded paid, and tells
    /// `sendpay_success`; the part as shown.
    async fn complete_self(&self, mut rec: Value, preimage: [u8; 32]) -> Result<Value, RpcError> {
        crate::payments::crash_point("self_paid_before_record");
        rec["status"] = json!("complete");
        rec["completed_at"] = json!(now_secs());
        rec["payment_preimage"] = json!(hex::encode(preimage));
        let mut rec = self.put(&rec, true).await?;
        strip_internal(&mut rec);
        self.plugins.notify("sendpay_success", rec.clone());
        Ok(rec)
    }

    /// A part to ourselves left pending by a kill: completed (true) if its invoice is
    /// paid, since paying it was all that was left to record.
    pub(super) async fn paid_self(&self, rec: &mut Value) -> bool {
        if rec["destination"].as_str() != Some(self.our_id.to_string().as_str()) {
            return false;
        }
        let Some(hash) = rec["payment_hash"]
            .as_str()
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
        else {
            return false;
        };
        let Ok(Some(inv)) = self.invoices.by_hash(hash).await else {
            return false;
        };
        let Some(paid_at) = inv.paid_at else {
            return false;
        };
        rec["status"] = json!("complete");
        rec["completed_at"] = json!(paid_at);
        rec["payment_preimage"] = json!(hex::encode(inv.preimage));
        match self.put(rec, true).await {
            Ok(_) => {
                tracing::info!(
                    "payment {} to ourselves: completed (its invoice is paid)",
                    hex::encode(hash)
                );
                true
            }
            Err(e) => {
                tracing::error!(
                    "payment {} to ourselves: recording it complete failed: {e:?}",
                    hex::encode(hash)
                );
                false
            }
        }
    }
}

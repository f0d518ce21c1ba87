//! `sendpay` with an empty route: paying one of our own invoices (lightningd/pay.c
//! `self_payment`). No HTLC and no channel: the part is recorded, the invoice is checked
//! as an arriving payment is (without the `invoice_payment` hook and `htlc_accepted`, as
//! in Core Lightning), marked paid (the `invoice_payment` notification fires), and the
//! part completes at once with `sendpay_success`; or it fails with
//! `incorrect_or_unknown_payment_details` from us and `sendpay_failure`.

use jsonrpc::RpcError;
use serde_json::{json, Value};

use super::{
    admit, failure, failure_error, invalid, now_secs, strip_internal, PartFields, Refusal, Sender,
    SendpayRequest, FAIL,
};

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
        let mut rec = match added {
            Ok(p) => p.record,
            Err(Refusal::Error(e)) => return Err(e),
            Err(Refusal::Same(p)) => return self.sendpay_answer(p.record),
        };
        self.tell();
        match self.invoices.self_pay(hash, amount, r.payment_secret).await {
            Ok(preimage) => {
                rec["status"] = json!("complete");
                rec["completed_at"] = json!(now_secs());
                rec["payment_preimage"] = json!(hex::encode(preimage));
                let mut rec = self.put(&rec, true).await?;
                strip_internal(&mut rec);
                self.plugins.notify("sendpay_success", rec.clone());
                Ok(rec)
            }
            Err(why) => {
                let f = failure::RouteFailure {
                    code: failure::PAY_DESTINATION_PERM_FAIL,
                    failcode: failure::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS,
                    detail: why.clone(),
                    erring_index: 0,
                    erring_node: Some(us),
                    erring_channel: None,
                    erring_direction: None,
                };
                rec["status"] = json!("failed");
                rec["completed_at"] = json!(now_secs());
                rec[FAIL] = f.to_json();
                let rec = self.put(&rec, true).await?;
                let e = failure_error(&rec);
                self.plugins.notify(
                    "sendpay_failure",
                    json!({"code": e.code, "message": e.message, "data": e.data}),
                );
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
}

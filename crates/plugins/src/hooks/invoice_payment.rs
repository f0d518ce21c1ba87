//! `invoice_payment`: a payment for one of our invoices has fully arrived; plugins let it
//! be claimed (`continue`), refuse it (`reject`), or refuse it with their own BOLT 4
//! failure message (`failure_message`, hex) (reference §5.3).
use serde::Serialize;
use serde_json::Value;

use super::{Hook, Step};

/// One unknown TLV of the payment's onion (`--developer` only in CLN).
#[derive(Debug, Clone, Serialize)]
pub struct ExtraTlv {
    #[serde(rename = "type")]
    pub tlv_type: u64,
    pub length: u32,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct InvoicePaymentInfo {
    pub label: String,
    /// Hex.
    pub preimage: String,
    /// What arrived, in msat (a JSON integer).
    pub msat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extratlvs: Option<Vec<ExtraTlv>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InvoicePaymentPayload {
    pub payment: InvoicePaymentInfo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvoicePaymentOutcome {
    /// Every plugin continued: claim the payment.
    Claim,
    /// Fail the HTLCs with `incorrect_or_unknown_payment_details`.
    Reject,
    /// Fail the HTLCs with this BOLT 4 failure message (type first).
    Fail(Vec<u8>),
}

pub struct InvoicePayment;

impl Hook for InvoicePayment {
    const NAME: &'static str = "invoice_payment";
    type Payload = InvoicePaymentPayload;
    type Outcome = InvoicePaymentOutcome;
    type Acc = ();
    fn start(_: &InvoicePaymentPayload) {}
    fn step(_: &mut (), _plugin: &str, r: &Value) -> Step<InvoicePaymentOutcome> {
        match r.get("result").and_then(Value::as_str) {
            Some("continue") => Step::Continue,
            Some("reject") => Step::Stop(InvoicePaymentOutcome::Reject),
            Some(_) => Step::Invalid(format!("Invalid invoice_payment hook result: {r}")),
            None => match r.get("failure_message").and_then(Value::as_str) {
                Some(h) => match hex::decode(h) {
                    Ok(m) if m.len() >= 2 => Step::Stop(InvoicePaymentOutcome::Fail(m)),
                    _ => Step::Invalid(format!(
                        "Invalid failure_message in invoice_payment hook result: {r}"
                    )),
                },
                None => Step::Invalid(format!(
                    "Missing failure_message in invoice_payment hook result: {r}"
                )),
            },
        }
    }
    /// CLN: fatal(). boltd fails the payment (the payer keeps the money, the invoice stays
    /// unpaid) and keeps running.
    fn on_invalid(_: &mut (), _why: &str) -> Option<InvoicePaymentOutcome> {
        Some(InvoicePaymentOutcome::Reject)
    }
    fn finish(_: ()) -> InvoicePaymentOutcome {
        InvoicePaymentOutcome::Claim
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(r: Value) -> Step<InvoicePaymentOutcome> {
        InvoicePayment::step(&mut (), "p", &r)
    }

    #[test]
    fn payload_is_clns() {
        let p = InvoicePaymentPayload {
            payment: InvoicePaymentInfo {
                label: "l".into(),
                preimage: "00".repeat(32),
                msat: 1000,
                extratlvs: None,
            },
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"payment": {"label": "l", "preimage": "00".repeat(32), "msat": 1000}})
        );
        let with = InvoicePaymentPayload {
            payment: InvoicePaymentInfo {
                extratlvs: Some(vec![ExtraTlv {
                    tlv_type: 77,
                    length: 1,
                    value: "ff".into(),
                }]),
                ..p.payment
            },
        };
        assert_eq!(
            serde_json::to_value(&with).unwrap()["payment"]["extratlvs"],
            json!([{"type": 77, "length": 1, "value": "ff"}])
        );
    }

    #[test]
    fn replies() {
        assert_eq!(step(json!({"result": "continue"})), Step::Continue);
        assert_eq!(
            step(json!({"result": "reject"})),
            Step::Stop(InvoicePaymentOutcome::Reject)
        );
        assert_eq!(
            step(json!({"failure_message": "2002"})),
            Step::Stop(InvoicePaymentOutcome::Fail(vec![0x20, 0x02]))
        );
        assert!(
            matches!(step(json!({"result": "maybe"})), Step::Invalid(m) if m.starts_with("Invalid invoice_payment hook result"))
        );
        assert!(
            matches!(step(json!({})), Step::Invalid(m) if m.starts_with("Missing failure_message"))
        );
        assert!(matches!(
            step(json!({"failure_message": "zz"})),
            Step::Invalid(_)
        ));
        assert!(matches!(
            step(json!({"failure_message": "20"})),
            Step::Invalid(_)
        ));
        assert_eq!(
            InvoicePayment::on_invalid(&mut (), "x"),
            Some(InvoicePaymentOutcome::Reject)
        );
    }
}

//! The invoice object `listinvoices`, `waitinvoice`, `waitanyinvoice` and `delinvoice`
//! share (lightningd/invoice.c `json_add_invoice_fields`), field for field in CLN's order.

use serde_json::{json, Map, Value};
use store::StoredInvoice;

/// An invoice's status at time `now` (seconds): paid once paid, else expired from
/// `expires_at` on.
pub fn status(inv: &StoredInvoice, now: u64) -> &'static str {
    if inv.pay_index.is_some() {
        "paid"
    } else if now >= inv.expires_at {
        "expired"
    } else {
        "unpaid"
    }
}

pub fn invoice_json(inv: &StoredInvoice, now: u64) -> Value {
    let mut o = Map::new();
    o.insert("label".into(), json!(inv.label));
    o.insert("bolt11".into(), json!(inv.bolt11));
    o.insert("payment_hash".into(), json!(hex::encode(inv.payment_hash)));
    if let Some(a) = inv.amount_msat {
        o.insert("amount_msat".into(), json!(a));
    }
    o.insert("status".into(), json!(status(inv, now)));
    if let (Some(pi), Some(recv), Some(at)) = (inv.pay_index, inv.amount_received_msat, inv.paid_at)
    {
        o.insert("pay_index".into(), json!(pi));
        o.insert("amount_received_msat".into(), json!(recv));
        o.insert("paid_at".into(), json!(at));
        o.insert("payment_preimage".into(), json!(hex::encode(inv.preimage)));
    }
    if let Some(d) = &inv.description {
        o.insert("description".into(), json!(d));
    }
    o.insert("expires_at".into(), json!(inv.expires_at));
    o.insert("created_index".into(), json!(inv.created_index));
    if let Some(u) = inv.updated_index {
        o.insert("updated_index".into(), json!(u));
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> StoredInvoice {
        StoredInvoice {
            created_index: 3,
            label: "l".into(),
            bolt11: "lnbcrt1".into(),
            payment_hash: [1; 32],
            preimage: [2; 32],
            payment_secret: [3; 32],
            amount_msat: None,
            description: Some("d".into()),
            expires_at: 100,
            pay_index: None,
            amount_received_msat: None,
            paid_at: None,
            updated_index: None,
        }
    }

    #[test]
    fn unpaid_expired_paid_in_clns_field_order() {
        let i = inv();
        assert_eq!(status(&i, 99), "unpaid");
        assert_eq!(status(&i, 100), "expired");
        let j = invoice_json(&i, 99);
        let keys: Vec<&str> = j.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "label",
                "bolt11",
                "payment_hash",
                "status",
                "description",
                "expires_at",
                "created_index"
            ]
        );
        let paid = StoredInvoice {
            amount_msat: Some(5),
            pay_index: Some(1),
            amount_received_msat: Some(6),
            paid_at: Some(150),
            updated_index: Some(1),
            description: None,
            ..inv()
        };
        // Paid stays paid after its expiry.
        assert_eq!(status(&paid, 1000), "paid");
        let j = invoice_json(&paid, 1000);
        let keys: Vec<&str> = j.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "label",
                "bolt11",
                "payment_hash",
                "amount_msat",
                "status",
                "pay_index",
                "amount_received_msat",
                "paid_at",
                "payment_preimage",
                "expires_at",
                "created_index",
                "updated_index"
            ]
        );
        assert_eq!(j["payment_preimage"], hex::encode([2; 32]));
    }
}

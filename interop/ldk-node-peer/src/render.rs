//! ldk-node's types as the JSON the tests read: ids in hex, amounts as numbers, enums by
//! their variant name.

use ldk_node::payment::{PaymentDetails, PaymentKind};
use ldk_node::{BalanceDetails, ChannelDetails, Event, PeerDetails};
use serde_json::{json, Value};

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn opt_hex(bytes: Option<&[u8]>) -> Value {
    bytes.map_or(Value::Null, |b| json!(hex(b)))
}

/// A variant's name out of its `Debug` text (`Foo { .. }` or `Foo(..)` → `Foo`).
fn variant(debug: String) -> String {
    debug
        .split([' ', '(', '{'])
        .next()
        .unwrap_or_default()
        .to_string()
}

pub fn channel(c: &ChannelDetails) -> Value {
    json!({
        "channel_id": hex(&c.channel_id.0),
        "user_channel_id": c.user_channel_id.0.to_string(),
        "counterparty_node_id": c.counterparty_node_id.to_string(),
        "funding_txo": c.funding_txo.map(|o| o.to_string()),
        "short_channel_id": c.short_channel_id,
        "channel_value_sats": c.channel_value_sats,
        "outbound_capacity_msat": c.outbound_capacity_msat,
        "inbound_capacity_msat": c.inbound_capacity_msat,
        "confirmations": c.confirmations,
        "confirmations_required": c.confirmations_required,
        "is_outbound": c.is_outbound,
        "is_channel_ready": c.is_channel_ready,
        "is_usable": c.is_usable,
        "is_announced": c.is_announced,
        "force_close_spend_delay": c.force_close_spend_delay,
    })
}

pub fn peer(p: &PeerDetails) -> Value {
    json!({
        "node_id": p.node_id.to_string(),
        "address": p.address.to_string(),
        "is_connected": p.is_connected,
        "is_persisted": p.is_persisted,
    })
}

pub fn balances(b: &BalanceDetails) -> Value {
    json!({
        "total_onchain_balance_sats": b.total_onchain_balance_sats,
        "spendable_onchain_balance_sats": b.spendable_onchain_balance_sats,
        "total_anchor_channels_reserve_sats": b.total_anchor_channels_reserve_sats,
        "total_lightning_balance_sats": b.total_lightning_balance_sats,
        "lightning_balances": b.lightning_balances.iter().map(|l| format!("{l:?}")).collect::<Vec<_>>(),
        "pending_balances_from_channel_closures": b
            .pending_balances_from_channel_closures
            .iter()
            .map(|p| format!("{p:?}"))
            .collect::<Vec<_>>(),
    })
}

pub fn payment(p: &PaymentDetails) -> Value {
    let (hash, preimage, txid) = match &p.kind {
        PaymentKind::Bolt11 { hash, preimage, .. }
        | PaymentKind::Bolt11Jit { hash, preimage, .. }
        | PaymentKind::Spontaneous { hash, preimage } => {
            (Some(hash.0), preimage.map(|p| p.0), None)
        }
        PaymentKind::Bolt12Offer { hash, preimage, .. }
        | PaymentKind::Bolt12Refund { hash, preimage, .. } => {
            (hash.map(|h| h.0), preimage.map(|p| p.0), None)
        }
        PaymentKind::Onchain { txid, .. } => (None, None, Some(txid.to_string())),
    };
    json!({
        "id": hex(&p.id.0),
        "kind": variant(format!("{:?}", p.kind)),
        "payment_hash": opt_hex(hash.as_ref().map(|h| &h[..])),
        "preimage": opt_hex(preimage.as_ref().map(|h| &h[..])),
        "txid": txid,
        "amount_msat": p.amount_msat,
        "fee_paid_msat": p.fee_paid_msat,
        "direction": format!("{:?}", p.direction),
        "status": format!("{:?}", p.status),
    })
}

pub fn event(e: &Event) -> Value {
    let kind = variant(format!("{e:?}"));
    let fields = match e {
        Event::PaymentSuccessful {
            payment_id,
            payment_hash,
            payment_preimage,
            fee_paid_msat,
            ..
        } => json!({
            "payment_id": opt_hex(payment_id.as_ref().map(|p| &p.0[..])),
            "payment_hash": hex(&payment_hash.0),
            "payment_preimage": opt_hex(payment_preimage.as_ref().map(|p| &p.0[..])),
            "fee_paid_msat": fee_paid_msat,
        }),
        Event::PaymentFailed {
            payment_id,
            payment_hash,
            reason,
            ..
        } => json!({
            "payment_id": opt_hex(payment_id.as_ref().map(|p| &p.0[..])),
            "payment_hash": opt_hex(payment_hash.as_ref().map(|p| &p.0[..])),
            "reason": reason.map(|r| format!("{r:?}")),
        }),
        Event::PaymentReceived {
            payment_id,
            payment_hash,
            amount_msat,
            ..
        } => json!({
            "payment_id": opt_hex(payment_id.as_ref().map(|p| &p.0[..])),
            "payment_hash": hex(&payment_hash.0),
            "amount_msat": amount_msat,
        }),
        Event::PaymentForwarded {
            prev_node_id,
            next_node_id,
            total_fee_earned_msat,
            outbound_amount_forwarded_msat,
            ..
        } => json!({
            "prev_node_id": prev_node_id.map(|n| n.to_string()),
            "next_node_id": next_node_id.map(|n| n.to_string()),
            "total_fee_earned_msat": total_fee_earned_msat,
            "outbound_amount_forwarded_msat": outbound_amount_forwarded_msat,
        }),
        Event::PaymentClaimable {
            payment_id,
            payment_hash,
            claimable_amount_msat,
            ..
        } => json!({
            "payment_id": hex(&payment_id.0),
            "payment_hash": hex(&payment_hash.0),
            "claimable_amount_msat": claimable_amount_msat,
        }),
        Event::ChannelPending {
            channel_id,
            user_channel_id,
            counterparty_node_id,
            funding_txo,
            ..
        } => json!({
            "channel_id": hex(&channel_id.0),
            "user_channel_id": user_channel_id.0.to_string(),
            "counterparty_node_id": counterparty_node_id.to_string(),
            "funding_txo": funding_txo.to_string(),
        }),
        Event::ChannelReady {
            channel_id,
            user_channel_id,
            counterparty_node_id,
            funding_txo,
        } => json!({
            "channel_id": hex(&channel_id.0),
            "user_channel_id": user_channel_id.0.to_string(),
            "counterparty_node_id": counterparty_node_id.map(|n| n.to_string()),
            "funding_txo": funding_txo.map(|o| o.to_string()),
        }),
        Event::ChannelClosed {
            channel_id,
            user_channel_id,
            counterparty_node_id,
            reason,
        } => json!({
            "channel_id": hex(&channel_id.0),
            "user_channel_id": user_channel_id.0.to_string(),
            "counterparty_node_id": counterparty_node_id.map(|n| n.to_string()),
            "reason": reason.as_ref().map(|r| r.to_string()),
        }),
        other => json!({ "debug": format!("{other:?}") }),
    };
    let mut v = fields;
    if let Some(map) = v.as_object_mut() {
        map.insert("type".to_string(), json!(kind));
    }
    v
}

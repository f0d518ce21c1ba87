//! `listpeerchannels` rows from LDK's `ChannelDetails` (reference §3.4: every field LDK
//! can fill, in lightningd's order).

use bitcoin::secp256k1::PublicKey;
use lightning::ln::channel_state::ChannelDetails;
use lightning_types::features::ChannelTypeFeatures;
use serde_json::{json, Map, Value};

use super::Tracked;

/// `BLOCKxTXxOUT`.
pub fn scid(s: u64) -> String {
    format!("{}x{}x{}", s >> 40, (s >> 16) & 0xff_ffff, s & 0xffff)
}

/// Bits set in a feature vector (lowest first).
fn bits(le: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    for (i, byte) in le.iter().enumerate() {
        for b in 0..8 {
            if byte & (1 << b) != 0 {
                out.push((i * 8 + b) as u32);
            }
        }
    }
    out
}

/// `{bits, names}` as Core Lightning prints a channel type.
pub fn channel_type(t: Option<&ChannelTypeFeatures>) -> Value {
    let bits = t.map(|t| bits(t.le_flags())).unwrap_or_default();
    let names: Vec<String> = bits
        .iter()
        .map(|b| {
            let name = match b & !1 {
                12 => "static_remotekey",
                22 => "anchors",
                46 => "scid_alias",
                50 => "zeroconf",
                _ => "unknown",
            };
            format!("{name}/{}", if b % 2 == 0 { "even" } else { "odd" })
        })
        .collect();
    json!({"bits": bits, "names": names})
}

/// `features`: the subset of channel-type names Core Lightning lists.
fn features(t: Option<&ChannelTypeFeatures>) -> Vec<&'static str> {
    let mut f = Vec::new();
    if let Some(t) = t {
        if t.supports_static_remote_key() {
            f.push("option_static_remotekey");
        }
        if t.supports_anchors_zero_fee_htlc_tx() {
            f.push("option_anchors");
        }
        if t.supports_zero_conf() {
            f.push("option_zeroconf");
        }
        if t.supports_scid_privacy() {
            f.push("option_scid_alias");
        }
    }
    f
}

/// What we would get on a mutual close now: what we can send plus the reserve the peer
/// makes us keep. When we can send nothing our balance may be below that reserve, and
/// LDK's listing cannot say how far: `below_reserve_msat` (from the channel's monitor)
/// answers then.
pub fn to_us_msat(c: &ChannelDetails, below_reserve_msat: impl FnOnce() -> u64) -> u64 {
    if c.outbound_capacity_msat == 0 {
        return below_reserve_msat();
    }
    c.outbound_capacity_msat + c.unspendable_punishment_reserve.unwrap_or(0) * 1000
}

/// One row. `connected` is the peer's connection state.
pub fn row(
    our_id: &PublicKey,
    c: &ChannelDetails,
    t: Option<&Tracked>,
    connected: bool,
    close_to: Option<(&bitcoin::ScriptBuf, bitcoin::Network)>,
    to_us: u64,
) -> Value {
    let mut o = Map::new();
    let peer = c.counterparty.node_id;
    o.insert("peer_id".into(), json!(peer.to_string()));
    o.insert("peer_connected".into(), json!(connected));
    if connected {
        o.insert("reestablished".into(), json!(c.is_usable));
    }
    o.insert("channel_type".into(), channel_type(c.channel_type.as_ref()));
    let cfg = c.config.unwrap_or_default();
    let mut updates = json!({
        "local": {
            "htlc_minimum_msat": c.inbound_htlc_minimum_msat.unwrap_or(0),
            "htlc_maximum_msat": c.inbound_htlc_maximum_msat.unwrap_or(c.channel_value_satoshis * 1000),
            "cltv_expiry_delta": cfg.cltv_expiry_delta,
            "fee_base_msat": cfg.forwarding_fee_base_msat,
            "fee_proportional_millionths": cfg.forwarding_fee_proportional_millionths,
        }
    });
    if let (Some(fi), Some(u)) = (&c.counterparty.forwarding_info, updates.as_object_mut()) {
        u.insert(
            "remote".into(),
            json!({
                "htlc_minimum_msat": c.counterparty.outbound_htlc_minimum_msat.unwrap_or(0),
                "htlc_maximum_msat": c.counterparty.outbound_htlc_maximum_msat.unwrap_or(0),
                "cltv_expiry_delta": fi.cltv_expiry_delta,
                "fee_base_msat": fi.fee_base_msat,
                "fee_proportional_millionths": fi.fee_proportional_millionths,
            }),
        );
    }
    o.insert("updates".into(), updates);
    let state = t
        .map(|t| t.state)
        .unwrap_or_else(|| super::state::live_state(c));
    o.insert("state".into(), json!(state));
    o.insert("lost_state".into(), json!(false));
    if let Some(f) = c.feerate_sat_per_1000_weight {
        o.insert("feerate".into(), json!({"perkw": f, "perkb": f * 4}));
    }
    let owner = match state {
        super::state::OPENINGD => "lightning_openingd",
        super::state::SIGEXCHANGE | super::state::CLOSING_COMPLETE => "closingd",
        super::state::ONCHAIN | super::state::FUNDING_SPEND_SEEN => "onchaind",
        _ => "channeld",
    };
    if connected || owner == "onchaind" {
        o.insert("owner".into(), json!(owner));
    }
    if let Some(s) = c.short_channel_id {
        o.insert("short_channel_id".into(), json!(scid(s)));
    }
    if c.short_channel_id.is_some() || c.inbound_scid_alias.is_some() {
        // BOLT 7: direction 0 belongs to the node with the lesser id.
        let dir = if our_id.serialize() < peer.serialize() {
            0
        } else {
            1
        };
        o.insert("direction".into(), json!(dir));
    }
    o.insert("channel_id".into(), json!(c.channel_id.to_string()));
    if let Some(f) = c.funding_txo {
        o.insert("funding_txid".into(), json!(f.txid.to_string()));
        o.insert("funding_outnum".into(), json!(f.index));
    }
    if let Some((script, network)) = close_to {
        if let Ok(a) = bitcoin::Address::from_script(script, network) {
            o.insert("close_to_addr".into(), json!(a.to_string()));
        }
        o.insert("close_to".into(), json!(hex::encode(script.as_bytes())));
    }
    o.insert("private".into(), json!(!c.is_announced));
    o.insert(
        "opener".into(),
        json!(if c.is_outbound { "local" } else { "remote" }),
    );
    if let Some(closer) = t.and_then(|t| t.closer) {
        o.insert("closer".into(), json!(closer));
    }
    let mut alias = Map::new();
    if let Some(a) = c.inbound_scid_alias {
        alias.insert("local".into(), json!(scid(a)));
    }
    if let Some(a) = c.outbound_scid_alias {
        alias.insert("remote".into(), json!(scid(a)));
    }
    if !alias.is_empty() {
        o.insert("alias".into(), Value::Object(alias));
    }
    o.insert("features".into(), json!(features(c.channel_type.as_ref())));
    let total = c.channel_value_satoshis * 1000;
    let (local, remote) = if c.is_outbound {
        (total, 0)
    } else {
        (0, total)
    };
    o.insert(
        "funding".into(),
        json!({"local_funds_msat": local, "remote_funds_msat": remote, "pushed_msat": 0, "withheld": false}),
    );
    o.insert("to_us_msat".into(), json!(to_us));
    o.insert("min_to_us_msat".into(), json!(to_us));
    o.insert("max_to_us_msat".into(), json!(to_us));
    o.insert("total_msat".into(), json!(total));
    o.insert("fee_base_msat".into(), json!(cfg.forwarding_fee_base_msat));
    o.insert(
        "fee_proportional_millionths".into(),
        json!(cfg.forwarding_fee_proportional_millionths),
    );
    o.insert(
        "their_reserve_msat".into(),
        json!(c.counterparty.unspendable_punishment_reserve * 1000),
    );
    o.insert(
        "our_reserve_msat".into(),
        json!(c.unspendable_punishment_reserve.unwrap_or(0) * 1000),
    );
    o.insert(
        "spendable_msat".into(),
        json!(c.next_outbound_htlc_limit_msat),
    );
    o.insert("receivable_msat".into(), json!(c.inbound_capacity_msat));
    o.insert(
        "minimum_htlc_in_msat".into(),
        json!(c.inbound_htlc_minimum_msat.unwrap_or(0)),
    );
    o.insert(
        "minimum_htlc_out_msat".into(),
        json!(c.next_outbound_htlc_minimum_msat),
    );
    o.insert(
        "maximum_htlc_out_msat".into(),
        json!(c
            .counterparty
            .outbound_htlc_maximum_msat
            .unwrap_or(c.next_outbound_htlc_limit_msat)),
    );
    if let Some(d) = c.force_close_spend_delay {
        o.insert("their_to_self_delay".into(), json!(d));
    }
    o.insert("our_to_self_delay".into(), json!(144));
    o.insert("max_accepted_htlcs".into(), json!(483));
    o.insert(
        "state_changes".into(),
        json!(t
            .map(|t| t.changes.iter().map(|c| c.to_json()).collect::<Vec<_>>())
            .unwrap_or_default()),
    );
    o.insert("status".into(), json!([]));
    for k in [
        "in_payments_offered",
        "in_offered_msat",
        "in_payments_fulfilled",
        "in_fulfilled_msat",
        "out_payments_offered",
        "out_offered_msat",
        "out_payments_fulfilled",
        "out_fulfilled_msat",
    ] {
        o.insert(k.into(), json!(0));
    }
    let mut htlcs = Vec::new();
    for h in &c.pending_inbound_htlcs {
        let mut row = json!({
            "direction": "in", "id": h.htlc_id, "amount_msat": h.amount_msat,
            "expiry": h.cltv_expiry, "payment_hash": h.payment_hash.to_string(),
            "state": "RCVD_ADD_ACK_REVOCATION",
        });
        if let Some(s) = crate::hook_waits::status(&h.payment_hash.0) {
            row["status"] = json!(s);
        }
        htlcs.push(row);
    }
    for h in &c.pending_outbound_htlcs {
        htlcs.push(json!({
            "direction": "out", "id": h.htlc_id, "amount_msat": h.amount_msat,
            "expiry": h.cltv_expiry, "payment_hash": h.payment_hash.to_string(),
            "state": "SENT_ADD_ACK_REVOCATION",
        }));
    }
    o.insert("htlcs".into(), json!(htlcs));
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scid_prints_block_tx_out() {
        assert_eq!(scid((103u64 << 40) | (1 << 16) | 2), "103x1x2");
    }

    #[test]
    fn anchor_channel_type_names() {
        let t = ChannelTypeFeatures::anchors_zero_htlc_fee_and_dependencies();
        let v = channel_type(Some(&t));
        assert_eq!(v["bits"], json!([12, 22]));
        assert_eq!(v["names"], json!(["static_remotekey/even", "anchors/even"]));
    }
}

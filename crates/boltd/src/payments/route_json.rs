//! Routes in JSON, Core Lightning's way: `getroute`'s result hops, and the `route`
//! parameter of `sendpay` (old `getroute` hops or `getroutes` path entries).

use bitcoin::secp256k1::PublicKey;
use jsonrpc::RpcError;
use ln::Hop;
use serde_json::{json, Value};

use crate::invoices::amount::parse_msat;
use crate::invoices::decode::{parse_scid, scid_string};

/// The direction of the channel from `from` to `to`: 0 when `from` is the lesser id.
pub fn direction(from: &PublicKey, to: &PublicKey) -> u8 {
    u8::from(from.serialize() > to.serialize())
}

/// `getroute`'s `route` entries for `hops` starting at `from`.
pub fn hops_json(from: &PublicKey, hops: &[Hop]) -> Vec<Value> {
    let mut prev = *from;
    hops.iter()
        .map(|h| {
            let v = json!({
                "id": h.id.to_string(),
                "channel": scid_string(h.channel),
                "direction": direction(&prev, &h.id),
                "amount_msat": h.amount_msat,
                "delay": h.delay,
                "style": "tlv",
            });
            prev = h.id;
            v
        })
        .collect()
}

fn either<'a>(hop: &'a Value, a: &str, b: &str) -> Result<&'a Value, RpcError> {
    hop.get(a).or_else(|| hop.get(b)).ok_or_else(|| {
        RpcError::invalid_params(format!("route: must have either {a} or {b}: {hop}"))
    })
}

fn bad(what: &str, v: &Value) -> RpcError {
    RpcError::invalid_params(format!("route: {what}: invalid token '{v}'"))
}

/// `sendpay`'s `route`: every hop needs a channel, a node, an amount and a delay.
pub fn parse_route(route: &Value) -> Result<Vec<Hop>, RpcError> {
    let Value::Array(items) = route else {
        return Err(bad("should be an array", route));
    };
    items
        .iter()
        .map(|hop| {
            if !hop.is_object() {
                return Err(bad("should be an object", hop));
            }
            let chan = either(hop, "short_channel_id_dir", "channel")?;
            let channel = chan
                .as_str()
                .and_then(|s| parse_scid(s.split('/').next().unwrap_or(s)))
                .ok_or_else(|| bad("should be a short_channel_id", chan))?;
            let id = either(hop, "node_id_out", "id")?;
            let id = id
                .as_str()
                .and_then(|s| s.parse::<PublicKey>().ok())
                .ok_or_else(|| bad("should be a node id", id))?;
            let amount = either(hop, "amount_out_msat", "amount_msat")?;
            let amount_msat =
                parse_msat(amount).ok_or_else(|| bad("should be a millisatoshi amount", amount))?;
            let delay = either(hop, "cltv_out", "delay")?;
            let delay = delay
                .as_u64()
                .and_then(|d| u32::try_from(d).ok())
                .ok_or_else(|| bad("should be an unsigned 32 bit integer", delay))?;
            Ok(Hop {
                id,
                channel,
                amount_msat,
                delay,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pk(hex: &str) -> PublicKey {
        hex.parse().unwrap()
    }

    const A: &str = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";
    const B: &str = "0324653eac434488002cc06bbfb7f10fe18991e35f9fe4302dbea6d2353dc0ab1c";

    #[test]
    fn getroute_hops_round_trip_through_sendpay_parsing() {
        let hops = vec![Hop {
            id: pk(B),
            channel: (103 << 40) | (1 << 16),
            amount_msat: 5000,
            delay: 15,
        }];
        let js = hops_json(&pk(A), &hops);
        assert_eq!(
            js[0],
            json!({"id": B, "channel": "103x1x0", "direction": 0, "amount_msat": 5000,
                   "delay": 15, "style": "tlv"})
        );
        assert_eq!(
            hops_json(
                &pk(B),
                &[Hop {
                    id: pk(A),
                    ..hops[0].clone()
                }]
            )[0]["direction"],
            1
        );
        assert_eq!(parse_route(&Value::Array(js)).unwrap(), hops);
        let new_style = json!([{"short_channel_id_dir": "103x1x0/0", "node_id_out": B,
                                "amount_out_msat": "5000msat", "cltv_out": 15}]);
        assert_eq!(parse_route(&new_style).unwrap(), hops);
    }

    #[test]
    fn a_hop_missing_a_field_or_with_a_bad_one_is_refused() {
        let e = parse_route(&json!([{"id": B, "amount_msat": 1, "delay": 9}])).unwrap_err();
        assert!(
            e.message
                .starts_with("route: must have either short_channel_id_dir or channel"),
            "{}",
            e.message
        );
        let e =
            parse_route(&json!([{"id": "xx", "channel": "1x1x1", "amount_msat": 1, "delay": 9}]))
                .unwrap_err();
        assert!(e.message.contains("should be a node id"), "{}", e.message);
        assert!(parse_route(&json!({"a": 1})).is_err());
        assert_eq!(parse_route(&json!([])).unwrap(), vec![]);
    }
}

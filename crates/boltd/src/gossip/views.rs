//! `listchannels` and `listnodes` rows (doc/schemas/listchannels.json, listnodes.json)
//! from LDK's read-only network graph.
//!
//! What the graph does not hold: a channel's capacity when its announcement was taken
//! without a UTXO lookup (we have none): our own channels' capacity comes from the
//! channel manager, any other's from `htlc_maximum_msat` (what LDK's router assumes too).
//! Private channels are not in the graph, so they are not listed.

use std::collections::HashMap;

use lightning::ln::msgs::SocketAddress;
use lightning::routing::gossip::{ChannelInfo, ChannelUpdateInfo, NodeId, NodeInfo};
use serde_json::{json, Map, Value};

use super::features_hex;
use crate::invoices::decode::scid_string;

/// Which channels `listchannels` wants (at most one is set).
#[derive(Debug, Clone, Copy, Default)]
pub struct ChannelFilter {
    pub scid: Option<u64>,
    pub source: Option<NodeId>,
    pub destination: Option<NodeId>,
}

/// One direction of a channel, if it has had a `channel_update`.
fn half(
    scid: u64,
    info: &ChannelInfo,
    dir: u8,
    upd: &ChannelUpdateInfo,
    capacity_msat: Option<u64>,
) -> Value {
    let (src, dst) = if dir == 0 {
        (info.node_one, info.node_two)
    } else {
        (info.node_two, info.node_one)
    };
    let msg = upd.last_update_message.as_ref().map(|m| &m.contents);
    // Bit 0 of message_flags is "htlc_maximum_msat present", mandatory since 2022.
    let message_flags = msg.map(|m| m.message_flags).unwrap_or(1);
    let channel_flags = msg
        .map(|m| m.channel_flags)
        .unwrap_or(dir | if upd.enabled { 0 } else { 2 });
    let amount = info
        .capacity_sats
        .map(|s| s.saturating_mul(1000))
        .or(capacity_msat)
        .unwrap_or(upd.htlc_maximum_msat);
    json!({
        "source": src.to_string(),
        "destination": dst.to_string(),
        "short_channel_id": scid_string(scid),
        "direction": dir,
        "public": true,
        "amount_msat": amount,
        "message_flags": message_flags,
        "channel_flags": channel_flags,
        "active": upd.enabled,
        "last_update": upd.last_update,
        "base_fee_millisatoshi": upd.fees.base_msat,
        "fee_per_millionth": upd.fees.proportional_millionths,
        "delay": upd.cltv_expiry_delta,
        "htlc_minimum_msat": upd.htlc_minimum_msat,
        "htlc_maximum_msat": upd.htlc_maximum_msat,
        "features": features_hex(info.features.le_flags()),
    })
}

/// `listchannels` rows of the channels in `chans` that `f` keeps; `ours` gives the
/// capacity (msat) of our own channels by short channel id.
pub fn channel_rows<'a>(
    chans: impl Iterator<Item = (u64, &'a ChannelInfo)>,
    f: &ChannelFilter,
    ours: &HashMap<u64, u64>,
) -> Vec<Value> {
    let mut out = Vec::new();
    for (scid, info) in chans {
        if f.scid.is_some_and(|s| s != scid) {
            continue;
        }
        for (dir, upd) in [(0u8, &info.one_to_two), (1u8, &info.two_to_one)] {
            let Some(upd) = upd else { continue };
            let (src, dst) = if dir == 0 {
                (info.node_one, info.node_two)
            } else {
                (info.node_two, info.node_one)
            };
            if f.source.is_some_and(|s| s != src) || f.destination.is_some_and(|d| d != dst) {
                continue;
            }
            out.push(half(scid, info, dir, upd, ours.get(&scid).copied()));
        }
    }
    out
}

/// An announced address as `{type, address?, port}`.
pub fn address_json(a: &SocketAddress) -> Value {
    match a {
        SocketAddress::TcpIpV4 { addr, port } => json!({
            "type": "ipv4",
            "address": std::net::Ipv4Addr::from(*addr).to_string(),
            "port": port,
        }),
        SocketAddress::TcpIpV6 { addr, port } => json!({
            "type": "ipv6",
            "address": std::net::Ipv6Addr::from(*addr).to_string(),
            "port": port,
        }),
        SocketAddress::OnionV2(_) => {
            let text = a.to_string();
            let (host, port) = text.rsplit_once(':').unwrap_or((&text, "0"));
            json!({"type": "torv2", "address": host, "port": port.parse::<u16>().unwrap_or(0)})
        }
        SocketAddress::OnionV3 { port, .. } => {
            let text = a.to_string();
            let host = text.rsplit_once(':').map(|(h, _)| h).unwrap_or(&text);
            json!({"type": "torv3", "address": host, "port": port})
        }
        SocketAddress::Hostname { hostname, port } => json!({
            "type": "dns",
            "address": hostname.to_string(),
            "port": port,
        }),
    }
}

/// The alias bytes as text: up to the first NUL, invalid UTF-8 replaced.
pub fn alias_text(alias: &[u8; 32]) -> String {
    let end = alias.iter().position(|b| *b == 0).unwrap_or(alias.len());
    String::from_utf8_lossy(&alias[..end]).into_owned()
}

/// One `listnodes` row: only `nodeid` until the node's announcement was seen.
pub fn node_row(id: &NodeId, info: &NodeInfo) -> Value {
    let mut o = Map::new();
    o.insert("nodeid".into(), json!(id.to_string()));
    if let Some(a) = &info.announcement_info {
        o.insert("last_timestamp".into(), json!(a.last_update()));
        o.insert("alias".into(), json!(alias_text(&a.alias().0)));
        o.insert("color".into(), json!(hex::encode(a.rgb())));
        o.insert(
            "features".into(),
            json!(features_hex(a.features().le_flags())),
        );
        let addrs: Vec<Value> = a.addresses().iter().map(address_json).collect();
        o.insert("addresses".into(), Value::Array(addrs));
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::constants::ChainHash;
    use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
    use lightning::ln::msgs::{
        UnsignedChannelAnnouncement, UnsignedChannelUpdate, UnsignedNodeAnnouncement,
    };
    use lightning::routing::gossip::{NetworkGraph, NodeAlias};
    use lightning::routing::utxo::UtxoLookup;
    use lightning::types::features::{ChannelFeatures, NodeFeatures};

    struct NoLog;
    impl lightning::util::logger::Logger for NoLog {
        fn log(&self, _: lightning::util::logger::Record) {}
    }

    fn node(b: u8) -> NodeId {
        let sk = SecretKey::from_slice(&[b; 32]).unwrap();
        NodeId::from_pubkey(&PublicKey::from_secret_key(&Secp256k1::new(), &sk))
    }

    fn now() -> u32 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32
    }

    /// A graph with one channel between nodes 1 and 2 whose first direction is disabled
    /// and second has no update, and node 1's announcement.
    fn graph() -> (NetworkGraph<&'static NoLog>, NodeId, NodeId, u64) {
        let g = NetworkGraph::new(bitcoin::Network::Regtest, &NoLog);
        let (a, b) = (node(1), node(2));
        let (one, two) = if a < b { (a, b) } else { (b, a) };
        let scid = (103u64 << 40) | (1 << 16);
        let ann = UnsignedChannelAnnouncement {
            features: ChannelFeatures::empty(),
            chain_hash: ChainHash::using_genesis_block(bitcoin::Network::Regtest),
            short_channel_id: scid,
            node_id_1: one,
            node_id_2: two,
            bitcoin_key_1: node(3),
            bitcoin_key_2: node(4),
            excess_data: vec![],
        };
        g.update_channel_from_unsigned_announcement(&ann, &None::<&dyn UtxoLookup>)
            .unwrap();
        g.update_channel_unsigned(&UnsignedChannelUpdate {
            chain_hash: ann.chain_hash,
            short_channel_id: scid,
            timestamp: now(),
            message_flags: 1,
            channel_flags: 2,
            cltv_expiry_delta: 6,
            htlc_minimum_msat: 1,
            htlc_maximum_msat: 5_000,
            fee_base_msat: 1000,
            fee_proportional_millionths: 10,
            excess_data: vec![],
        })
        .unwrap();
        let mut alias = [0u8; 32];
        alias[..4].copy_from_slice(b"ONE!");
        g.update_node_from_unsigned_announcement(&UnsignedNodeAnnouncement {
            features: NodeFeatures::empty(),
            timestamp: 42,
            node_id: one,
            rgb: [1, 2, 3],
            alias: NodeAlias(alias),
            addresses: vec![SocketAddress::TcpIpV4 {
                addr: [1, 2, 3, 4],
                port: 9735,
            }],
            excess_address_data: vec![],
            excess_data: vec![],
        })
        .unwrap();
        (g, one, two, scid)
    }

    #[test]
    fn a_channel_lists_only_its_updated_direction_with_cln_fields() {
        let (g, one, two, scid) = graph();
        let ro = g.read_only();
        let all = channel_rows(
            ro.channels().unordered_iter().map(|(s, c)| (*s, c)),
            &ChannelFilter::default(),
            &HashMap::from([(scid, 7_000_000)]),
        );
        assert_eq!(all.len(), 1);
        let r = &all[0];
        assert_eq!(r["source"], one.to_string());
        assert_eq!(r["destination"], two.to_string());
        assert_eq!(r["short_channel_id"], "103x1x0");
        assert_eq!(r["direction"], 0);
        assert_eq!(r["active"], false);
        assert_eq!(r["channel_flags"], 2);
        assert_eq!(r["message_flags"], 1);
        assert_eq!(r["amount_msat"], 7_000_000);
        assert_eq!(r["base_fee_millisatoshi"], 1000);
        assert_eq!(r["fee_per_millionth"], 10);
        assert_eq!(r["delay"], 6);
        assert_eq!(r["htlc_maximum_msat"], 5_000);
        assert_eq!(r["features"], "");
        let by_dest = ChannelFilter {
            destination: Some(one),
            ..Default::default()
        };
        let chans = || ro.channels().unordered_iter().map(|(s, c)| (*s, c));
        assert!(channel_rows(chans(), &by_dest, &HashMap::new()).is_empty());
        let by_source = ChannelFilter {
            source: Some(one),
            ..Default::default()
        };
        let rows = channel_rows(chans(), &by_source, &HashMap::new());
        // Not ours and no capacity known: htlc_maximum_msat stands in.
        assert_eq!(rows[0]["amount_msat"], 5_000);
        let other = ChannelFilter {
            scid: Some(scid + 1),
            ..Default::default()
        };
        assert!(channel_rows(chans(), &other, &HashMap::new()).is_empty());
    }

    #[test]
    fn nodes_show_announcement_fields_only_once_announced() {
        let (g, one, two, _) = graph();
        let ro = g.read_only();
        let n1 = node_row(&one, ro.node(&one).unwrap());
        assert_eq!(n1["alias"], "ONE!");
        assert_eq!(n1["color"], "010203");
        assert_eq!(n1["last_timestamp"], 42);
        assert_eq!(
            n1["addresses"],
            json!([{"type": "ipv4", "address": "1.2.3.4", "port": 9735}])
        );
        let n2 = node_row(&two, ro.node(&two).unwrap());
        assert_eq!(n2, json!({"nodeid": two.to_string()}));
    }
}

//! Our `node_announcement`: alias, color and the addresses `getinfo` shows (`--addr`,
//! `--announce-addr`), signed by LDK's peer manager. Peers drop a node announcement
//! from a node without a public channel, so it goes out when one of our channels first
//! appears in our own graph (its channel announcement was just broadcast), and then
//! hourly, as LDK asks.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use lightning::ln::msgs::SocketAddress;
use ln::Ln;
use net::PeerNode;
use serde_json::Value;
use tokio::time::Instant;

use crate::node::Node;

/// How often we look for newly announced channels of ours.
const CHECK: Duration = Duration::from_secs(2);
/// How often the announcement is repeated (LDK: "e.g. once an hour").
const REPEAT: Duration = Duration::from_secs(60 * 60);

/// The alias in its 32-byte field (cut at a character boundary, NUL padded).
pub fn alias_bytes(alias: &str) -> [u8; 32] {
    let mut end = alias.len().min(32);
    while !alias.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = [0u8; 32];
    out[..end].copy_from_slice(&alias.as_bytes()[..end]);
    out
}

/// `getinfo`'s `address` entries as wire addresses.
pub fn wire_addresses(entries: &[Value]) -> Vec<SocketAddress> {
    entries
        .iter()
        .filter_map(|e| {
            let ip: IpAddr = e["address"].as_str()?.parse().ok()?;
            let port = u16::try_from(e["port"].as_u64()?).ok()?;
            Some(SocketAddress::from(std::net::SocketAddr::new(ip, port)))
        })
        .collect()
}

/// Our public channels whose announcement is in our graph.
fn announced(ln: &Ln) -> HashSet<u64> {
    let chans = crate::channels::off_worker(|| ln.manager.list_channels());
    let graph = ln.graph.read_only();
    chans
        .into_iter()
        .filter(|c| c.is_announced)
        .filter_map(|c| c.short_channel_id)
        .filter(|scid| graph.channel(*scid).is_some())
        .collect()
}

/// Runs until shutdown: announces us whenever a public channel of ours is newly in the
/// graph, and every [`REPEAT`] while we have one.
pub fn spawn(node: Arc<Node>, ln: Arc<Ln>, peers: PeerNode) {
    tokio::spawn(async move {
        let alias = alias_bytes(&node.alias);
        let mut known: HashSet<u64> = HashSet::new();
        let mut last: Option<Instant> = None;
        let mut iv = tokio::time::interval(CHECK);
        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = node.shutdown.recv() => break,
                _ = iv.tick() => {}
            }
            let now = announced(&ln);
            let fresh = now.iter().any(|s| !known.contains(s));
            let due = last.is_some_and(|t| t.elapsed() >= REPEAT);
            if now.is_empty() || !(fresh || due) {
                known = now;
                continue;
            }
            let addrs = node
                .peers
                .read()
                .map(|p| wire_addresses(&p.address))
                .unwrap_or_default();
            tracing::debug!(
                "announcing our node ({} public channels, {} addresses)",
                now.len(),
                addrs.len()
            );
            peers.broadcast_node_announcement(node.color, alias, addrs);
            known = now;
            last = Some(Instant::now());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn alias_is_cut_at_32_bytes_on_a_char_boundary() {
        let a = alias_bytes("short");
        assert_eq!(&a[..5], b"short");
        assert!(a[5..].iter().all(|b| *b == 0));
        // 31 ASCII bytes then a 2-byte character: the character does not fit.
        let long = format!("{}é", "x".repeat(31));
        let a = alias_bytes(&long);
        assert_eq!(&a[..31], "x".repeat(31).as_bytes());
        assert_eq!(a[31], 0);
    }

    #[test]
    fn getinfo_addresses_become_wire_addresses() {
        let got = wire_addresses(&[
            json!({"type": "ipv4", "address": "1.2.3.4", "port": 9735}),
            json!({"type": "ipv6", "address": "::1", "port": 1}),
            json!({"type": "ipv4", "address": "bogus", "port": 1}),
        ]);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            SocketAddress::TcpIpV4 {
                addr: [1, 2, 3, 4],
                port: 9735
            }
        );
    }
}

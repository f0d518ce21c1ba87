//! Reconnecting to channel peers, as lightningd does: every peer we have a channel with
//! and are not connected to is dialled at the address we last reached it on (the store),
//! else at the addresses of its gossip `node_announcement`, with a back-off per peer
//! (1 s, doubling, at most [`MAX_DELAY`]). Runs from start-up to shutdown, so a peer down
//! at our start, or one that went away later, is reached again once it is back.
//! `--dev-no-reconnect` (developer mode) turns it off, as lightningd's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lightning::ln::msgs::SocketAddress;
use lightning::routing::gossip::NodeId;
use net::PublicKey;
use tokio::time::Instant;

use super::addr::resolve;
use super::Peering;
use crate::node::Node;
use crate::storage::Storage;

const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(30);
/// How often the channel list is looked at.
const TICK: Duration = Duration::from_millis(500);

/// When to dial a peer next, and how long to wait after that attempt fails.
struct Backoff {
    next: Instant,
    delay: Duration,
}

/// The addresses of `id`'s gossip announcement we can dial.
fn gossip_addresses(ln: &ln::Ln, id: &PublicKey) -> Vec<SocketAddr> {
    let graph = ln.graph.read_only();
    let Some(info) = graph.node(&NodeId::from_pubkey(id)) else {
        return Vec::new();
    };
    let Some(a) = &info.announcement_info else {
        return Vec::new();
    };
    a.addresses()
        .iter()
        .filter_map(|s| match s {
            SocketAddress::TcpIpV4 { addr, port } => Some(SocketAddr::from((*addr, *port))),
            SocketAddress::TcpIpV6 { addr, port } => Some(SocketAddr::from((*addr, *port))),
            _ => None,
        })
        .collect()
}

/// Where to dial `id`: the address we last reached it on first, then its gossip ones.
async fn addresses(storage: &Storage, ln: &ln::Ln, id: &PublicKey) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    if let Some((host, port)) = storage.remembered_address(&id.to_string()).await {
        match resolve(&host, port).await {
            Ok(a) => out.push(a),
            Err(e) => tracing::debug!("reconnect to {id}: {host}:{port}: {e}"),
        }
    }
    for a in gossip_addresses(ln, id) {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// Dials `id` at each of its addresses until one answers.
async fn dial(peering: &Peering, storage: &Storage, ln: &ln::Ln, id: PublicKey) -> bool {
    let addrs = addresses(storage, ln, &id).await;
    if addrs.is_empty() {
        tracing::debug!("reconnect to {id}: no address known");
    }
    for a in addrs {
        match peering.peers.connect(id, a).await {
            Ok(_) => {
                tracing::info!("reconnected to channel peer {id} at {a}");
                return true;
            }
            Err(e) => tracing::debug!("reconnect to {id} at {a}: {e}"),
        }
    }
    false
}

/// Starts reconnecting (unless `--dev-no-reconnect`); ends at shutdown.
pub fn spawn(node: &Arc<Node>, peering: Arc<Peering>, ln: Arc<ln::Ln>, storage: Storage) {
    let off = node
        .config
        .read()
        .map(|c| c.get_bool("developer") && c.get_bool("dev-no-reconnect"))
        .unwrap_or(false);
    if off {
        tracing::info!("--dev-no-reconnect: not reconnecting to channel peers");
        return;
    }
    let shutdown = node.shutdown.clone();
    tokio::spawn(async move {
        let run = async {
            let mut backoff: HashMap<PublicKey, Backoff> = HashMap::new();
            loop {
                let wanted: Vec<PublicKey> = {
                    let ln = ln.clone();
                    // The manager's lock may be held long by a monitor write.
                    tokio::task::spawn_blocking(move || {
                        let mut ids: Vec<PublicKey> = ln
                            .manager
                            .list_channels()
                            .iter()
                            .map(|c| c.counterparty.node_id)
                            .collect();
                        ids.sort();
                        ids.dedup();
                        ids
                    })
                    .await
                    .unwrap_or_default()
                };
                let now = Instant::now();
                backoff.retain(|id, _| wanted.contains(id));
                for id in wanted {
                    if peering.known(&id).is_some() {
                        backoff.remove(&id);
                        continue;
                    }
                    let b = backoff.entry(id).or_insert(Backoff {
                        next: now,
                        delay: FIRST_DELAY,
                    });
                    if b.next > now {
                        continue;
                    }
                    if dial(&peering, &storage, &ln, id).await {
                        backoff.remove(&id);
                    } else if let Some(b) = backoff.get_mut(&id) {
                        b.next = Instant::now() + b.delay;
                        b.delay = (b.delay * 2).min(MAX_DELAY);
                    }
                }
                tokio::time::sleep(TICK).await;
            }
        };
        tokio::select! {
            _ = shutdown.recv() => {}
            _ = run => {}
        }
    });
}

//! `getinfo`: node summary with every field cln-rpc's typed `GetinfoResponse` requires.

use std::sync::atomic::Ordering;

use chain::ChainStatus;
use jsonrpc::Param;
use serde_json::json;
use tokio::sync::watch;

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

pub struct Getinfo {
    pub chain: watch::Receiver<ChainStatus>,
    pub channels: std::sync::Arc<crate::channels::Channels>,
    pub peering: std::sync::Arc<crate::peering::Peering>,
    pub forwards: std::sync::Arc<crate::forwards::Forwards>,
}

/// lightningd's sync warnings (chain reference §1.3): the backend first, then us.
fn sync_warning(s: &ChainStatus) -> Option<(&'static str, &'static str)> {
    if !s.backend_synced {
        Some((
            "warning_bitcoind_sync",
            "Bitcoind is not up-to-date with network.",
        ))
    } else if !s.caught_up {
        Some((
            "warning_lightningd_sync",
            "Still loading latest blocks from bitcoind.",
        ))
    } else {
        None
    }
}

impl Command for Getinfo {
    fn name(&self) -> &'static str {
        "getinfo"
    }
    fn params(&self) -> &'static [Param] {
        &[]
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let status = self.chain.borrow().clone();
        let peering = self.peering.clone();
        let (pending, active, inactive) = self.channels.counts(|p| peering.peers.is_connected(p));
        let fees = self.forwards.fees_collected();
        Box::pin(async move {
            ctx.bind(&[])?;
            let n = &ctx.node;
            let peers = n.peers.read().map(|p| p.clone()).unwrap_or_default();
            let features = n.features.read().map(|f| f.to_json()).unwrap_or_default();
            let mut info = json!({
                "id": n.id_hex(),
                "alias": n.alias,
                "color": n.color_hex(),
                "num_peers": peers.num_peers,
                "num_pending_channels": pending,
                "num_active_channels": active,
                "num_inactive_channels": inactive,
                "address": peers.address,
                "binding": peers.binding,
                "version": crate::node::VERSION,
                "blockheight": n.blockheight.load(Ordering::Relaxed),
                "network": n.settings.network,
                "fees_collected_msat": fees,
                "lightning-dir": n.settings.network_dir.display().to_string(),
                "our_features": features,
            });
            if let (Some((key, text)), Some(obj)) = (sync_warning(&status), info.as_object_mut()) {
                obj.insert(key.to_string(), json!(text));
            }
            Ok(Reply::Result(info))
        })
    }
}

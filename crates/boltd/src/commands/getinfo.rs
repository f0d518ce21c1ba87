//! `getinfo`: node summary with every field cln-rpc's typed `GetinfoResponse` requires.

use std::sync::atomic::Ordering;

use jsonrpc::Param;
use serde_json::json;

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

pub struct Getinfo;

impl Command for Getinfo {
    fn name(&self) -> &'static str {
        "getinfo"
    }
    fn params(&self) -> &'static [Param] {
        &[]
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        Box::pin(async move {
            ctx.bind(&[])?;
            let n = &ctx.node;
            let peers = n.peers.read().map(|p| p.clone()).unwrap_or_default();
            let features = n.features.read().map(|f| f.to_json()).unwrap_or_default();
            Ok(Reply::Result(json!({
                "id": n.id_hex(),
                "alias": n.alias,
                "color": n.color_hex(),
                "num_peers": peers.num_peers,
                "num_pending_channels": 0,
                "num_active_channels": 0,
                "num_inactive_channels": 0,
                "address": peers.address,
                "binding": peers.binding,
                "version": crate::node::VERSION,
                "blockheight": n.blockheight.load(Ordering::Relaxed),
                "network": n.settings.network,
                "fees_collected_msat": 0,
                "lightning-dir": n.settings.network_dir.display().to_string(),
                "our_features": features,
            })))
        })
    }
}

//! `listpeerchannels [id] [short_channel_id] [channel_id]`: our channels, open and closing,
//! one row each (reference §3.4).

use std::sync::Arc;

use jsonrpc::{Param, RpcError};
use serde_json::{json, Value};

use crate::channels::Channels;
use crate::peering::{node_id_param, Peering};
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::opt("id"),
    Param::opt("short_channel_id"),
    Param::opt("channel_id"),
];

pub struct Listpeerchannels {
    pub channels: Arc<Channels>,
    pub peering: Arc<Peering>,
}

fn check_filters(b: &jsonrpc::Bound) -> Result<(), RpcError> {
    let n = ["id", "short_channel_id", "channel_id"]
        .iter()
        .filter(|k| b.get(k).is_some())
        .count();
    if n > 1 {
        return Err(RpcError::invalid_params(
            "Must not specify more than one of short_channel_id, channel_id or id",
        ));
    }
    node_id_param(b, "id")?;
    Ok(())
}

impl Command for Listpeerchannels {
    fn name(&self) -> &'static str {
        "listpeerchannels"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        check_filters(&ctx.bind(PARAMS)?)
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let channels = self.channels.clone();
        let peering = self.peering.clone();
        Box::pin(async move {
            let b = ctx.bind(PARAMS)?;
            check_filters(&b)?;
            let id = node_id_param(&b, "id")?;
            let scid = b.str("short_channel_id")?.map(str::to_string);
            let cid = b.str("channel_id")?.map(str::to_string);
            // LDK's locks (and `tracked`, held across LDK calls) may wait on a store write
            // that needs a runtime worker (a db_write plugin's reply).
            let mut rows = crate::channels::off_worker(|| {
                channels.refresh();
                let our = ctx.node.node_id;
                let net = channels.ln.config().network;
                let live = channels.ln.manager.list_channels();
                let tracked = channels.tracked().clone();
                let mut rows: Vec<Value> = Vec::new();
                for c in &live {
                    let t = tracked.get(&c.channel_id);
                    let close_to = channels.shutdown_script(c.user_channel_id);
                    rows.push(crate::channels::json::row(
                        &our,
                        c,
                        t,
                        peering.peers.is_connected(&c.counterparty.node_id),
                        close_to.as_ref().map(|s| (s, net)),
                        channels.to_us_msat(c),
                    ));
                }
                // Closed channels still resolving on chain: their last listing.
                for (cid, t) in &tracked {
                    if live.iter().any(|c| &c.channel_id == cid) {
                        continue;
                    }
                    let connected = peering.peers.is_connected(&t.peer);
                    match &t.last {
                        Some(c) => {
                            let close_to = channels.shutdown_script(c.user_channel_id);
                            rows.push(crate::channels::json::row(
                                &our,
                                c,
                                Some(t),
                                connected,
                                close_to.as_ref().map(|s| (s, net)),
                                channels.to_us_msat(c),
                            ))
                        }
                        // Closed before its listing was recorded (a crash right after the
                        // close): what its monitor knows.
                        None => {
                            let m = channels.ln.chain_monitor.get_monitor(*cid).ok();
                            let mut r = json!({
                                "peer_id": t.peer.to_string(),
                                "peer_connected": connected,
                                "channel_type": crate::channels::json::channel_type(
                                    m.as_ref().map(|m| m.channel_type_features()).as_ref(),
                                ),
                                "state": t.state,
                                "owner": "onchaind",
                                "channel_id": cid.to_string(),
                            });
                            if let (Some(m), Some(o)) = (&m, r.as_object_mut()) {
                                let f = m.get_funding_txo();
                                o.insert("funding_txid".into(), json!(f.txid.to_string()));
                                o.insert("funding_outnum".into(), json!(f.index));
                            }
                            if let (Some(c), Some(o)) = (t.closer, r.as_object_mut()) {
                                o.insert("closer".into(), json!(c));
                            }
                            rows.push(r);
                        }
                    }
                }
                rows
            });
            rows.retain(|r| {
                id.is_none_or(|id| r["peer_id"] == json!(id.to_string()))
                    && scid.as_ref().is_none_or(|s| {
                        r["short_channel_id"] == json!(s)
                            || r["alias"]["local"] == json!(s)
                            || r["alias"]["remote"] == json!(s)
                    })
                    && cid.as_ref().is_none_or(|c| r["channel_id"] == json!(c))
            });
            Ok(Reply::Result(json!({ "channels": rows })))
        })
    }
}

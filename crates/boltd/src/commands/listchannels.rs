//! `listchannels [short_channel_id] [source] [destination]`: the public channels in our
//! network graph, one row per direction that has a `channel_update` (plugins/topology.c).

use std::collections::HashMap;
use std::sync::Arc;

use jsonrpc::params::bad_token;
use jsonrpc::{Bound, Param, RpcError};
use lightning::routing::gossip::NodeId;
use serde_json::{json, Value};

use crate::channels::Channels;
use crate::gossip::views::{channel_rows, ChannelFilter};
use crate::invoices::decode::parse_scid;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::opt("short_channel_id"),
    Param::opt("source"),
    Param::opt("destination"),
];

pub struct Listchannels {
    pub channels: Arc<Channels>,
}

/// A node id parameter, if given.
pub fn node_param(b: &Bound, name: &str) -> Result<Option<NodeId>, RpcError> {
    match b.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(|s| s.parse::<bitcoin::secp256k1::PublicKey>().ok())
            .map(|pk| Some(NodeId::from_pubkey(&pk)))
            .ok_or_else(|| bad_token(name, "should be a node id", v)),
    }
}

fn parse(b: &Bound) -> Result<ChannelFilter, RpcError> {
    let scid = match b.get("short_channel_id") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .and_then(parse_scid)
                .ok_or_else(|| bad_token("short_channel_id", "should be a short_channel_id", v))?,
        ),
    };
    let f = ChannelFilter {
        scid,
        source: node_param(b, "source")?,
        destination: node_param(b, "destination")?,
    };
    let given = [
        f.scid.is_some(),
        f.source.is_some(),
        f.destination.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(RpcError::invalid_params(
            "Can only specify one of `short_channel_id`, `source` or `destination`",
        ));
    }
    Ok(f)
}

impl Command for Listchannels {
    parsed_command!("listchannels");
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let channels = self.channels.clone();
        Box::pin(async move {
            let f = parse(&ctx.bind(PARAMS)?)?;
            let ln = &channels.ln;
            let ours: HashMap<u64, u64> = ln
                .manager
                .list_channels()
                .iter()
                .filter_map(|c| {
                    Some((
                        c.short_channel_id?,
                        c.channel_value_satoshis.saturating_mul(1000),
                    ))
                })
                .collect();
            let graph = ln.graph.read_only();
            let rows: Vec<Value> = match f.scid {
                Some(s) => channel_rows(graph.channel(s).map(|c| (s, c)).into_iter(), &f, &ours),
                None => channel_rows(
                    graph.channels().unordered_iter().map(|(s, c)| (*s, c)),
                    &f,
                    &ours,
                ),
            };
            Ok(Reply::Result(json!({ "channels": rows })))
        })
    }
}

//! `listnodes [id]`: the nodes in our network graph; announcement fields once their
//! `node_announcement` was seen (plugins/topology.c).

use std::sync::Arc;

use jsonrpc::{Bound, Param, RpcError};
use lightning::routing::gossip::NodeId;
use serde_json::{json, Value};

use super::listchannels::node_param;
use crate::channels::Channels;
use crate::gossip::views::node_row;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[Param::opt("id")];

pub struct Listnodes {
    pub channels: Arc<Channels>,
}

fn parse(b: &Bound) -> Result<Option<NodeId>, RpcError> {
    node_param(b, "id")
}

impl Command for Listnodes {
    parsed_command!("listnodes");
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let channels = self.channels.clone();
        Box::pin(async move {
            let id = parse(&ctx.bind(PARAMS)?)?;
            let graph = channels.ln.graph.read_only();
            let nodes: Vec<Value> = match id {
                Some(id) => graph
                    .node(&id)
                    .map(|n| node_row(&id, n))
                    .into_iter()
                    .collect(),
                None => graph
                    .nodes()
                    .unordered_iter()
                    .map(|(id, n)| node_row(id, n))
                    .collect(),
            };
            Ok(Reply::Result(json!({ "nodes": nodes })))
        })
    }
}

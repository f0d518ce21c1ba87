//! `listclosedchannels [id]`: channels that closed, as we recorded them when they did.

use std::sync::Arc;

use jsonrpc::{Param, RpcError};
use serde_json::json;

use crate::channels::Channels;
use crate::peering::node_id_param;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[Param::opt("id")];

pub struct Listclosedchannels {
    pub channels: Arc<Channels>,
}

impl Command for Listclosedchannels {
    fn name(&self) -> &'static str {
        "listclosedchannels"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        node_id_param(&ctx.bind(PARAMS)?, "id").map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let channels = self.channels.clone();
        Box::pin(async move {
            let id = node_id_param(&ctx.bind(PARAMS)?, "id")?;
            let mut rows = channels.closed_channels();
            if let Some(id) = id {
                rows.retain(|r| r["peer_id"] == json!(id.to_string()));
            }
            Ok(Reply::Result(json!({ "closedchannels": rows })))
        })
    }
}

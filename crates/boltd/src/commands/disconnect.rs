//! `disconnect id [force]`: drop a connected peer; answers `{}` once it is gone.
//! Texts as Core Lightning's peer_control.c (reference §11.5). A peer with an active
//! channel is only disconnected with `force`.

use std::sync::Arc;
use std::time::Duration;

use jsonrpc::{Param, RpcError};
use serde_json::json;

use crate::peering::{node_id_param, Peering};
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[Param::req("id"), Param::opt("force")];

pub struct Disconnect {
    pub peering: Arc<Peering>,
    pub channels: Arc<crate::channels::Channels>,
}

impl Command for Disconnect {
    fn name(&self) -> &'static str {
        "disconnect"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        let b = ctx.bind(PARAMS)?;
        node_id_param(&b, "id")?;
        b.bool("force")?;
        Ok(())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let peering = self.peering.clone();
        let channels = self.channels.clone();
        Box::pin(async move {
            let b = ctx.bind(PARAMS)?;
            let id = node_id_param(&b, "id")?
                .ok_or_else(|| RpcError::invalid_params("missing required parameter: id"))?;
            let force = b.bool("force")?.unwrap_or(false);
            let Some(k) = peering.known(&id) else {
                return Err(RpcError::invalid_params(format!("Unknown peer '{id}'")));
            };
            if !k.connected && !peering.peers.is_connected(&id) {
                return Err(RpcError::daemon("Peer not connected"));
            }
            if !force && channels.has_active_channel(&id) {
                return Err(RpcError::daemon(
                    "Peer has (at least one) channel in state CHANNELD_NORMAL",
                ));
            }
            peering.peers.disconnect(&id);
            // Answer once the disconnect went through the peer's event task.
            let _ = tokio::time::timeout(Duration::from_secs(5), peering.gone(&id)).await;
            Ok(Reply::Result(json!({})))
        })
    }
}

//! `listpeers [id] [level]`: the peers boltd knows (connected or still in their
//! `peer_connected` chain), in Core Lightning's shape, with their channel counts.

use std::sync::Arc;

use jsonrpc::params::bad_token;
use jsonrpc::{Param, RpcError};
use serde_json::{json, Value};

use crate::peering::{node_id_param, Peering};
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[Param::opt("id"), Param::opt("level")];
const LEVELS: &[&str] = &["io", "debug", "info", "unusual", "trace"];

pub struct Listpeers {
    pub peering: Arc<Peering>,
    pub channels: Arc<crate::channels::Channels>,
}

fn level(b: &jsonrpc::Bound) -> Result<Option<String>, RpcError> {
    match b.get("level") {
        None => Ok(None),
        Some(v) => match v.as_str() {
            Some(s) if LEVELS.contains(&s) => Ok(Some(s.to_string())),
            _ => Err(bad_token(
                "level",
                "should be 'io', 'debug', 'info', or 'unusual'",
                v,
            )),
        },
    }
}

impl Command for Listpeers {
    fn name(&self) -> &'static str {
        "listpeers"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        let b = ctx.bind(PARAMS)?;
        node_id_param(&b, "id")?;
        level(&b).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let peering = self.peering.clone();
        let channels = self.channels.clone();
        Box::pin(async move {
            let per_peer = channels.per_peer();
            let b = ctx.bind(PARAMS)?;
            let only = node_id_param(&b, "id")?;
            let with_log = level(&b)?.is_some();
            let peers: Vec<Value> = peering
                .all_known()
                .into_iter()
                .filter(|(id, _)| only.is_none_or(|o| o == *id))
                .map(|(id, k)| {
                    let mut p = json!({
                        "id": id.to_string(),
                        "connected": k.connected,
                        "num_channels": per_peer.get(&id).copied().unwrap_or(0),
                    });
                    if k.connected {
                        p["netaddr"] =
                            json!(k.addr.map(|a| vec![a.to_string()]).unwrap_or_default());
                        if let Some(r) = k.remote_addr {
                            p["remote_addr"] = json!(r.to_string());
                        }
                        p["features"] = json!(hex::encode(&k.features));
                    }
                    if with_log {
                        p["log"] = json!([]);
                    }
                    p
                })
                .collect();
            Ok(Reply::Result(json!({ "peers": peers })))
        })
    }
}

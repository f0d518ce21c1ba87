//! `setchannel id [feebase] [feeppm] [htlcmin] [htlcmax] [enforcedelay] [ignorefeelimits]`:
//! our routing fees on one channel, a peer's channels, or `all` (reference §3.5). LDK fixes
//! HTLC limits when a channel opens, so `htlcmin`/`htlcmax` are refused, not faked.

use std::sync::Arc;

use jsonrpc::{Param, RpcError};
use lightning::util::config::ChannelConfigUpdate;
use serde_json::{json, Value};

use crate::channels::{state, Channels};
use crate::peering::parse_node_id;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::req("id"),
    Param::opt("feebase"),
    Param::opt("feeppm"),
    Param::opt("htlcmin"),
    Param::opt("htlcmax"),
    Param::opt("enforcedelay"),
    Param::opt("ignorefeelimits"),
];

pub struct Setchannel {
    pub channels: Arc<Channels>,
}

fn u32_param(b: &jsonrpc::Bound, name: &str) -> Result<Option<u32>, RpcError> {
    match b.get(name) {
        None => Ok(None),
        Some(v) => {
            let n = super::fundchannel::msat_param(name, v)?;
            u32::try_from(n)
                .map(Some)
                .map_err(|_| RpcError::invalid_params(format!("{name}: exceeds u32 max: {v}")))
        }
    }
}

impl Command for Setchannel {
    fn name(&self) -> &'static str {
        "setchannel"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        let b = ctx.bind(PARAMS)?;
        b.str("id")?;
        u32_param(&b, "feebase")?;
        u32_param(&b, "feeppm")?;
        Ok(())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let channels = self.channels.clone();
        Box::pin(async move {
            let b = ctx.bind(PARAMS)?;
            let id = b
                .str("id")?
                .ok_or_else(|| RpcError::invalid_params("missing required parameter: id"))?
                .to_string();
            let feebase = u32_param(&b, "feebase")?;
            let feeppm = u32_param(&b, "feeppm")?;
            for k in ["htlcmin", "htlcmax"] {
                if b.get(k).is_some() {
                    return Err(RpcError::invalid_params(format!(
                        "{k}: not supported by boltd (LDK fixes HTLC limits when the channel opens)"
                    )));
                }
            }
            let peer = parse_node_id(&id);
            let targets: Vec<_> =
                crate::channels::off_worker(|| channels.ln.manager.list_channels())
                    .into_iter()
                    .filter(|c| {
                        id == "all"
                            || peer == Some(c.counterparty.node_id)
                            || c.channel_id.to_string() == id
                            || c.short_channel_id
                                .map(crate::channels::json::scid)
                                .as_deref()
                                == Some(id.as_str())
                    })
                    .filter(|c| {
                        matches!(state::live_state(c), state::NORMAL | state::AWAITING_LOCKIN)
                    })
                    .collect();
            if targets.is_empty() {
                return Err(RpcError::daemon(
                    "Could not find any active channels of peer with that id",
                ));
            }
            let update = ChannelConfigUpdate {
                forwarding_fee_base_msat: feebase,
                forwarding_fee_proportional_millionths: feeppm,
                ..Default::default()
            };
            let mut out: Vec<Value> = Vec::new();
            for c in &targets {
                crate::channels::off_worker(|| {
                    channels.ln.update_channel_config(
                        &c.counterparty.node_id,
                        &[c.channel_id],
                        &update,
                    )
                })
                .map_err(RpcError::daemon)?;
            }
            let fresh = crate::channels::off_worker(|| channels.ln.manager.list_channels());
            for c in fresh
                .iter()
                .filter(|c| targets.iter().any(|t| t.channel_id == c.channel_id))
            {
                let cfg = c.config.unwrap_or_default();
                let mut row = json!({
                    "peer_id": c.counterparty.node_id.to_string(),
                    "channel_id": c.channel_id.to_string(),
                    "fee_base_msat": cfg.forwarding_fee_base_msat,
                    "fee_proportional_millionths": cfg.forwarding_fee_proportional_millionths,
                    "minimum_htlc_out_msat": c.next_outbound_htlc_minimum_msat,
                    "maximum_htlc_out_msat": c.counterparty.outbound_htlc_maximum_msat.unwrap_or(c.next_outbound_htlc_limit_msat),
                    "ignore_fee_limits": false,
                });
                if let (Some(s), Some(o)) = (c.short_channel_id, row.as_object_mut()) {
                    o.insert(
                        "short_channel_id".into(),
                        json!(crate::channels::json::scid(s)),
                    );
                }
                out.push(row);
            }
            Ok(Reply::Result(json!({ "channels": out })))
        })
    }
}

//! `listfunds [spent]`: the wallet's outputs (wallet reference §2.2) and our channels'
//! funding outputs with our share.

use std::sync::Arc;

use jsonrpc::{Param, RpcError};
use serde_json::{json, Map, Value};
use wallet::{Output, OutputStatus, Wallet};

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[Param::opt("spent")];

pub struct Listfunds {
    pub wallet: Arc<Wallet>,
    pub channels: Arc<crate::channels::Channels>,
    pub peering: Arc<crate::peering::Peering>,
}

/// One `outputs` row, fields in lightningd's order.
pub fn output_json(o: &Output) -> Value {
    let mut m = Map::new();
    m.insert("txid".into(), json!(o.outpoint.txid.to_string()));
    m.insert("output".into(), json!(o.outpoint.vout));
    m.insert("amount_msat".into(), json!(o.amount.to_sat() * 1000));
    m.insert(
        "scriptpubkey".into(),
        json!(hex::encode(o.script_pubkey.as_bytes())),
    );
    if let Some(a) = &o.address {
        m.insert("address".into(), json!(a.to_string()));
    }
    m.insert("status".into(), json!(o.status.as_str()));
    if let (Some(h), OutputStatus::Confirmed | OutputStatus::Immature) = (o.blockheight, o.status) {
        m.insert("blockheight".into(), json!(h));
    }
    m.insert("reserved".into(), json!(o.reserved_to_block.is_some()));
    if let Some(to) = o.reserved_to_block {
        m.insert("reserved_to_block".into(), json!(to));
    }
    Value::Object(m)
}

impl Command for Listfunds {
    fn name(&self) -> &'static str {
        "listfunds"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        ctx.bind(PARAMS)?.bool("spent").map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let wallet = self.wallet.clone();
        let channels = self.channels.clone();
        let peering = self.peering.clone();
        Box::pin(async move {
            let spent = ctx.bind(PARAMS)?.bool("spent")?.unwrap_or(false);
            let outputs =
                crate::wallet_wiring::blocking(&wallet, move |w| w.outputs(spent)).await?;
            let outputs: Vec<Value> = outputs.iter().map(output_json).collect();
            let chans: Vec<Value> =
                crate::channels::off_worker(|| channels.ln.manager.list_channels())
                    .iter()
                    .filter_map(|c| {
                        let f = c.funding_txo?;
                        let state = channels
                            .tracked()
                            .get(&c.channel_id)
                            .map(|t| t.state)
                            .unwrap_or_else(|| crate::channels::state::live_state(c));
                        let mut m = json!({
                            "peer_id": c.counterparty.node_id.to_string(),
                            "connected": peering.peers.is_connected(&c.counterparty.node_id),
                            "state": state,
                            "channel_id": c.channel_id.to_string(),
                        });
                        if let (Some(s), Some(o)) = (c.short_channel_id, m.as_object_mut()) {
                            o.insert(
                                "short_channel_id".into(),
                                json!(crate::channels::json::scid(s)),
                            );
                        }
                        if let Some(o) = m.as_object_mut() {
                            o.insert("our_amount_msat".into(), json!(channels.to_us_msat(c)));
                            o.insert("amount_msat".into(), json!(c.channel_value_satoshis * 1000));
                            o.insert("funding_txid".into(), json!(f.txid.to_string()));
                            o.insert("funding_output".into(), json!(f.index));
                        }
                        Some(m)
                    })
                    .collect();
            Ok(Reply::Result(
                json!({ "outputs": outputs, "channels": chans }),
            ))
        })
    }
}

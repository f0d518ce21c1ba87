//! `fundchannel id amount [feerate] [announce] [minconf] [utxos] [push_msat] [close_to]
//! [request_amt] [compact_lease] [mindepth] [reserve] [channel_type]`: open a channel we
//! fund from the wallet; answers once the funding transaction is broadcast (reference
//! §3.1). Per-peer failures carry `data: {id, method}` as Core Lightning's
//! multifundchannel reports them.

use std::sync::Arc;

use bitcoin::consensus::encode::serialize_hex;
use jsonrpc::{Param, RpcError};
use ln::{FundAmount, OpenError, OpenRequest};
use serde_json::{json, Value};

use super::wallet_params;
use crate::channels::Channels;
use crate::peering::{parse_node_id, Peering};
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::req("id"),
    Param::req("amount"),
    Param::opt("feerate"),
    Param::opt("announce"),
    Param::opt("minconf"),
    Param::opt("utxos"),
    Param::opt("push_msat"),
    Param::opt("close_to"),
    Param::opt("request_amt"),
    Param::opt("compact_lease"),
    Param::opt("mindepth"),
    Param::opt("reserve"),
    Param::opt("channel_type"),
];

pub struct Fundchannel {
    pub channels: Arc<Channels>,
    pub peering: Arc<Peering>,
    pub spender: Arc<crate::wallet_wiring::Spender>,
}

/// `<n>`, `"<n>msat"`, `"<n>sat"` → msat.
pub fn msat_param(name: &str, v: &Value) -> Result<u64, RpcError> {
    let bad = || jsonrpc::params::bad_token(name, "should be a millisatoshi amount", v);
    if let Some(n) = v.as_u64() {
        return Ok(n);
    }
    let s = v.as_str().ok_or_else(bad)?;
    if let Some(n) = s.strip_suffix("msat") {
        return n.parse().map_err(|_| bad());
    }
    if let Some(n) = s.strip_suffix("sat") {
        return n
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(1000))
            .ok_or_else(bad);
    }
    s.parse().map_err(|_| bad())
}

struct Args {
    req: OpenRequest,
}

fn parse(
    b: &jsonrpc::Bound,
    fees: &chain::Fees,
    network: (bitcoin::Network, &str),
) -> Result<Args, RpcError> {
    let idv = b
        .get("id")
        .ok_or_else(|| RpcError::invalid_params("missing required parameter: id"))?;
    let id = idv
        .as_str()
        .map(|s| s.split('@').next().unwrap_or(s))
        .and_then(parse_node_id)
        .ok_or_else(|| jsonrpc::params::bad_token("id", "should be a node id", idv))?;
    let amount = match b.get("amount") {
        Some(Value::String(s)) if s == "all" => FundAmount::All,
        Some(v) => FundAmount::Sat(wallet_params::amount("amount", v)?.to_sat()),
        None => {
            return Err(RpcError::invalid_params(
                "missing required parameter: amount",
            ))
        }
    };
    let feerate = b
        .get("feerate")
        .map(|v| wallet_params::feerate("feerate", v, fees))
        .transpose()?;
    if b.get("request_amt").is_some() && b.get("compact_lease").is_none() {
        return Err(RpcError::invalid_params(
            "Must pass in 'compact_lease' if requesting funds from peer",
        ));
    }
    if b.get("request_amt").is_some() {
        return Err(RpcError::invalid_params(
            "request_amt: liquidity ads are not supported by boltd (LDK has no dual funding)",
        ));
    }
    if b.get("channel_type").is_some() {
        return Err(RpcError::invalid_params(
            "channel_type: boltd always negotiates anchors (LDK's default channel type)",
        ));
    }
    let minconf = b.u64("minconf")?.unwrap_or(1);
    Ok(Args {
        req: OpenRequest {
            peer: id,
            amount,
            push_msat: b
                .get("push_msat")
                .map(|v| msat_param("push_msat", v))
                .transpose()?
                .unwrap_or(0),
            announce: b.bool("announce")?.unwrap_or(true),
            feerate_per_kw: feerate,
            minconf: u32::try_from(minconf)
                .map_err(|_| RpcError::invalid_params("minconf: too large"))?,
            utxos: b
                .get("utxos")
                .map(|v| wallet_params::outpoints("utxos", v))
                .transpose()?,
            reserve_sat: b
                .get("reserve")
                .map(|v| wallet_params::amount("reserve", v).map(|a| a.to_sat()))
                .transpose()?,
            close_to: b
                .get("close_to")
                .map(|v| wallet_params::address_param("close_to", v, network.0, network.1))
                .transpose()?,
        },
    })
}

fn open_error(id: &str, e: OpenError, synced: bool) -> RpcError {
    let e = match e {
        OpenError::Spend(s) => {
            return wallet_params::spend_error(s, synced)
                .with_data(json!({"id": id, "method": "fundchannel_complete"}))
        }
        other => other,
    };
    let code = match &e {
        OpenError::NotConnected => 305,
        OpenError::TooLarge(_) => 300,
        OpenError::PushTooLarge { .. } => 301,
        _ => -1,
    };
    let method = match &e {
        OpenError::NotConnected | OpenError::Ldk(_) | OpenError::Failed(_) => "fundchannel_start",
        _ => "fundchannel_complete",
    };
    RpcError::new(code, e.to_string()).with_data(json!({"id": id, "method": method}))
}

impl Command for Fundchannel {
    fn name(&self) -> &'static str {
        "fundchannel"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        let net = self.channels.ln.config().network;
        parse(
            &ctx.bind(PARAMS)?,
            &self.channels.ln_fees(),
            (net, &ctx.node.settings.network),
        )
        .map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let channels = self.channels.clone();
        let peering = self.peering.clone();
        let spender = self.spender.clone();
        Box::pin(async move {
            let net = channels.ln.config().network;
            let Args { req } = parse(
                &ctx.bind(PARAMS)?,
                &channels.ln_fees(),
                (net, &ctx.node.settings.network),
            )?;
            let asked_close_to = req.close_to.is_some();
            let id = req.peer.to_string();
            let synced = spender.synced();
            if !peering.peers.is_connected(&req.peer) {
                return Err(
                    RpcError::new(400, "Unable to connect, no address known for peer")
                        .with_data(json!({"id": id, "method": "connect"})),
                );
            }
            let opening = channels
                .ln
                .open_channel(req, |p| peering.peers.is_connected(p));
            let opened = crate::channels::off_worker_async(opening)
                .await
                .map_err(|e| open_error(&id, e, synced))?;
            let mut r = json!({
                "tx": serialize_hex(&opened.tx),
                "txid": opened.txid.to_string(),
                "outnum": opened.outnum,
                "channel_id": opened.channel_id.to_string(),
                "channel_type": crate::channels::json::channel_type(opened.channel_type.as_ref()),
            });
            if let Some(script) = &opened.shutdown_script {
                channels.record_shutdown_script(opened.user_channel_id, script);
            }
            if let Some(o) = r.as_object_mut() {
                if let (true, Some(script)) = (asked_close_to, &opened.shutdown_script) {
                    o.insert("close_to".into(), json!(hex::encode(script.as_bytes())));
                }
            }
            Ok(Reply::Result(r))
        })
    }
}

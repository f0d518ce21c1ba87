//! `getroute id amount_msat riskfactor [cltv] [fromid] [fuzzpercent] [exclude] [maxhops]`:
//! one path from LDK's router with its scorer (plugins/topology.c). `riskfactor` and
//! `fuzzpercent` are checked but LDK's probabilistic scorer has no such knobs; an
//! excluded `scid/direction` excludes the whole channel (LDK excludes channels, not
//! directions).

use std::sync::Arc;

use bitcoin::secp256k1::PublicKey;
use jsonrpc::params::bad_token;
use jsonrpc::{Bound, Param, RpcError};
use lightning::routing::gossip::NodeId;
use ln::RouteQuery;
use serde_json::{json, Value};

use super::pay::{msat, number};
use crate::channels::Channels;
use crate::invoices::decode::parse_scid;
use crate::payments::route_json::hops_json;
use crate::payments::send::codes;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::req("id"),
    Param::req("amount_msat"),
    Param::req("riskfactor"),
    Param::opt("cltv"),
    Param::opt("fromid"),
    Param::opt("fuzzpercent"),
    Param::opt("exclude"),
    Param::opt("maxhops"),
];

pub struct Getroute {
    pub channels: Arc<Channels>,
}

fn node(b: &Bound, name: &str) -> Result<Option<PublicKey>, RpcError> {
    match b.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or_else(|| bad_token(name, "should be a node id", v)),
    }
}

fn parse(b: &Bound) -> Result<RouteQuery, RpcError> {
    let to =
        node(b, "id")?.ok_or_else(|| RpcError::invalid_params("missing required parameter: id"))?;
    let amount_msat = msat(b, "amount_msat")?
        .ok_or_else(|| RpcError::invalid_params("missing required parameter: amount_msat"))?;
    number(b, "riskfactor")?
        .ok_or_else(|| RpcError::invalid_params("missing required parameter: riskfactor"))?;
    if let Some(f) = number(b, "fuzzpercent")? {
        if f > 100.0 {
            return Err(RpcError::invalid_params(format!(
                "fuzz must be in range 0.0 <= {f:.6} <= 100.0"
            )));
        }
    }
    let final_cltv = b.u64("cltv")?.unwrap_or(9);
    let max_hops = b.u64("maxhops")?.unwrap_or(20);
    let mut q = RouteQuery {
        from: node(b, "fromid")?,
        to,
        amount_msat,
        final_cltv: u32::try_from(final_cltv)
            .map_err(|_| RpcError::invalid_params("cltv: should be an unsigned 32 bit integer"))?,
        exclude_channels: vec![],
        exclude_nodes: vec![],
        max_hops: u8::try_from(max_hops).unwrap_or(u8::MAX),
    };
    match b.get("exclude") {
        None => {}
        Some(Value::Array(items)) => {
            for x in items {
                let s = x.as_str().unwrap_or_default();
                if let Some(scid) = s.split_once('/').and_then(|(c, d)| {
                    (d == "0" || d == "1").then_some(())?;
                    parse_scid(c)
                }) {
                    q.exclude_channels.push(scid);
                } else if let Ok(n) = s.parse::<PublicKey>() {
                    q.exclude_nodes.push(n);
                } else {
                    return Err(bad_token(
                        "exclude",
                        "should be short_channel_id_dir or node_id",
                        x,
                    ));
                }
            }
        }
        Some(v) => return Err(bad_token("exclude", "should be an array", v)),
    }
    Ok(q)
}

impl Command for Getroute {
    parsed_command!("getroute");
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let channels = self.channels.clone();
        Box::pin(async move {
            let q = parse(&ctx.bind(PARAMS)?)?;
            let ln = &channels.ln;
            let ours = ln.manager.get_our_node_id();
            let from = q.from.unwrap_or(ours);
            let usable = crate::channels::off_worker(|| ln.manager.list_usable_channels());
            let peer_of_ours = |n: &PublicKey| usable.iter().any(|c| c.counterparty.node_id == *n);
            {
                let graph = ln.graph.read_only();
                let known = |n: &PublicKey| graph.node(&NodeId::from_pubkey(n)).is_some();
                if from != ours && !known(&from) {
                    return Err(RpcError::invalid_params(format!(
                        "{from}: unknown source node_id (no public channels?)"
                    )));
                }
                let reachable = known(&q.to) || (from == ours && peer_of_ours(&q.to));
                if !reachable {
                    return Err(RpcError::invalid_params(format!(
                        "{}: unknown destination node_id (no public channels?)",
                        q.to
                    )));
                }
            }
            let hops = crate::channels::off_worker(|| ln.find_hops(&q)).map_err(|why| {
                tracing::debug!("getroute to {}: {why}", q.to);
                RpcError::new(codes::ROUTE_NOT_FOUND, "Could not find a route")
            })?;
            Ok(Reply::Result(json!({ "route": hops_json(&from, &hops) })))
        })
    }
}

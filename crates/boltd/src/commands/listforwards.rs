//! `listforwards [status] [in_channel] [out_channel] [index] [start] [limit]`: the HTLCs
//! we forwarded (lightningd/forwards.c; reference §4.6).

use std::sync::Arc;

use jsonrpc::params::bad_token;
use jsonrpc::{Bound, Param, RpcError};
use serde_json::{json, Value};
use store::ForwardQuery;

use crate::forwards::Forwards;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::opt("status"),
    Param::opt("in_channel"),
    Param::opt("out_channel"),
    Param::opt("index"),
    Param::opt("start"),
    Param::opt("limit"),
];

const STATUSES: &[&str] = &["offered", "settled", "failed", "local_failed"];

fn scid(b: &Bound, name: &str) -> Result<Option<String>, RpcError> {
    match b.get(name) {
        None => Ok(None),
        Some(v) => {
            let s = v
                .as_str()
                .filter(|s| {
                    let parts: Vec<&str> = s.split('x').collect();
                    parts.len() == 3 && parts.iter().all(|p| p.parse::<u64>().is_ok())
                })
                .ok_or_else(|| bad_token(name, "should be a short_channel_id", v))?;
            Ok(Some(s.to_string()))
        }
    }
}

fn parse(b: &Bound) -> Result<ForwardQuery, RpcError> {
    let status = match b.get("status") {
        None => None,
        Some(Value::String(s)) if STATUSES.contains(&s.as_str()) => Some(s.clone()),
        Some(v) => {
            let text = v.as_str().map(str::to_string).unwrap_or(v.to_string());
            return Err(RpcError::invalid_params(format!(
                "status: Unrecognized status: {text}"
            )));
        }
    };
    let by_updated = match b.get("index") {
        None => None,
        Some(Value::String(s)) if s == "created" => Some(false),
        Some(Value::String(s)) if s == "updated" => Some(true),
        Some(v) => return Err(bad_token("index", "should be 'created' or 'updated'", v)),
    };
    let start = b.u64("start")?;
    let limit = b.u64("limit")?;
    if by_updated.is_none() && start.is_some() {
        return Err(RpcError::invalid_params(
            "Can only specify {start} with {index}",
        ));
    }
    if by_updated.is_none() && limit.is_some() {
        return Err(RpcError::invalid_params(
            "Can only specify {limit} with {index}",
        ));
    }
    Ok(ForwardQuery {
        status,
        in_channel: scid(b, "in_channel")?,
        out_channel: scid(b, "out_channel")?,
        by_updated: by_updated.unwrap_or(false),
        start: start.unwrap_or(0),
        limit,
    })
}

pub struct Listforwards {
    pub forwards: Arc<Forwards>,
}

impl Command for Listforwards {
    parsed_command!("listforwards");
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let forwards = self.forwards.clone();
        Box::pin(async move {
            let q = parse(&ctx.bind(PARAMS)?)?;
            let rows = forwards.list(q).await.map_err(|e| RpcError::new(-1, e))?;
            Ok(Reply::Result(json!({ "forwards": rows })))
        })
    }
}

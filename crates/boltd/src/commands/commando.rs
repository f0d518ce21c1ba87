//! `commando peer_id method [params] [rune] [filter]`: runs `method` on a peer over
//! commando custom messages and returns its result, or its error unchanged. `params`,
//! `rune` and `filter` are pasted as the raw JSON text given (a JSON string's characters
//! as they are), as Core Lightning's client does.

use std::sync::Arc;

use jsonrpc::{Param, RawValue, RpcError};
use runes::commando::{codes, read_reply, request_json, ReplyOutcome};
use serde_json::Value;

use crate::commando::Commando;
use crate::peering::node_id_param;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::req("peer_id"),
    Param::req("method"),
    Param::opt("params"),
    Param::opt("rune"),
    Param::opt("filter"),
];

pub struct CommandoCmd {
    pub commando: Arc<Commando>,
}

struct Args {
    peer: net::PublicKey,
    json: String,
}

/// A token pasted as Core Lightning does: a string's inside, anything else as written.
fn pasted(ctx: &Context, pos: usize, name: &str) -> Option<String> {
    let raw = super::raw_param(&ctx.request, pos, name)?;
    if raw == "null" {
        return None;
    }
    Some(
        match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            Some(inner) => inner.to_string(),
            None => raw,
        },
    )
}

fn parse(ctx: &Context) -> Result<Args, RpcError> {
    let b = ctx.bind(PARAMS)?;
    let peer = node_id_param(&b, "peer_id")?
        .ok_or_else(|| RpcError::invalid_params("missing required parameter: peer_id"))?;
    let method = match b.get("method") {
        Some(Value::String(m)) => m.clone(),
        Some(Value::Null) | None => {
            return Err(RpcError::invalid_params(
                "missing required parameter: method",
            ))
        }
        Some(v) => v.to_string(),
    };
    let params = pasted(ctx, 2, "params").unwrap_or_else(|| "{}".into());
    let rune = pasted(ctx, 3, "rune");
    let filter = pasted(ctx, 4, "filter");
    let id = format!("{}/commando", runes::commando::token_text(&ctx.request.id));
    let id = serde_json::to_string(&id).unwrap_or_else(|_| "\"commando\"".into());
    Ok(Args {
        peer,
        json: request_json(&method, &id, &params, rune.as_deref(), filter.as_deref()),
    })
}

fn raw(s: String) -> Result<Box<RawValue>, RpcError> {
    RawValue::from_string(s).map_err(|e| RpcError::new(codes::LOCAL, e.to_string()))
}

impl Command for CommandoCmd {
    fn name(&self) -> &'static str {
        "commando"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        parse(ctx).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let commando = self.commando.clone();
        Box::pin(async move {
            let a = parse(&ctx)?;
            let bytes = commando.call(a.peer, a.json).await?;
            match read_reply(&bytes).map_err(|e| RpcError::new(codes::LOCAL, e.to_string()))? {
                ReplyOutcome::Result(r) => Ok(Reply::RawResult(r)),
                ReplyOutcome::Error {
                    code,
                    message,
                    data,
                } => {
                    let mut e = format!("{{\"code\":{code},\"message\":{}", Value::String(message));
                    if let Some(d) = data {
                        e.push_str(&format!(",\"data\":{}", d.get()));
                    }
                    e.push('}');
                    Ok(Reply::RawError(raw(e)?))
                }
            }
        })
    }
}

//! `checkrune rune [nodeid] [method] [params]`: `{"valid": true}` or Core Lightning's
//! refusal (1501/1502/1503). `method` and `params` are judged as the raw JSON text the
//! client sent, as Core Lightning does.

use std::sync::Arc;

use jsonrpc::{Param, RpcError};
use serde_json::{json, Value};

use crate::peering::parse_node_id;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};
use crate::rune_book::{rune_param, CheckRequest, RuneBook};

const PARAMS: &[Param] = &[
    Param::req("rune"),
    Param::opt("nodeid"),
    Param::opt("method"),
    Param::opt("params"),
];

pub struct Checkrune {
    pub book: Arc<RuneBook>,
}

/// A token's text as Core Lightning's `param_string` takes it: a string's characters as
/// written (escapes kept), anything else its JSON text.
fn token_text(raw: &str) -> String {
    match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => inner.to_string(),
        None => raw.to_string(),
    }
}

fn parse(ctx: &Context) -> Result<(runes::Rune, u64, CheckRequest), RpcError> {
    let b = ctx.bind(PARAMS)?;
    let rune = b
        .get("rune")
        .filter(|v| !v.is_null())
        .ok_or_else(|| RpcError::invalid_params("missing required parameter: rune"))?;
    let (_, rune, id) = rune_param("rune", rune)?;
    let nodeid = match b.get("nodeid") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_str()
                .and_then(|s| parse_node_id(&s.to_ascii_lowercase()))
                .map(|k| k.to_string())
                .ok_or_else(|| {
                    RpcError::invalid_params(
                        "nodeid: should be a node id: invalid token (see logs for details)",
                    )
                })?,
        ),
    };
    let raw = |pos, name| super::raw_param(&ctx.request, pos, name);
    let method = match b.get("method") {
        None | Some(Value::Null) => None,
        Some(v) => Some(raw(2, "method").map_or_else(|| v.to_string(), |t| token_text(&t))),
    };
    let params = match b.get("params") {
        None | Some(Value::Null) => None,
        Some(v @ (Value::Object(_) | Value::Array(_))) => {
            Some(raw(3, "params").unwrap_or_else(|| v.to_string()))
        }
        Some(_) => {
            return Err(RpcError::invalid_params(
                "params: must be object or array: invalid token (see logs for details)",
            ))
        }
    };
    Ok((
        rune,
        id,
        CheckRequest {
            nodeid,
            method,
            params,
        },
    ))
}

impl Command for Checkrune {
    fn name(&self) -> &'static str {
        "checkrune"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        parse(ctx).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let book = self.book.clone();
        Box::pin(async move {
            let (rune, id, req) = parse(&ctx)?;
            book.check(&rune, id, &req).await?;
            Ok(Reply::Result(json!({ "valid": true })))
        })
    }
}

//! `blacklistrune [start] [end] [relist]` (and its alias `destroyrune`): blacklists (or
//! with `relist` un-blacklists) unique ids `start..=end` and returns the whole list.
//! Unlike Core Lightning, `start > end` is refused instead of aborting the node.

use std::sync::Arc;

use jsonrpc::{Param, RpcError};
use serde_json::{json, Value};

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};
use crate::rune_book::RuneBook;

const PARAMS: &[Param] = &[Param::opt("start"), Param::opt("end"), Param::opt("relist")];

pub struct Blacklistrune {
    pub book: Arc<RuneBook>,
    /// `blacklistrune`, or the alias `destroyrune`.
    pub name: &'static str,
}

type Args = (Option<u64>, Option<u64>, bool);

/// An unsigned 64-bit integer; `-1` reads as 2^64−1 as in Core Lightning (then refused
/// by the cap).
fn u64_param(b: &jsonrpc::Bound, name: &str) -> Result<Option<u64>, RpcError> {
    let bad = || {
        RpcError::invalid_params(format!(
            "{name}: should be an unsigned 64 bit integer: invalid token (see logs for details)"
        ))
    };
    match b.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Ok(Some(u)),
            (None, Some(i)) => Ok(Some(i as u64)),
            _ => Err(bad()),
        },
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

fn parse(ctx: &Context) -> Result<Args, RpcError> {
    let b = ctx.bind(PARAMS)?;
    let start = u64_param(&b, "start")?;
    let end = u64_param(&b, "end")?;
    let relist = b.bool("relist")?.unwrap_or(false);
    runes::blacklist::requested_range(start, end)
        .map_err(|e| RpcError::invalid_params(e.to_string()))?;
    Ok((start, end, relist))
}

impl Command for Blacklistrune {
    fn name(&self) -> &'static str {
        self.name
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
            let (start, end, relist) = parse(&ctx)?;
            let list = book.blacklist(start, end, relist).await?;
            let list: Vec<Value> = list
                .into_iter()
                .map(|(s, e)| json!({"start": s, "end": e}))
                .collect();
            Ok(Reply::Result(json!({ "blacklist": list })))
        })
    }
}

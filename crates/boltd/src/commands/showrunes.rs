//! `showrunes [rune]`: every stored rune, or one given rune decoded (stored or not, ours or
//! not), in Core Lightning's shape (clnrest parses it with cln-rpc's `ShowrunesResponse`).

use std::sync::Arc;

use jsonrpc::{Param, RawValue, RpcError};
use serde_json::Value;

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};
use crate::rune_book::{rune_param, RuneBook};

const PARAMS: &[Param] = &[Param::opt("rune")];

pub struct Showrunes {
    pub book: Arc<RuneBook>,
}

fn parse(ctx: &Context) -> Result<Option<(String, runes::Rune)>, RpcError> {
    let b = ctx.bind(PARAMS)?;
    match b.get("rune") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => rune_param("rune", v).map(|(text, rune, _)| Some((text, rune))),
    }
}

impl Command for Showrunes {
    fn name(&self) -> &'static str {
        "showrunes"
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
            let given = parse(&ctx)?;
            let text = book.show(given).await;
            RawValue::from_string(text)
                .map(Reply::RawResult)
                .map_err(|e| RpcError::daemon(format!("showrunes: {e}")))
        })
    }
}

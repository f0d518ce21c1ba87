//! `feerates style`: the node's fee estimates in `perkw` or `perkb`, every field as
//! lightningd builds it (chain reference §1.5; the chain crate's `FeeratesReport`).

use std::sync::Arc;

use chain::{FeerateStyle, Fees};
use jsonrpc::{Param, RpcError};
use serde_json::Value;

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[Param::req("style")];

pub struct Feerates {
    pub fees: Arc<Fees>,
    /// Whether we offer anchor channels (prices `unilateral_close_satoshis`).
    pub anchors: bool,
}

fn style(v: Option<&Value>) -> Result<FeerateStyle, RpcError> {
    let text = match v {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    FeerateStyle::parse(&text).ok_or_else(|| {
        RpcError::invalid_params(format!(
            "'style' should be 'perkw' or 'perkb', not '{text}'"
        ))
    })
}

impl Command for Feerates {
    fn name(&self) -> &'static str {
        "feerates"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        style(ctx.bind(PARAMS)?.get("style")).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let fees = self.fees.clone();
        let anchors = self.anchors;
        Box::pin(async move {
            let style = style(ctx.bind(PARAMS)?.get("style"))?;
            Ok(Reply::Result(fees.report().to_json(style, anchors)))
        })
    }
}

//! `listsendpays [bolt11] [payment_hash] [status]`: our outgoing payments, one object
//! per payment (lightningd/pay.c).

use std::sync::Arc;

use jsonrpc::{Bound, Param, RpcError};
use serde_json::{json, Value};

use crate::payments::send::Sender;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::opt("bolt11"),
    Param::opt("payment_hash"),
    Param::opt("status"),
    Param::opt("index"),
    Param::opt("start"),
    Param::opt("limit"),
];

/// Which payments a listing wants (shared with `listpays`).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub bolt11: Option<String>,
    pub payment_hash: Option<String>,
    pub status: Option<String>,
}

impl Filter {
    pub fn parse(b: &Bound) -> Result<Filter, RpcError> {
        let f = Filter {
            bolt11: b.str("bolt11")?.map(str::to_string),
            payment_hash: b.str("payment_hash")?.map(str::to_lowercase),
            status: b.str("status")?.map(str::to_string),
        };
        if f.bolt11.is_some() && f.payment_hash.is_some() {
            return Err(RpcError::invalid_params(
                "Can only specify one of {bolt11} or {payment_hash}",
            ));
        }
        if let Some(s) = &f.status {
            if !["pending", "complete", "failed"].contains(&s.as_str()) {
                return Err(RpcError::invalid_params(format!(
                    "status: should be an invoice status: invalid token '\"{s}\"'"
                )));
            }
        }
        Ok(f)
    }

    pub fn keeps(&self, p: &Value) -> bool {
        self.bolt11.as_ref().is_none_or(|b| p["bolt11"] == *b)
            && self
                .payment_hash
                .as_ref()
                .is_none_or(|h| p["payment_hash"] == *h)
            && self.status.as_ref().is_none_or(|s| p["status"] == *s)
    }
}

pub struct Listsendpays {
    pub sender: Arc<Sender>,
}

impl Command for Listsendpays {
    fn name(&self) -> &'static str {
        "listsendpays"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        Filter::parse(&ctx.bind(PARAMS)?).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let sender = self.sender.clone();
        Box::pin(async move {
            let f = Filter::parse(&ctx.bind(PARAMS)?)?;
            let payments: Vec<Value> = sender
                .list()
                .await?
                .into_iter()
                .filter(|p| f.keeps(p))
                .collect();
            Ok(Reply::Result(json!({ "payments": payments })))
        })
    }
}

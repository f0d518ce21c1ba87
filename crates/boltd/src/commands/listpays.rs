//! `listpays [bolt11] [payment_hash] [status]`: our payments as CLN's xpay plugin sums
//! them up (one per payment hash: we send one group per hash).

use std::sync::Arc;

use jsonrpc::{Param, RpcError};
use serde_json::{json, Map, Value};

use super::listsendpays::Filter;
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

pub struct Listpays {
    pub sender: Arc<Sender>,
}

/// The `listpays` entry of one payment object.
pub fn summary(p: &Value) -> Value {
    let mut o = Map::new();
    let mut copy = |from: &str, to: &str| {
        if let Some(v) = p.get(from).filter(|v| !v.is_null()) {
            o.insert(to.into(), v.clone());
        }
    };
    copy("bolt11", "bolt11");
    copy("description", "description");
    copy("destination", "destination");
    copy("payment_hash", "payment_hash");
    copy("status", "status");
    copy("created_at", "created_at");
    copy("completed_at", "completed_at");
    copy("label", "label");
    copy("payment_preimage", "preimage");
    copy("amount_msat", "amount_msat");
    copy("amount_sent_msat", "amount_sent_msat");
    copy("created_index", "created_index");
    copy("updated_index", "updated_index");
    Value::Object(o)
}

impl Command for Listpays {
    fn name(&self) -> &'static str {
        "listpays"
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
            let pays: Vec<Value> = f.apply(sender.list().await?).iter().map(summary).collect();
            Ok(Reply::Result(json!({ "pays": pays })))
        })
    }
}

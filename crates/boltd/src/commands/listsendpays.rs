//! `listsendpays [bolt11] [payment_hash] [status] [index] [start] [limit]`: our outgoing
//! payments, one object per part (lightningd/pay.c); `index` pages by `created_index` or
//! `updated_index`.

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
    /// `index` (`created_index` or `updated_index`), `start` and `limit`.
    pub page: Option<(&'static str, u64, Option<u64>)>,
}

impl Filter {
    pub fn parse(b: &Bound) -> Result<Filter, RpcError> {
        let f = Filter {
            bolt11: b.str("bolt11")?.map(str::to_string),
            payment_hash: b.str("payment_hash")?.map(str::to_lowercase),
            status: b.str("status")?.map(str::to_string),
            page: None,
        };
        let order = super::listinvoices::parse_index(b)?;
        let (start, limit) = (b.u64("start")?, b.u64("limit")?);
        if order.is_none() && start.is_some() {
            return Err(RpcError::invalid_params(
                "Can only specify {start} with {index}",
            ));
        }
        if order.is_none() && limit.is_some() {
            return Err(RpcError::invalid_params(
                "Can only specify {limit} with {index}",
            ));
        }
        if start.is_some() && (f.bolt11.is_some() || f.payment_hash.is_some()) {
            return Err(RpcError::invalid_params(
                "Cannot use start with bolt11 or payment_hash",
            ));
        }
        let mut f = f;
        f.page = order.map(|o| {
            let key = match o {
                store::InvoiceOrder::Created => "created_index",
                store::InvoiceOrder::Updated => "updated_index",
            };
            (key, start.unwrap_or(0), limit)
        });
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

    /// The kept payments, paged as `index`/`start`/`limit` ask.
    pub fn apply(&self, all: Vec<Value>) -> Vec<Value> {
        let mut kept: Vec<Value> = all.into_iter().filter(|p| self.keeps(p)).collect();
        if let Some((key, start, limit)) = self.page {
            kept.retain(|p| p[key].as_u64().is_some_and(|i| i >= start));
            kept.sort_by_key(|p| p[key].as_u64());
            if let Some(l) = limit {
                kept.truncate(usize::try_from(l).unwrap_or(usize::MAX));
            }
        }
        kept
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
            let payments = f.apply(sender.list().await?);
            Ok(Reply::Result(json!({ "payments": payments })))
        })
    }
}

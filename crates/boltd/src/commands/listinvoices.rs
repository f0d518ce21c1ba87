//! `listinvoices [label] [invstring] [payment_hash] [offer_id] [index] [start] [limit]`
//! (lightningd/invoice.c).

use std::sync::Arc;

use jsonrpc::params::bad_token;
use jsonrpc::{Bound, Param, RpcError};
use serde_json::{json, Value};
use store::InvoiceOrder;

use super::invoice::{parse_hex32, parse_label};
use crate::invoices::{decode, now, render, Invoices, Select};
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::opt("label"),
    Param::opt("invstring"),
    Param::opt("payment_hash"),
    Param::opt("offer_id"),
    Param::opt("index"),
    Param::opt("start"),
    Param::opt("limit"),
];

pub struct Listinvoices {
    pub invoices: Arc<Invoices>,
}

/// `index`: `created` or `updated`.
pub(crate) fn parse_index(b: &Bound) -> Result<Option<InvoiceOrder>, RpcError> {
    match b.get("index") {
        None => Ok(None),
        Some(Value::String(s)) if s == "created" => Ok(Some(InvoiceOrder::Created)),
        Some(Value::String(s)) if s == "updated" => Ok(Some(InvoiceOrder::Updated)),
        Some(v) => Err(bad_token("index", "should be 'created' or 'updated'", v)),
    }
}

fn parse(ctx: &Context, b: &Bound) -> Result<Select, RpcError> {
    let given = ["label", "invstring", "payment_hash", "offer_id"]
        .iter()
        .filter(|n| b.get(n).is_some())
        .count();
    if given > 1 {
        return Err(RpcError::invalid_params(
            "Can only specify one of {label}, {invstring}, {payment_hash} or {offer_id}",
        ));
    }
    let order = parse_index(b)?;
    let start = b.u64("start")?;
    let limit = b.u64("limit")?;
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
    if b.get("label").is_some() {
        return Ok(Select::Label(parse_label(ctx, b, 0)?));
    }
    if let Some(v) = b.get("invstring") {
        let s = v
            .as_str()
            .ok_or_else(|| bad_token("invstring", "should be a string", v))?;
        // A BOLT 12 string cannot be one of ours (we issue none): nothing to list.
        if s.starts_with("lni1") || s.starts_with("lno1") {
            return Ok(Select::Nothing);
        }
        return decode::decode(s)
            .map(|d| Select::Hash(d.payment_hash))
            .map_err(|_| RpcError::invalid_params("Invalid invstring"));
    }
    if let Some(h) = parse_hex32(b, "payment_hash", "should be a 32 byte hex value")? {
        return Ok(Select::Hash(h));
    }
    if parse_hex32(b, "offer_id", "should be a 32 byte hex value")?.is_some() {
        return Ok(Select::Nothing);
    }
    Ok(Select::All {
        order: order.unwrap_or(InvoiceOrder::Created),
        start: start.unwrap_or(0),
        limit,
    })
}

impl Command for Listinvoices {
    fn name(&self) -> &'static str {
        "listinvoices"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        parse(ctx, &ctx.bind(PARAMS)?).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let invoices = self.invoices.clone();
        Box::pin(async move {
            let select = parse(&ctx, &ctx.bind(PARAMS)?)?;
            let list = invoices.list(select).await?;
            let now = now();
            let rendered: Vec<Value> = list.iter().map(|i| render::invoice_json(i, now)).collect();
            Ok(Reply::Result(json!({ "invoices": rendered })))
        })
    }
}

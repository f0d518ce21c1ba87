//! `delinvoice label status [desconly]`: deletes an invoice (or only its description)
//! if its status is the one the caller names (lightningd/invoice.c).

use std::sync::Arc;

use jsonrpc::params::bad_token;
use jsonrpc::{Bound, Param, RpcError};

use super::invoice::parse_label;
use crate::invoices::Invoices;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::req("label"),
    Param::req("status"),
    Param::opt("desconly"),
];

pub struct Delinvoice {
    pub invoices: Arc<Invoices>,
}

fn parse(ctx: &Context, b: &Bound) -> Result<(String, String, bool), RpcError> {
    let label = parse_label(ctx, b, 0)?;
    let status = match b.get("status") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => return Err(bad_token("status", "should be a string", v)),
        None => {
            return Err(RpcError::invalid_params(
                "missing required parameter: status",
            ))
        }
    };
    Ok((label, status, b.bool("desconly")?.unwrap_or(false)))
}

impl Command for Delinvoice {
    fn name(&self) -> &'static str {
        "delinvoice"
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
            let (label, status, desconly) = parse(&ctx, &ctx.bind(PARAMS)?)?;
            Ok(Reply::Result(
                invoices.delete(label, status, desconly).await?,
            ))
        })
    }
}

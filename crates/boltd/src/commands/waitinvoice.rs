//! `waitinvoice label`: waits until the invoice is paid (its object), expires (903) or
//! is deleted (lightningd/invoice.c).

use std::sync::Arc;

use jsonrpc::{Param, RpcError};

use super::invoice::parse_label;
use crate::invoices::Invoices;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[Param::req("label")];

pub struct Waitinvoice {
    pub invoices: Arc<Invoices>,
}

impl Command for Waitinvoice {
    fn name(&self) -> &'static str {
        "waitinvoice"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        parse_label(ctx, &ctx.bind(PARAMS)?, 0).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let invoices = self.invoices.clone();
        Box::pin(async move {
            let label = parse_label(&ctx, &ctx.bind(PARAMS)?, 0)?;
            Ok(Reply::Result(invoices.wait_label(label).await?))
        })
    }
}

//! `waitanyinvoice [lastpay_index] [timeout]`: the next invoice paid after
//! `lastpay_index`; 904 after `timeout` seconds (lightningd/invoice.c).

use std::sync::Arc;

use jsonrpc::{Param, RpcError};

use crate::invoices::Invoices;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[Param::opt("lastpay_index"), Param::opt("timeout")];

pub struct Waitanyinvoice {
    pub invoices: Arc<Invoices>,
}

fn parse(ctx: &Context) -> Result<(u64, Option<u64>), RpcError> {
    let b = ctx.bind(PARAMS)?;
    Ok((b.u64("lastpay_index")?.unwrap_or(0), b.u64("timeout")?))
}

impl Command for Waitanyinvoice {
    fn name(&self) -> &'static str {
        "waitanyinvoice"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        parse(ctx).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let invoices = self.invoices.clone();
        Box::pin(async move {
            let (last, timeout) = parse(&ctx)?;
            Ok(Reply::Result(invoices.wait_any(last, timeout).await?))
        })
    }
}

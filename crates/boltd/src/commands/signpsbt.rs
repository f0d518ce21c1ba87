//! `signpsbt psbt [signonly]`: signs the inputs spending our (reserved) coins (wallet
//! reference §2.3).

use std::sync::Arc;

use jsonrpc::{Param, RpcError};
use serde_json::{json, Value};
use wallet::{SignError, Wallet};

use super::wallet_params as p;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[Param::req("psbt"), Param::opt("signonly")];

pub struct Signpsbt {
    pub wallet: Arc<Wallet>,
}

fn request(ctx: &Context) -> Result<(bitcoin::Psbt, Option<Vec<usize>>), RpcError> {
    let b = ctx.bind(PARAMS)?;
    let psbt = p::psbt("psbt", b.get("psbt").unwrap_or(&Value::Null))?;
    let signonly = match b.get("signonly") {
        None => None,
        Some(v) => Some(
            v.as_array()
                .ok_or_else(|| jsonrpc::params::bad_token("signonly", "should be an array", v))?
                .iter()
                .map(|i| {
                    i.as_u64().map(|i| i as usize).ok_or_else(|| {
                        jsonrpc::params::bad_token("signonly", "should be an array of indexes", v)
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok((psbt, signonly))
}

impl Command for Signpsbt {
    fn name(&self) -> &'static str {
        "signpsbt"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        request(ctx).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let wallet = self.wallet.clone();
        Box::pin(async move {
            let (psbt, signonly) = request(&ctx)?;
            let signed = crate::wallet_wiring::blocking(&wallet, move |w| {
                w.sign_psbt(psbt, signonly.as_deref())
            })
            .await?
            .map_err(|e| match e {
                SignError::OutOfRange(..) => RpcError::invalid_params(e.to_string()),
                other => RpcError::daemon(other.to_string()),
            })?;
            Ok(Reply::Result(json!({ "signed_psbt": signed.to_string() })))
        })
    }
}

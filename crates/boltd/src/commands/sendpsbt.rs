//! `sendpsbt psbt [reserve]`: a finished PSBT broadcast; our inputs are reserved first
//! and released if the backend refuses (wallet reference §2.3).

use std::sync::Arc;

use bitcoin::consensus::encode::serialize_hex;
use jsonrpc::{Param, RpcError};
use serde_json::{json, Value};

use super::reserveinputs::reserve_blocks;
use super::wallet_params as p;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};
use crate::wallet_wiring::Spender;

const PARAMS: &[Param] = &[Param::req("psbt"), Param::opt("reserve")];

pub struct Sendpsbt {
    pub spender: Arc<Spender>,
}

fn request(ctx: &Context) -> Result<(bitcoin::Psbt, u32), RpcError> {
    let b = ctx.bind(PARAMS)?;
    let psbt = p::psbt("psbt", b.get("psbt").unwrap_or(&Value::Null))?;
    Ok((psbt, reserve_blocks(&b)?))
}

impl Command for Sendpsbt {
    fn name(&self) -> &'static str {
        "sendpsbt"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        request(ctx).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let spender = self.spender.clone();
        Box::pin(async move {
            let (psbt, blocks) = request(&ctx)?;
            let text = psbt.to_string();
            let complete = psbt
                .inputs
                .iter()
                .all(|i| i.final_script_witness.is_some() || i.final_script_sig.is_some());
            if !complete || psbt.inputs.is_empty() {
                return Err(RpcError::daemon(format!("PSBT not finalizeable {text}")));
            }
            let tx = psbt
                .extract_tx()
                .map_err(|e| RpcError::daemon(format!("PSBT not finalizeable {text}: {e}")))?;
            let t = tx.clone();
            crate::wallet_wiring::blocking(&spender.wallet, move |w| {
                let ours = w.our_inputs(&t);
                w.reserve(&ours, false, blocks)
            })
            .await?
            .map_err(|e| p::spend_error(e, true))?;
            spender.broadcast(&tx).await?;
            Ok(Reply::Result(json!({
                "tx": serialize_hex(&tx),
                "txid": tx.compute_txid().to_string(),
            })))
        })
    }
}

//! `listtransactions`: every transaction the wallet knows (wallet reference §2.4).
//! `txindex` (the position in its block) is not kept by the wallet and reads 0.

use std::sync::Arc;

use bitcoin::consensus::encode::serialize_hex;
use jsonrpc::Param;
use serde_json::{json, Value};
use wallet::{Wallet, WalletTransaction};

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

pub struct Listtransactions {
    pub wallet: Arc<Wallet>,
}

fn tx_json(t: &WalletTransaction) -> Value {
    let tx = &t.tx;
    let inputs: Vec<Value> = tx
        .input
        .iter()
        .map(|i| {
            json!({
                "txid": i.previous_output.txid.to_string(),
                "index": i.previous_output.vout,
                "sequence": i.sequence.0,
            })
        })
        .collect();
    let outputs: Vec<Value> = tx
        .output
        .iter()
        .enumerate()
        .map(|(n, o)| {
            json!({
                "index": n,
                "amount_msat": o.value.to_sat() * 1000,
                "scriptPubKey": hex::encode(o.script_pubkey.as_bytes()),
            })
        })
        .collect();
    json!({
        "hash": tx.compute_txid().to_string(),
        "rawtx": serialize_hex(tx),
        "blockheight": t.blockheight,
        "txindex": 0,
        "locktime": tx.lock_time.to_consensus_u32(),
        "version": tx.version.0,
        "inputs": inputs,
        "outputs": outputs,
    })
}

impl Command for Listtransactions {
    fn name(&self) -> &'static str {
        "listtransactions"
    }
    fn params(&self) -> &'static [Param] {
        &[]
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let wallet = self.wallet.clone();
        Box::pin(async move {
            ctx.bind(&[])?;
            let txs = crate::wallet_wiring::blocking(&wallet, |w| w.transactions()).await?;
            let txs: Vec<Value> = txs.iter().map(tx_json).collect();
            Ok(Reply::Result(json!({ "transactions": txs })))
        })
    }
}

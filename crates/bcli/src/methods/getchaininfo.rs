//! `getchaininfo [last_height]` → `getblockchaininfo`: `chain`, `headercount`,
//! `blockcount`, `ibd`. `last_height` is accepted and not needed.

use corepc_types::{v21, v23, v28, v29};
use jsonrpc::Param;
use serde_json::{json, Value};

use super::{first_shape, shape};
use crate::error::{bind, MethodError};
use crate::rpc::Bitcoind;

pub const USAGE: &str = "[last_height]";
const PARAMS: [Param; 1] = [Param::opt("last_height")];

/// The four fields lightningd needs, from whichever version answered.
struct Info {
    chain: String,
    headers: i64,
    blocks: i64,
    ibd: bool,
}

fn read(v: &Value) -> Result<Info, String> {
    first_shape(
        v,
        &[
            |v| {
                shape::<v29::GetBlockchainInfo>(v).map(|i| Info {
                    chain: i.chain,
                    headers: i.headers,
                    blocks: i.blocks,
                    ibd: i.initial_block_download,
                })
            },
            |v| {
                shape::<v28::GetBlockchainInfo>(v).map(|i| Info {
                    chain: i.chain,
                    headers: i.headers,
                    blocks: i.blocks,
                    ibd: i.initial_block_download,
                })
            },
            |v| {
                shape::<v23::GetBlockchainInfo>(v).map(|i| Info {
                    chain: i.chain,
                    headers: i.headers,
                    blocks: i.blocks,
                    ibd: i.initial_block_download,
                })
            },
            |v| {
                shape::<v21::GetBlockchainInfo>(v).map(|i| Info {
                    chain: i.chain,
                    headers: i.headers,
                    blocks: i.blocks,
                    ibd: i.initial_block_download,
                })
            },
        ],
    )
}

pub async fn run(bitcoind: &Bitcoind, params: &Value) -> Result<Value, MethodError> {
    let bound = bind(params, &PARAMS)?;
    if bound.get("last_height").is_some() {
        crate::error::u32_param(&bound, "last_height")?;
    }
    let call = "getblockchaininfo";
    let v = bitcoind
        .call_value(call, &[])
        .await
        .map_err(|f| MethodError::from_failure(call, &f))?;
    let info = read(&v).map_err(|e| MethodError::bcli(call, "bad JSON", e))?;
    let count = |name: &str, n: i64| {
        u32::try_from(n).map_err(|_| MethodError::bcli(call, "bad JSON", format!("{name} {n}")))
    };
    Ok(json!({
        "chain": info.chain,
        "headercount": count("headers", info.headers)?,
        "blockcount": count("blocks", info.blocks)?,
        "ibd": info.ibd && !bitcoind.config().ignore_ibd,
    }))
}

//! `getrawblockbyheight height` → `getblockhash` then `getblock <hash> 0`. No block at that
//! height (yet) is `{"blockhash": null, "block": null}`; a block bitcoind has a hash for but
//! cannot serve (pruned, still downloading) is asked for every second until the retry
//! timeout.

use std::str::FromStr;
use std::time::Duration;

use bitcoin::BlockHash;
use corepc_types::v17;
use jsonrpc::Param;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::error::{bind, u32_param, MethodError};
use crate::rpc::{Bitcoind, RpcFailure};

pub const USAGE: &str = "height";
const PARAMS: [Param; 1] = [Param::req("height")];

pub async fn run(bitcoind: &Bitcoind, params: &Value) -> Result<Value, MethodError> {
    let bound = bind(params, &PARAMS)?;
    let height = u32_param(&bound, "height")?;

    let call = format!("getblockhash {height}");
    let hash = match bitcoind
        .call::<v17::GetBlockHash>("getblockhash", &[json!(height)])
        .await
    {
        Ok(h) => h.0,
        // Above the tip (or any refusal): no block there.
        Err(RpcFailure::Rpc { .. }) => return Ok(json!({"blockhash": null, "block": null})),
        Err(f) => return Err(MethodError::from_failure(&call, &f)),
    };
    if hash.len() != 64 || BlockHash::from_str(&hash).is_err() {
        return Err(MethodError::bcli(&call, "bad JSON", "bad blockhash"));
    }

    let retry = bitcoind.config().retry;
    let deadline = Instant::now() + retry;
    loop {
        match bitcoind
            .call::<v17::GetBlockVerboseZero>("getblock", &[json!(hash), json!(0)])
            .await
        {
            Ok(block) => return Ok(json!({"blockhash": hash, "block": block.0})),
            Err(RpcFailure::Rpc { code, message }) => {
                tracing::debug!(
                    "failed to fetch block {hash} from the bitcoin backend (maybe pruned): {code} {message}"
                );
            }
            Err(f) => return Err(MethodError::from_failure(&format!("getblock {hash}"), &f)),
        }
        if Instant::now() >= deadline {
            return Err(MethodError::Bcli(format!(
                "getblock {hash} timed out after {} seconds",
                retry.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

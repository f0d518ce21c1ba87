//! `init`: wait for bitcoind and check it can serve us (bcli's `wait_and_check_bitcoind`).

use corepc_types::{v17, v19, v21, v28};
use serde_json::Value;

use crate::methods::{first_shape, shape};
use crate::rpc::{Bitcoind, RpcFailure};

/// `estimatesmartfee` and the RPCs we use need at least this.
const MIN_VERSION: usize = 220_000;

/// `version` and `localrelay` from whichever version answered.
fn read(v: &Value) -> Result<(usize, bool), String> {
    first_shape(
        v,
        &[
            |v| shape::<v28::GetNetworkInfo>(v).map(|n| (n.version, n.local_relay)),
            |v| shape::<v21::GetNetworkInfo>(v).map(|n| (n.version, n.local_relay)),
            |v| shape::<v19::GetNetworkInfo>(v).map(|n| (n.version, n.local_relay)),
            |v| shape::<v17::GetNetworkInfo>(v).map(|n| (n.version, n.local_relay)),
        ],
    )
}

/// Ok, or the reason bcli cannot run (the caller prints it and exits).
pub async fn check(bitcoind: &Bitcoind) -> Result<(), String> {
    let v = match bitcoind.call_value("getnetworkinfo", &[]).await {
        Ok(v) => v,
        Err(f @ RpcFailure::Unreachable { .. }) => {
            return Err(format!(
                "{f}\n\nMake sure you have bitcoind running and that its RPC is reachable with \
                 bcli's settings (bitcoin-rpcconnect, bitcoin-rpcport, bitcoin-datadir for the \
                 cookie, or bitcoin-rpcuser/bitcoin-rpcpassword)."
            ))
        }
        Err(f) => return Err(format!("getnetworkinfo: {f}")),
    };
    let (version, relay) = read(&v).map_err(|e| {
        format!("{e}.  Got '{v}'. Can not continue without proceeding to sanity checks.")
    })?;
    if version < MIN_VERSION {
        return Err(format!(
            "Unsupported bitcoind version {version}, at least {MIN_VERSION} required."
        ));
    }
    if !relay {
        return Err("The 'blocksonly' mode of bitcoind, or any option deactivating transaction relay is not supported.".into());
    }
    Ok(())
}

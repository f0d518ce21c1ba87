//! `estimatefees` → `getmempoolinfo` (the floor: the higher of `mempoolminfee` and
//! `minrelaytxfee`) and `estimatesmartfee` for 2 blocks (CONSERVATIVE) and 6, 12, 100
//! (ECONOMICAL), all in sat/kvB. Any call that fails gives the "no estimates" answer;
//! regtest, which has no fee data, gets 1000 sat/kvB where bitcoind has no estimate.

use bitcoin::Amount;
use jsonrpc::Param;
use serde_json::{json, Value};

use crate::error::{bind, MethodError};
use crate::rpc::Bitcoind;

pub const USAGE: &str = "";
const PARAMS: [Param; 0] = [];

const TARGETS: [(u32, &str); 4] = [
    (2, "CONSERVATIVE"),
    (6, "ECONOMICAL"),
    (12, "ECONOMICAL"),
    (100, "ECONOMICAL"),
];

/// `getmempoolinfo`'s fields that are read, and only those (as lightningd's bcli): test
/// frameworks' stand-ins (pyln-testing's `set_feerates`) answer with just these.
#[derive(serde::Deserialize)]
struct MempoolFloor {
    mempoolminfee: f64,
    minrelaytxfee: f64,
}

/// `estimatesmartfee`'s one field that is read (absent when bitcoind has no estimate).
#[derive(serde::Deserialize)]
struct SmartFee {
    feerate: Option<f64>,
}

/// What lightningd is told when there is nothing to tell: keep what you had.
fn no_estimates() -> Value {
    json!({"feerates": [], "feerate_floor": 1000})
}

/// BTC/kvB as bitcoind reports it → sat/kvB.
fn perkb(call: &str, btc: f64) -> Result<u64, MethodError> {
    Amount::from_btc(btc)
        .map(Amount::to_sat)
        .map_err(|e| MethodError::bcli(call, "bad JSON", format!("feerate {btc}: {e}")))
}

pub async fn run(bitcoind: &Bitcoind, params: &Value) -> Result<Value, MethodError> {
    bind(params, &PARAMS)?;
    let info = match bitcoind.call_value("getmempoolinfo", &[]).await {
        Ok(v) => serde_json::from_value::<MempoolFloor>(v)
            .map_err(|e| MethodError::bcli("getmempoolinfo", "bad JSON", e))?,
        Err(f) => {
            tracing::info!("getmempoolinfo: {f}");
            return Ok(no_estimates());
        }
    };
    let floor = perkb("getmempoolinfo", info.mempoolminfee)?
        .max(perkb("getmempoolinfo", info.minrelaytxfee)?);

    let mut feerates = Vec::new();
    for (blocks, mode) in TARGETS {
        let call = format!("estimatesmartfee {blocks} {mode}");
        let v = match bitcoind
            .call_value("estimatesmartfee", &[json!(blocks), json!(mode)])
            .await
        {
            Ok(v) => v,
            Err(f) => {
                tracing::info!("{call}: {f}");
                return Ok(no_estimates());
            }
        };
        let est = serde_json::from_value::<SmartFee>(v)
            .map_err(|e| MethodError::bcli(&call, "bad JSON", e))?;
        let mut rate = match est.feerate {
            Some(btc) => perkb(&call, btc)?,
            None if bitcoind.config().fake_fees => 1000,
            None => return Ok(no_estimates()),
        };
        if rate == 0 {
            continue;
        }
        if rate > u64::from(u32::MAX) {
            tracing::warn!("Feerate {rate} is ridiculous: trimming to 32 bits");
            rate = u64::from(u32::MAX);
        }
        if rate < floor {
            tracing::debug!(
                "Feerate for {blocks} blocks raised from {rate} perkb to floor of {floor}"
            );
            rate = floor;
        }
        feerates.push(json!({"blocks": blocks, "feerate": rate}));
    }
    Ok(json!({"feerates": feerates, "feerate_floor": floor}))
}

//! Parameters the wallet commands share, parsed as lightningd does (wallet reference §1.5,
//! §2.3): feerates (named levels, `<N>blocks`, `<N>perkw`/`<N>perkb`, bare = perkb),
//! satoshi amounts, destinations on our network, outpoints and PSBTs; and the wallet's
//! refusals as JSON-RPC errors.

use std::str::FromStr;

use bitcoin::{Address, Amount, Network, OutPoint, Psbt, ScriptBuf};
use chain::Fees;
use jsonrpc::params::bad_token;
use jsonrpc::RpcError;
use serde_json::Value;
use wallet::SpendError;

pub const FUND_MAX_EXCEEDED: i64 = 300;
pub const FUND_CANNOT_AFFORD: i64 = 301;
pub const FUND_OUTPUT_IS_DUST: i64 = 302;
pub const FUNDING_STILL_SYNCING_BITCOIN: i64 = 304;
pub const BCLI_NO_FEE_ESTIMATES: i64 = 501;

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A feerate parameter in perkw (explicit values below the floor of 253 become 253).
pub fn feerate(name: &str, v: &Value, fees: &Fees) -> Result<u32, RpcError> {
    let t = text(v);
    let unknown = || RpcError::new(BCLI_NO_FEE_ESTIMATES, "Cannot estimate fees (yet)");
    let named = match t.as_str() {
        "opening" => Some(fees.opening()),
        "mutual_close" => Some(fees.mutual_close()),
        "penalty" => Some(fees.penalty()),
        "unilateral_close" => Some(fees.unilateral_close()),
        "unilateral_anchor_close" => Some(fees.unilateral_anchor_close()),
        "slow" => Some(fees.feerate_for_deadline(100)),
        "normal" => Some(fees.feerate_for_deadline(12)),
        "urgent" => Some(fees.feerate_for_deadline(6)),
        "minimum" => Some(Some(fees.floor())),
        _ => None,
    };
    if let Some(rate) = named {
        return rate.ok_or_else(unknown);
    }
    if let Some(n) = t.strip_suffix("blocks") {
        let blocks: u32 = n.parse().map_err(|_| {
            RpcError::invalid_params(format!("'{name}' should be an integer not '{n}'"))
        })?;
        return fees.feerate_for_deadline(blocks).ok_or_else(unknown);
    }
    let (digits, perkb) = if let Some(n) = t.strip_suffix("perkw") {
        (n, false)
    } else if let Some(n) = t.strip_suffix("perkb") {
        (n, true)
    } else {
        (t.as_str(), true)
    };
    let n: u32 = digits.parse().map_err(|_| {
        RpcError::invalid_params(format!(
            "'{name}' should be an integer with optional perkw/perkb, not '{t}'"
        ))
    })?;
    let perkw = if perkb { n / 4 } else { n };
    Ok(perkw.max(chain::FEERATE_FLOOR))
}

/// A satoshi amount: `123` (sat), `"123sat"`, `"123000msat"` (whole satoshis), `"0.001btc"`.
pub fn amount(name: &str, v: &Value) -> Result<Amount, RpcError> {
    let bad = || bad_token(name, "should be a satoshi amount", v);
    let t = text(v);
    let sat = if let Some(n) = t.strip_suffix("msat") {
        let msat: u64 = n.parse().map_err(|_| bad())?;
        if !msat.is_multiple_of(1000) {
            return Err(bad());
        }
        msat / 1000
    } else if let Some(n) = t.strip_suffix("sat") {
        n.parse().map_err(|_| bad())?
    } else if let Some(n) = t.strip_suffix("btc") {
        Amount::from_str_in(n, bitcoin::Denomination::Bitcoin)
            .map_err(|_| bad())?
            .to_sat()
    } else {
        t.parse().map_err(|_| bad())?
    };
    Ok(Amount::from_sat(sat))
}

/// A destination address on `network` (`network_name`: lightningd's name for it).
pub fn destination(v: &Value, network: Network, network_name: &str) -> Result<ScriptBuf, RpcError> {
    address_param("destination", v, network, network_name)
}

/// The address parameter `name` on `network` (lightningd's `param_bitcoin_address`).
pub fn address_param(
    name: &str,
    v: &Value,
    network: Network,
    network_name: &str,
) -> Result<ScriptBuf, RpcError> {
    let t = text(v);
    let parsed = Address::from_str(&t).map_err(|_| {
        RpcError::daemon(format!(
            "Could not parse destination address, {name} should be a valid address"
        ))
    })?;
    let addr = parsed.require_network(network).map_err(|_| {
        RpcError::daemon(format!(
            "Destination address is not on network {network_name}"
        ))
    })?;
    Ok(addr.script_pubkey())
}

/// `txid:vout`.
pub fn outpoint(v: &Value) -> Result<OutPoint, RpcError> {
    let t = text(v);
    OutPoint::from_str(&t).map_err(|_| {
        RpcError::invalid_params(format!(
            "Could not decode outpoint \"{t}\", expected format: txid:output"
        ))
    })
}

pub fn outpoints(name: &str, v: &Value) -> Result<Vec<OutPoint>, RpcError> {
    let arr = v
        .as_array()
        .ok_or_else(|| bad_token(name, "should be an array", v))?;
    arr.iter().map(outpoint).collect()
}

/// A base64 PSBT.
pub fn psbt(name: &str, v: &Value) -> Result<Psbt, RpcError> {
    let t = text(v);
    Psbt::from_str(&t).map_err(|_| bad_token(name, "should be a PSBT", v))
}

/// The wallet's refusal as lightningd's error.
pub fn spend_error(e: SpendError, synced: bool) -> RpcError {
    let msg = e.to_string();
    match e {
        SpendError::CannotAfford { .. } | SpendError::AllCannotAffordFees(_) if !synced => {
            RpcError::new(
                FUNDING_STILL_SYNCING_BITCOIN,
                "Cannot afford: still syncing with bitcoin network...",
            )
        }
        SpendError::CannotAfford { .. }
        | SpendError::AllCannotAffordFees(_)
        | SpendError::CannotAffordUtxos { .. } => RpcError::new(FUND_CANNOT_AFFORD, msg),
        SpendError::Dust(_) => RpcError::new(FUND_OUTPUT_IS_DUST, msg),
        SpendError::TooMuch(_) => RpcError::new(FUND_MAX_EXCEEDED, msg),
        SpendError::UnknownUtxo(_)
        | SpendError::AlreadySpent(_)
        | SpendError::AlreadyReserved(_)
        | SpendError::BadFeerate(_) => RpcError::invalid_params(msg),
        SpendError::Build(_) | SpendError::Persist(_) => RpcError::daemon(msg),
    }
}

/// The part of a spend's request `withdraw` and `txprepare` share: `feerate` (default
/// the opening rate), `minconf` (default 1) and `utxos`, around the outputs they built.
pub fn spend_request(
    b: &jsonrpc::Bound,
    fees: &Fees,
    outputs: Vec<(ScriptBuf, Amount)>,
    drain_to: Option<ScriptBuf>,
) -> Result<wallet::SpendRequest, RpcError> {
    let feerate = match b.get("feerate") {
        Some(v) => feerate("feerate", v, fees)?,
        None => fees
            .opening()
            .ok_or_else(|| RpcError::new(BCLI_NO_FEE_ESTIMATES, "Cannot estimate fees (yet)"))?,
    };
    let minconf = b.u64("minconf")?.unwrap_or(1);
    let utxos = b.get("utxos").map(|v| outpoints("utxos", v)).transpose()?;
    Ok(wallet::SpendRequest {
        outputs,
        drain_to,
        feerate_per_kw: u64::from(feerate),
        minconf: u32::try_from(minconf).unwrap_or(u32::MAX),
        utxos,
        reserve: wallet::DEFAULT_RESERVE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn feerates_parse_as_lightningd_does() {
        let fees = Fees::new(chain::FeeConfig::default());
        assert_eq!(
            feerate("feerate", &json!("1000perkw"), &fees).unwrap(),
            1000
        );
        assert_eq!(
            feerate("feerate", &json!("4000perkb"), &fees).unwrap(),
            1000
        );
        assert_eq!(feerate("feerate", &json!(4000), &fees).unwrap(), 1000);
        assert_eq!(feerate("feerate", &json!("10perkw"), &fees).unwrap(), 253);
        let e = feerate("feerate", &json!("fast"), &fees).unwrap_err();
        assert_eq!(e.code, -32602);
        assert_eq!(
            e.message,
            "'feerate' should be an integer with optional perkw/perkb, not 'fast'"
        );
        let e = feerate("feerate", &json!("xblocks"), &fees).unwrap_err();
        assert_eq!(e.message, "'feerate' should be an integer not 'x'");
        let e = feerate("feerate", &json!("normal"), &fees).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (501, "Cannot estimate fees (yet)")
        );
    }

    #[test]
    fn amounts_parse_in_every_unit() {
        for (v, sat) in [
            (json!(1234), 1234),
            (json!("1234sat"), 1234),
            (json!("1234000msat"), 1234),
            (json!("0.001btc"), 100_000),
        ] {
            assert_eq!(amount("satoshi", &v).unwrap().to_sat(), sat, "{v}");
        }
        for v in [json!("1msat"), json!("abc"), json!(-5), json!("1.5")] {
            assert!(amount("satoshi", &v).is_err(), "{v}");
        }
    }

    #[test]
    fn destinations_of_another_network_are_refused() {
        let main = json!("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq");
        let e = destination(&main, Network::Regtest, "regtest").unwrap_err();
        assert_eq!(e.message, "Destination address is not on network regtest");
        let e = destination(&json!("nonsense"), Network::Regtest, "regtest").unwrap_err();
        assert_eq!(e.code, -1);
    }
}

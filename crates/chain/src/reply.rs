//! Reading backend plugin replies into typed results, with lightningd's checks
//! (lightningd/bitcoind.c) and reasons. Nothing here panics on any JSON.

use std::str::FromStr;

use bitcoin::{Amount, Block, BlockHash, Denomination, ScriptBuf};
use serde_json::Value;

use crate::backend::{
    BackendError, ChainInfo, FeeReply, FeeTarget, FetchedBlock, SendOutcome, Utxo,
};

/// The largest serialized block consensus allows (size ≤ weight ≤ 4,000,000). Anything
/// longer is refused before decoding, so a hostile backend cannot make us allocate more.
pub const MAX_BLOCK_BYTES: usize = 4_000_000;

/// How much of a bad reply goes into the error (blocks are megabytes of hex).
const RESPONSE_LOG_CHARS: usize = 300;

pub(crate) fn bad(method: &'static str, reason: String, reply: &Value) -> BackendError {
    let mut response = reply.to_string();
    if response.len() > RESPONSE_LOG_CHARS {
        let mut cut = RESPONSE_LOG_CHARS;
        while !response.is_char_boundary(cut) {
            cut -= 1;
        }
        response.truncate(cut);
        response.push_str("...");
    }
    BackendError::BadReply {
        method,
        reason,
        response,
    }
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, String> {
    v.get(name)
        .ok_or_else(|| format!("bad 'result' field: missing '{name}'"))
}

fn u32_field(v: &Value, name: &str) -> Result<u32, String> {
    field(v, name)?
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("bad '{name}' field: Not a u32?"))
}

fn str_field<'a>(v: &'a Value, name: &str) -> Result<&'a str, String> {
    field(v, name)?
        .as_str()
        .ok_or_else(|| format!("bad '{name}' field: not a string"))
}

pub(crate) fn chain_info(v: &Value) -> Result<ChainInfo, String> {
    if !v.is_object() {
        return Err("bad 'result' field: not an object".into());
    }
    Ok(ChainInfo {
        chain: str_field(v, "chain")?.to_string(),
        headercount: u32_field(v, "headercount")?,
        blockcount: u32_field(v, "blockcount")?,
        ibd: field(v, "ibd")?
            .as_bool()
            .ok_or("bad 'ibd' field: not a bool")?,
    })
}

/// The fields older backends (the seed's plugin guide) sent instead of `feerates`, with
/// the target each stands for and the multiplier it carried (lightningd's former
/// conversion: `max_acceptable` was ten times the 2-block rate).
const OLD_STYLE: [(&str, u32, u32); 4] = [
    ("max_acceptable", 2, 10),
    ("unilateral_close", 6, 1),
    ("opening", 12, 1),
    ("mutual_close", 100, 1),
];

/// The floor lightningd assumed for old-style backends: 253 perkw in sat/kvB.
const OLD_STYLE_FLOOR: u32 = 253 * 4;

pub(crate) fn fees(v: &Value) -> Result<FeeReply, String> {
    if !v.is_object() {
        return Err("bad 'result' field: not an object".into());
    }
    if v.get("feerate_floor").is_none() {
        if v.get("opening").is_some() {
            return old_style_fees(v);
        }
        return Err("missing feerate_floor field".into());
    }
    let feerate_floor = u32_field(v, "feerate_floor")?;
    let list = field(v, "feerates")?
        .as_array()
        .ok_or("bad 'feerates' field: not an array")?;
    let mut feerates: Vec<FeeTarget> = Vec::with_capacity(list.len());
    for t in list {
        let mut rate = FeeTarget {
            blocks: u32_field(t, "blocks")?,
            feerate: u32_field(t, "feerate")?,
        };
        if let Some(prev) = feerates.last() {
            if rate.blocks <= prev.blocks {
                return Err(format!(
                    "Blocks must be ascending order: {} <= {}!",
                    rate.blocks, prev.blocks
                ));
            }
            if rate.feerate > prev.feerate {
                tracing::warn!(
                    "Feerate for {} blocks ({}) is > rate for {} blocks ({})!",
                    rate.blocks,
                    rate.feerate,
                    prev.blocks,
                    prev.feerate
                );
                rate.feerate = prev.feerate;
            }
        }
        feerates.push(rate);
    }
    Ok(FeeReply {
        feerate_floor,
        feerates,
    })
}

fn old_style_fees(v: &Value) -> Result<FeeReply, String> {
    let mut feerates: Vec<FeeTarget> = Vec::new();
    for (name, blocks, multiplier) in OLD_STYLE {
        let tok = v
            .get(name)
            .ok_or_else(|| format!("missing '{name}' field"))?;
        // null (or anything not a number) meant "could not estimate this one".
        let Some(rate) = tok.as_u64().and_then(|n| u32::try_from(n).ok()) else {
            tracing::info!("Unable to estimate {name} fees");
            continue;
        };
        if rate == 0 {
            continue;
        }
        let mut rate = FeeTarget {
            blocks,
            feerate: rate / multiplier,
        };
        if let Some(prev) = feerates.last() {
            rate.feerate = rate.feerate.min(prev.feerate);
        }
        feerates.push(rate);
    }
    Ok(FeeReply {
        feerate_floor: OLD_STYLE_FLOOR,
        feerates,
    })
}

pub(crate) fn raw_block(v: &Value) -> Result<Option<FetchedBlock>, String> {
    if !v.is_object() {
        return Err("bad 'result' field: not an object".into());
    }
    // Only `blockhash` says "no block" (lightningd tests nothing else).
    let hash = match field(v, "blockhash")? {
        Value::Null => return Ok(None),
        Value::String(s) if s.len() == 64 => {
            BlockHash::from_str(s).map_err(|_| "bad 'blockhash' field".to_string())?
        }
        _ => return Err("bad 'blockhash' field".into()),
    };
    let hex = str_field(v, "block").map_err(|_| "bad block".to_string())?;
    if hex.len() > 2 * MAX_BLOCK_BYTES {
        return Err(format!(
            "bad block: {} bytes is more than a block can be",
            hex.len() / 2
        ));
    }
    let block: Block =
        bitcoin::consensus::encode::deserialize_hex(hex).map_err(|e| format!("bad block: {e}"))?;
    Ok(Some(FetchedBlock { hash, block }))
}

/// Amounts as lightningd reads them: a number of satoshis, or `"<n>sat"`, `"<n>msat"`
/// (whole satoshis only), `"<x>btc"`.
fn amount(v: &Value) -> Option<Amount> {
    if let Some(n) = v.as_u64() {
        return Some(Amount::from_sat(n));
    }
    let s = v.as_str()?;
    if let Some(msat) = s.strip_suffix("msat") {
        let msat: u64 = msat.parse().ok()?;
        return msat
            .is_multiple_of(1000)
            .then(|| Amount::from_sat(msat / 1000));
    }
    if let Some(sat) = s.strip_suffix("sat") {
        return sat.parse().ok().map(Amount::from_sat);
    }
    if let Some(btc) = s.strip_suffix("btc") {
        return Amount::from_str_in(btc, Denomination::Bitcoin).ok();
    }
    s.parse().ok().map(Amount::from_sat)
}

pub(crate) fn utxo(v: &Value) -> Result<Option<Utxo>, String> {
    if !v.is_object() {
        return Err("bad 'result' field: not an object".into());
    }
    // Only `script` says "spent" (lightningd tests nothing else).
    let script = match field(v, "script")? {
        Value::Null => return Ok(None),
        Value::String(s) => ScriptBuf::from_hex(s).map_err(|_| "bad 'script' field")?,
        _ => return Err("bad 'script' field".into()),
    };
    let amount = amount(field(v, "amount")?).ok_or("bad 'amount' field")?;
    Ok(Some(Utxo { amount, script }))
}

pub(crate) fn send(v: &Value) -> Result<SendOutcome, String> {
    let success = field(v, "success")?
        .as_bool()
        .ok_or("bad 'success' field: not a bool")?;
    if success {
        return Ok(SendOutcome::Accepted);
    }
    let errmsg = v
        .get("errmsg")
        .and_then(Value::as_str)
        .ok_or("bad 'errmsg' field: missing or not a string")?;
    Ok(SendOutcome::Refused {
        errmsg: errmsg.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chain_info_needs_all_four_fields() {
        let ok = json!({"chain":"regtest","headercount":5,"blockcount":4,"ibd":false});
        let info = chain_info(&ok).unwrap();
        assert_eq!(
            (info.chain.as_str(), info.headercount, info.blockcount),
            ("regtest", 5, 4)
        );
        for missing in ["chain", "headercount", "blockcount", "ibd"] {
            let mut v = ok.clone();
            v.as_object_mut().unwrap().remove(missing);
            let err = chain_info(&v).unwrap_err();
            assert!(err.contains(missing), "{err}");
        }
        let negative = json!({"chain":"regtest","headercount":-1,"blockcount":4,"ibd":false});
        assert_eq!(
            chain_info(&negative).unwrap_err(),
            "bad 'headercount' field: Not a u32?"
        );
        let huge =
            json!({"chain":"regtest","headercount":1,"blockcount":4294967296u64,"ibd":false});
        assert!(chain_info(&huge).is_err());
        assert!(chain_info(&json!("garbage")).is_err());
        assert!(chain_info(&json!(null)).is_err());
    }

    #[test]
    fn fees_modern_form_is_ascending_and_clamped() {
        let v = json!({"feerate_floor":1000,"feerates":[
            {"blocks":2,"feerate":5000},{"blocks":6,"feerate":7000},{"blocks":12,"feerate":3000}]});
        let f = fees(&v).unwrap();
        assert_eq!(f.feerate_floor, 1000);
        let rates: Vec<_> = f.feerates.iter().map(|t| (t.blocks, t.feerate)).collect();
        assert_eq!(rates, vec![(2, 5000), (6, 5000), (12, 3000)]);

        let unordered = json!({"feerate_floor":1000,"feerates":[{"blocks":6,"feerate":1},{"blocks":6,"feerate":1}]});
        assert_eq!(
            fees(&unordered).unwrap_err(),
            "Blocks must be ascending order: 6 <= 6!"
        );
        let empty = json!({"feerate_floor":1000,"feerates":[]});
        assert!(fees(&empty).unwrap().feerates.is_empty());
        assert_eq!(
            fees(&json!({"feerates":[]})).unwrap_err(),
            "missing feerate_floor field"
        );
        assert!(fees(&json!({"feerate_floor":1000})).is_err());
        assert!(fees(&json!({"feerate_floor":"x","feerates":[]})).is_err());
        assert!(fees(&json!({"feerate_floor":1,"feerates":[{"blocks":2}]})).is_err());
    }

    #[test]
    fn fees_old_named_fields_still_work() {
        let v = json!({"opening":12000,"mutual_close":4000,"unilateral_close":20000,
            "delayed_to_us":12000,"htlc_resolution":20000,"penalty":12000,
            "min_acceptable":2000,"max_acceptable":300000});
        let f = fees(&v).unwrap();
        assert_eq!(f.feerate_floor, 1012);
        let rates: Vec<_> = f.feerates.iter().map(|t| (t.blocks, t.feerate)).collect();
        assert_eq!(
            rates,
            vec![(2, 30000), (6, 20000), (12, 12000), (100, 4000)]
        );

        // The seed: "If fee estimation fails, the plugin must set all the fields to null".
        let nulls = json!({"opening":null,"mutual_close":null,"unilateral_close":null,
            "delayed_to_us":null,"htlc_resolution":null,"penalty":null,
            "min_acceptable":null,"max_acceptable":null});
        assert!(fees(&nulls).unwrap().feerates.is_empty());
        assert_eq!(
            fees(&json!({"opening":1})).unwrap_err(),
            "missing 'max_acceptable' field"
        );
    }

    #[test]
    fn raw_block_null_hash_means_no_block() {
        assert!(raw_block(&json!({"blockhash":null,"block":null}))
            .unwrap()
            .is_none());
        assert!(raw_block(&json!({"blockhash":null})).unwrap().is_none());
        assert!(raw_block(&json!({})).is_err());
        assert!(raw_block(&json!({"blockhash":"00","block":"00"})).is_err());
        let h = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206";
        assert!(raw_block(&json!({"blockhash":h})).is_err());
        assert!(raw_block(&json!({"blockhash":h,"block":"zz"})).is_err());
        assert!(raw_block(&json!({"blockhash":h,"block":"0100"})).is_err());
    }

    #[test]
    fn raw_block_longer_than_any_block_is_refused_before_decoding() {
        let h = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206";
        let hex = "00".repeat(MAX_BLOCK_BYTES + 1);
        let err = raw_block(&json!({"blockhash":h,"block":hex})).unwrap_err();
        assert!(err.starts_with("bad block: 4000001 bytes"), "{err}");
    }

    #[test]
    fn utxo_amount_forms() {
        let s = "0014751e76e8199196d454941c45d1b3a323f1433bd6";
        for a in [
            json!(1000),
            json!("1000sat"),
            json!("1000000msat"),
            json!("0.00001btc"),
        ] {
            let u = utxo(&json!({"amount":a,"script":s})).unwrap().unwrap();
            assert_eq!(u.amount, Amount::from_sat(1000));
        }
        assert!(utxo(&json!({"amount":null,"script":null}))
            .unwrap()
            .is_none());
        assert!(utxo(&json!({"script":null})).unwrap().is_none());
        assert!(utxo(&json!({"amount":"1001msat","script":s})).is_err());
        assert!(utxo(&json!({"amount":-1,"script":s})).is_err());
        assert!(utxo(&json!({"amount":1,"script":"xyz"})).is_err());
        assert!(utxo(&json!({"amount":1,"script":7})).is_err());
    }

    #[test]
    fn send_needs_errmsg_on_failure() {
        assert_eq!(
            send(&json!({"success":true})).unwrap(),
            SendOutcome::Accepted
        );
        assert_eq!(
            send(&json!({"success":false,"errmsg":"bad-txns"})).unwrap(),
            SendOutcome::Refused {
                errmsg: "bad-txns".into()
            }
        );
        assert!(send(&json!({"success":false})).is_err());
        assert!(send(&json!({"success":"yes"})).is_err());
        assert!(send(&json!([])).is_err());
    }

    #[test]
    fn bad_reply_is_cut_for_the_log() {
        let big = json!({"block": "ab".repeat(10_000)});
        match bad("getrawblockbyheight", "bad block".into(), &big) {
            BackendError::BadReply { response, .. } => assert!(response.len() < 400),
            other => panic!("{other:?}"),
        }
    }
}

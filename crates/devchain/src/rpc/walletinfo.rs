//! The rest of the wallet calls test frameworks make (pyln-testing, plugin suites):
//! `getwalletinfo`, `listunspent`, `restorewallet`, and the loaded wallets' names. Every
//! name is the one faucet; names are remembered only while the server runs (bitcoind
//! started with `-nowallet` loads none either).

use bitcoin::{Address, Amount};
use serde_json::{json, Value};

use super::{code, Params, RpcError, Shared};
use crate::{json, params};

/// Remembers `name` as loaded (once).
pub(super) fn remember(s: &Shared, name: &str) {
    let mut w = s.wallets();
    if !w.iter().any(|n| n == name) {
        w.push(name.to_string());
    }
}

/// `restorewallet wallet_name backup_file`: the faucet under that name (there is no
/// backup to read: the faucet's key is the chain's own).
pub fn restorewallet(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let name = p.str(0)?;
    p.str(1)?;
    remember(s, name);
    Ok(json!({"name": name}))
}

pub fn getwalletinfo(s: &Shared, _: &Params) -> Result<Value, RpcError> {
    let name = s.wallets().first().cloned().ok_or_else(|| {
        RpcError::new(
            code::WALLET_NOT_FOUND,
            "No wallet is loaded. Load a wallet using loadwallet or create a new one with createwallet. (Note: A default wallet is no longer automatically created)",
        )
    })?;
    let node = s.node();
    let coins = node.faucet_coins();
    let (confirmed, unconfirmed) =
        coins
            .iter()
            .fold((Amount::ZERO, Amount::ZERO), |(c, u), (op, a)| {
                if node.chain.coin(op).is_some() {
                    (c + *a, u)
                } else {
                    (c, u + *a)
                }
            });
    let next = node.chain.height() + 1;
    let script = node.faucet.script();
    let immature: Amount = node
        .chain
        .coins()
        .filter(|(_, c)| &c.txout.script_pubkey == script && c.coinbase)
        .filter(|(_, c)| next - c.height <= params::COINBASE_MATURITY)
        .map(|(_, c)| c.txout.value)
        .sum();
    let tip = node.chain.tip_hash();
    Ok(json!({
        "walletname": name,
        "walletversion": 169900,
        "format": "sqlite",
        // The faucet's own unconfirmed change is trusted, as bitcoind's wallet trusts it.
        "balance": json::btc(confirmed + unconfirmed),
        "unconfirmed_balance": json::btc(Amount::ZERO),
        "immature_balance": json::btc(immature),
        "txcount": coins.len(),
        "keypoolsize": 1,
        "keypoolsize_hd_internal": 1,
        "paytxfee": json::btc(Amount::ZERO),
        "private_keys_enabled": true,
        "avoid_reuse": false,
        "scanning": false,
        "descriptors": true,
        "external_signer": false,
        "blank": false,
        "lastprocessedblock": {"hash": tip.to_string(), "height": node.chain.height()},
    }))
}

/// `listunspent [minconf=1] [maxconf=9999999]`: the faucet's spendable coins.
pub fn listunspent(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let minconf = p.opt_i64(0)?.unwrap_or(1);
    let maxconf = p.opt_i64(1)?.unwrap_or(9_999_999);
    let node = s.node();
    let tip = i64::from(node.chain.height());
    let script = node.faucet.script().clone();
    let address = Address::from_script(&script, bitcoin::Network::Regtest)
        .map(|a| a.to_string())
        .unwrap_or_default();
    let coins: Vec<Value> = node
        .faucet_coins()
        .into_iter()
        .filter_map(|(op, amount)| {
            let confirmations = node
                .chain
                .coin(&op)
                .map_or(0, |c| tip - i64::from(c.height) + 1);
            (minconf..=maxconf).contains(&confirmations).then(|| {
                json!({
                    "txid": op.txid.to_string(),
                    "vout": op.vout,
                    "address": address,
                    "label": "",
                    "scriptPubKey": hex_of(&script),
                    "amount": json::btc(amount),
                    "confirmations": confirmations,
                    "spendable": true,
                    "solvable": true,
                    "safe": true,
                })
            })
        })
        .collect();
    Ok(Value::Array(coins))
}

fn hex_of(script: &bitcoin::ScriptBuf) -> String {
    script.to_hex_string()
}

//! bitcoind's JSON-RPC methods: one dispatch table (name, parameter names, handler), the
//! error object and codes, and parameter reading with Core's type errors. Handlers are
//! blocking and run on tokio's blocking pool with the node locked.

mod blockchain;
mod control;
mod mining;
mod prioritise;
mod rawtx;
mod wallet;
mod walletinfo;

use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};

use bitcoin::{Amount, BlockHash, Txid};
use serde_json::{json, Value};

use crate::node::Node;

/// bitcoind's RPC error codes (`rpc/protocol.h`) that devchain raises.
pub mod code {
    /// `RPC_INVALID_REQUEST`.
    pub const INVALID_REQUEST: i64 = -32600;
    /// `RPC_METHOD_NOT_FOUND`.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// `RPC_PARSE_ERROR`.
    pub const PARSE_ERROR: i64 = -32700;
    /// `RPC_MISC_ERROR` (also usage errors: bitcoind answers them with the help text).
    pub const MISC: i64 = -1;
    /// `RPC_TYPE_ERROR`.
    pub const TYPE: i64 = -3;
    /// `RPC_WALLET_ERROR`.
    pub const WALLET: i64 = -4;
    /// `RPC_INVALID_ADDRESS_OR_KEY`.
    pub const INVALID_ADDRESS_OR_KEY: i64 = -5;
    /// `RPC_WALLET_INSUFFICIENT_FUNDS`.
    pub const INSUFFICIENT_FUNDS: i64 = -6;
    /// `RPC_INVALID_PARAMETER`.
    pub const INVALID_PARAMETER: i64 = -8;
    /// `RPC_WALLET_NOT_FOUND`.
    pub const WALLET_NOT_FOUND: i64 = -18;
    /// `RPC_DESERIALIZATION_ERROR`.
    pub const DESERIALIZATION: i64 = -22;
    /// `RPC_VERIFY_ERROR` / `RPC_TRANSACTION_ERROR`.
    pub const VERIFY: i64 = -25;
    /// `RPC_VERIFY_REJECTED` / `RPC_TRANSACTION_REJECTED`.
    pub const VERIFY_REJECTED: i64 = -26;
    /// `RPC_VERIFY_ALREADY_IN_CHAIN`.
    pub const ALREADY_IN_CHAIN: i64 = -27;
}

/// A JSON-RPC error object (`{"code": …, "message": …}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({code})")]
pub struct RpcError {
    /// bitcoind's code.
    pub code: i64,
    /// bitcoind's text.
    pub message: String,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
        }
    }

    /// The JSON object.
    pub fn to_json(&self) -> Value {
        json!({"code": self.code, "message": self.message})
    }
}

/// What the server shares with every handler.
#[derive(Debug)]
pub struct Shared {
    /// The node, locked for the duration of one call.
    pub node: Mutex<Node>,
    /// Set by `stop`; the server then closes.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// Names given to `createwallet`/`loadwallet`/`restorewallet` (all the one faucet).
    pub wallets: Mutex<Vec<String>>,
}

impl Shared {
    /// Locks the node (a handler that panicked cannot leave it half-changed in a way that
    /// matters more than stopping, so a poisoned lock is taken over).
    pub fn node(&self) -> MutexGuard<'_, Node> {
        self.node.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The loaded wallet names (a poisoned lock is taken over: it is only a list).
    pub fn wallets(&self) -> MutexGuard<'_, Vec<String>> {
        self.wallets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type Handler = fn(&Shared, &Params) -> Result<Value, RpcError>;

/// One method: its name, its parameter names (for named parameters and usage) and handler.
struct Method {
    name: &'static str,
    params: &'static [&'static str],
    /// How many leading parameters are required.
    required: usize,
    handler: Handler,
}

const METHODS: &[Method] = &[
    Method {
        name: "getblockchaininfo",
        params: &[],
        required: 0,
        handler: blockchain::getblockchaininfo,
    },
    Method {
        name: "getchaintips",
        params: &[],
        required: 0,
        handler: blockchain::getchaintips,
    },
    Method {
        name: "getblockcount",
        params: &[],
        required: 0,
        handler: blockchain::getblockcount,
    },
    Method {
        name: "getbestblockhash",
        params: &[],
        required: 0,
        handler: blockchain::getbestblockhash,
    },
    Method {
        name: "getdifficulty",
        params: &[],
        required: 0,
        handler: blockchain::getdifficulty,
    },
    Method {
        name: "getblockhash",
        params: &["height"],
        required: 1,
        handler: blockchain::getblockhash,
    },
    Method {
        name: "getblock",
        params: &["blockhash", "verbosity"],
        required: 1,
        handler: blockchain::getblock,
    },
    Method {
        name: "getblockheader",
        params: &["blockhash", "verbose"],
        required: 1,
        handler: blockchain::getblockheader,
    },
    Method {
        name: "gettxout",
        params: &["txid", "n", "include_mempool"],
        required: 2,
        handler: blockchain::gettxout,
    },
    Method {
        name: "getrawmempool",
        params: &["verbose", "mempool_sequence"],
        required: 0,
        handler: blockchain::getrawmempool,
    },
    Method {
        name: "getmempoolinfo",
        params: &[],
        required: 0,
        handler: blockchain::getmempoolinfo,
    },
    Method {
        name: "getmempoolentry",
        params: &["txid"],
        required: 1,
        handler: blockchain::getmempoolentry,
    },
    Method {
        name: "invalidateblock",
        params: &["blockhash"],
        required: 1,
        handler: blockchain::invalidateblock,
    },
    Method {
        name: "reconsiderblock",
        params: &["blockhash"],
        required: 1,
        handler: blockchain::reconsiderblock,
    },
    Method {
        name: "getrawtransaction",
        params: &["txid", "verbose", "blockhash"],
        required: 1,
        handler: rawtx::getrawtransaction,
    },
    Method {
        name: "decoderawtransaction",
        params: &["hexstring", "iswitness"],
        required: 1,
        handler: rawtx::decoderawtransaction,
    },
    Method {
        name: "sendrawtransaction",
        params: &["hexstring", "maxfeerate", "maxburnamount"],
        required: 1,
        handler: rawtx::sendrawtransaction,
    },
    Method {
        name: "testmempoolaccept",
        params: &["rawtxs", "maxfeerate"],
        required: 1,
        handler: rawtx::testmempoolaccept,
    },
    Method {
        name: "generatetoaddress",
        params: &["nblocks", "address", "maxtries"],
        required: 2,
        handler: mining::generatetoaddress,
    },
    Method {
        name: "generateblock",
        params: &["output", "transactions", "submit"],
        required: 2,
        handler: mining::generateblock,
    },
    Method {
        name: "submitblock",
        params: &["hexdata", "dummy"],
        required: 1,
        handler: mining::submitblock,
    },
    Method {
        name: "estimatesmartfee",
        params: &["conf_target", "estimate_mode"],
        required: 1,
        handler: mining::estimatesmartfee,
    },
    Method {
        name: "setfeerate",
        params: &["feerate"],
        required: 1,
        handler: mining::setfeerate,
    },
    Method {
        name: "getnewaddress",
        params: &["label", "address_type"],
        required: 0,
        handler: wallet::getnewaddress,
    },
    Method {
        name: "getbalance",
        params: &["dummy", "minconf", "include_watchonly", "avoid_reuse"],
        required: 0,
        handler: wallet::getbalance,
    },
    Method {
        name: "sendtoaddress",
        params: &[
            "address",
            "amount",
            "comment",
            "comment_to",
            "subtractfeefromamount",
            "replaceable",
            "conf_target",
            "estimate_mode",
            "avoid_reuse",
            "fee_rate",
            "verbose",
        ],
        required: 2,
        handler: wallet::sendtoaddress,
    },
    Method {
        name: "createwallet",
        params: &[
            "wallet_name",
            "disable_private_keys",
            "blank",
            "passphrase",
            "avoid_reuse",
            "descriptors",
            "load_on_startup",
            "external_signer",
        ],
        required: 1,
        handler: wallet::createwallet,
    },
    Method {
        name: "loadwallet",
        params: &["filename", "load_on_startup"],
        required: 1,
        handler: wallet::createwallet,
    },
    Method {
        name: "restorewallet",
        params: &["wallet_name", "backup_file", "load_on_startup"],
        required: 2,
        handler: walletinfo::restorewallet,
    },
    Method {
        name: "getwalletinfo",
        params: &[],
        required: 0,
        handler: walletinfo::getwalletinfo,
    },
    Method {
        name: "listunspent",
        params: &[
            "minconf",
            "maxconf",
            "addresses",
            "include_unsafe",
            "query_options",
        ],
        required: 0,
        handler: walletinfo::listunspent,
    },
    Method {
        name: "prioritisetransaction",
        params: &["txid", "dummy", "fee_delta"],
        required: 1,
        handler: prioritise::prioritisetransaction,
    },
    Method {
        name: "listwallets",
        params: &[],
        required: 0,
        handler: wallet::listwallets,
    },
    Method {
        name: "getnetworkinfo",
        params: &[],
        required: 0,
        handler: control::getnetworkinfo,
    },
    Method {
        name: "getpeerinfo",
        params: &[],
        required: 0,
        handler: control::getpeerinfo,
    },
    Method {
        name: "getconnectioncount",
        params: &[],
        required: 0,
        handler: control::getconnectioncount,
    },
    Method {
        name: "getzmqnotifications",
        params: &[],
        required: 0,
        handler: control::getpeerinfo,
    },
    Method {
        name: "setmocktime",
        params: &["timestamp"],
        required: 1,
        handler: control::setmocktime,
    },
    Method {
        name: "uptime",
        params: &[],
        required: 0,
        handler: control::uptime,
    },
    Method {
        name: "stop",
        params: &[],
        required: 0,
        handler: control::stop,
    },
    Method {
        name: "help",
        params: &["command"],
        required: 0,
        handler: help,
    },
];

/// Every method name, sorted (what `help` lists).
pub fn method_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
    names.sort_unstable();
    names
}

fn usage(m: &Method) -> String {
    let mut s = m.name.to_string();
    for (i, p) in m.params.iter().enumerate() {
        if i < m.required {
            s.push_str(&format!(" \"{p}\""));
        } else {
            s.push_str(&format!(" ( \"{p}\" )"));
        }
    }
    s
}

fn help(_: &Shared, p: &Params) -> Result<Value, RpcError> {
    if let Some(name) = p.opt_str(0)? {
        return match METHODS.iter().find(|m| m.name == name) {
            Some(m) => Ok(json!(usage(m))),
            None => Ok(json!(format!("help: unknown command: {name}"))),
        };
    }
    Ok(json!(METHODS
        .iter()
        .map(usage)
        .collect::<Vec<_>>()
        .join("\n")))
}

/// Runs one call: binds parameters (positional array or named object), then the handler.
pub fn dispatch(shared: &Shared, method: &str, params: Option<&Value>) -> Result<Value, RpcError> {
    let Some(m) = METHODS.iter().find(|m| m.name == method) else {
        return Err(RpcError::new(code::METHOD_NOT_FOUND, "Method not found"));
    };
    let values: Vec<Value> = match params {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Object(o)) => {
            let mut v = vec![Value::Null; m.params.len()];
            for (k, val) in o {
                let Some(i) = m.params.iter().position(|p| p == k) else {
                    return Err(RpcError::new(
                        code::INVALID_PARAMETER,
                        format!("Unknown named parameter {k}"),
                    ));
                };
                v[i] = val.clone();
            }
            while v.last().is_some_and(Value::is_null) {
                v.pop();
            }
            v
        }
        Some(_) => {
            return Err(RpcError::new(
                code::INVALID_REQUEST,
                "Params must be an array or object",
            ))
        }
    };
    let missing = (0..m.required).any(|i| values.get(i).is_none_or(Value::is_null));
    if values.len() > m.params.len() || missing {
        return Err(RpcError::new(code::MISC, usage(m)));
    }
    (m.handler)(
        shared,
        &Params {
            values,
            names: m.params,
        },
    )
}

/// A call's parameters, positional.
#[derive(Debug)]
pub struct Params {
    values: Vec<Value>,
    names: &'static [&'static str],
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Params {
    /// Parameter `i` unless absent or null.
    pub fn get(&self, i: usize) -> Option<&Value> {
        self.values.get(i).filter(|v| !v.is_null())
    }

    fn wrong_type(&self, i: usize, v: &Value, want: &str) -> RpcError {
        let name = self.names.get(i).copied().unwrap_or("?");
        RpcError::new(
            code::TYPE,
            format!(
                "Wrong type passed:\n{{\n    \"Position {} ({name})\": \"JSON value of type {} is not of expected type {want}\"\n}}",
                i + 1,
                type_name(v)
            ),
        )
    }

    /// A string parameter.
    pub fn opt_str(&self, i: usize) -> Result<Option<&str>, RpcError> {
        match self.get(i) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong_type(i, v, "string")),
        }
    }

    /// A required string parameter (presence was checked by [`dispatch`]).
    pub fn str(&self, i: usize) -> Result<&str, RpcError> {
        self.opt_str(i)?
            .ok_or_else(|| RpcError::new(code::MISC, "missing parameter"))
    }

    /// An integer parameter.
    pub fn opt_i64(&self, i: usize) -> Result<Option<i64>, RpcError> {
        match self.get(i) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                RpcError::new(
                    code::TYPE,
                    format!("JSON integer out of range or not an integer: {v}"),
                )
            }),
            Some(v) => Err(self.wrong_type(i, v, "number")),
        }
    }

    /// A bool parameter; bitcoind also takes 0/1 for the old `verbose` integers.
    pub fn opt_bool(&self, i: usize) -> Result<Option<bool>, RpcError> {
        match self.get(i) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong_type(i, v, "bool")),
        }
    }

    /// An amount in BTC (number or numeric string, at most 8 decimals), Core's `AmountFromValue`.
    pub fn opt_amount(&self, i: usize) -> Result<Option<Amount>, RpcError> {
        let text = match self.get(i) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(v) => return Err(self.wrong_type(i, v, "number")),
        };
        let amount = Amount::from_str_in(&text, bitcoin::Denomination::Bitcoin)
            .or_else(|_| {
                // serde_json prints tiny floats in exponent form (1e-05).
                text.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    .and_then(|f| Amount::from_btc(f).ok())
                    .ok_or(())
            })
            .map_err(|_| RpcError::new(code::TYPE, "Invalid amount"))?;
        if amount > Amount::MAX_MONEY {
            return Err(RpcError::new(code::TYPE, "Amount out of range"));
        }
        Ok(Some(amount))
    }

    /// A 64-hex-digit hash (Core's `ParseHashV` errors).
    pub fn hash<T: FromStr>(&self, i: usize) -> Result<T, RpcError> {
        let name = self.names.get(i).copied().unwrap_or("hash");
        let s = self.str(i)?;
        if s.len() != 64 {
            return Err(RpcError::new(
                code::INVALID_PARAMETER,
                format!("{name} must be of length 64 (not {}, for '{s}')", s.len()),
            ));
        }
        s.parse::<T>().map_err(|_| {
            RpcError::new(
                code::INVALID_PARAMETER,
                format!("{name} must be hexadecimal string (not '{s}')"),
            )
        })
    }

    /// A block hash.
    pub fn block_hash(&self, i: usize) -> Result<BlockHash, RpcError> {
        self.hash(i)
    }

    /// A txid.
    pub fn txid(&self, i: usize) -> Result<Txid, RpcError> {
        self.hash(i)
    }
}

/// Decodes a hex transaction (`None` on any failure, including trailing bytes).
pub fn decode_tx(hex_str: &str) -> Option<bitcoin::Transaction> {
    let bytes = hex::decode(hex_str).ok()?;
    bitcoin::consensus::deserialize(&bytes).ok()
}

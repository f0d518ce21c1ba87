//! `newaddr [addresstype]`: fresh receive addresses (wallet reference §2.1). Each is
//! durable (watched after a restart) before it is returned.

use std::sync::Arc;

use jsonrpc::{Param, RpcError};
use serde_json::{Map, Value};
use wallet::{AddressType, Wallet};

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[Param::opt("addresstype")];

pub struct Newaddr {
    pub wallet: Arc<Wallet>,
}

/// The requested types; `None` given means `all` while deprecated APIs are allowed
/// (lightningd's `addresstype.defaultbech32`), else `p2tr`.
fn types(v: Option<&Value>, deprecated_ok: bool) -> Result<Vec<AddressType>, RpcError> {
    let text = match v {
        None => {
            return Ok(if deprecated_ok {
                AddressType::ALL.to_vec()
            } else {
                vec![AddressType::P2tr]
            })
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    match text.as_str() {
        "bech32" => Ok(vec![AddressType::Bech32]),
        "p2tr" => Ok(vec![AddressType::P2tr]),
        "all" => Ok(AddressType::ALL.to_vec()),
        _ => Err(RpcError::invalid_params(format!(
            "'addresstype' should be 'p2tr', 'bech32', or 'all', not '{text}'"
        ))),
    }
}

fn name(ty: AddressType) -> &'static str {
    match ty {
        AddressType::Bech32 => "bech32",
        AddressType::P2tr => "p2tr",
    }
}

impl Command for Newaddr {
    fn name(&self) -> &'static str {
        "newaddr"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        types(ctx.bind(PARAMS)?.get("addresstype"), true).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let wallet = self.wallet.clone();
        Box::pin(async move {
            let deprecated_ok = ctx
                .conn
                .deprecated_apis(ctx.node.settings.allow_deprecated_apis);
            let wanted = types(ctx.bind(PARAMS)?.get("addresstype"), deprecated_ok)?;
            let issued = crate::wallet_wiring::blocking(&wallet, move |w| {
                wanted
                    .into_iter()
                    .map(|ty| w.new_address(ty).map(|a| (ty, a)))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?
            .map_err(|e| RpcError::daemon(e.to_string()))?;
            let mut out = Map::new();
            for (ty, addr) in issued {
                out.insert(name(ty).into(), Value::String(addr.to_string()));
            }
            Ok(Reply::Result(Value::Object(out)))
        })
    }
}

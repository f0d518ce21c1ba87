//! `listaddresses [address] [start] [limit]`: the receive addresses issued (wallet
//! reference §2.1). bech32 and p2tr addresses come from separate BIP84/BIP86 keychains,
//! so each row carries one of them with its own `keyidx`.

use std::sync::Arc;

use jsonrpc::{Param, RpcError};
use serde_json::{json, Value};
use wallet::{AddressType, Wallet};

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::opt("address"),
    Param::opt("start"),
    Param::opt("limit"),
];

pub struct Listaddresses {
    pub wallet: Arc<Wallet>,
}

impl Command for Listaddresses {
    fn name(&self) -> &'static str {
        "listaddresses"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        let b = ctx.bind(PARAMS)?;
        b.str("address")?;
        b.u64("start")?;
        b.u64("limit")?;
        Ok(())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let wallet = self.wallet.clone();
        Box::pin(async move {
            let b = ctx.bind(PARAMS)?;
            let address = b.str("address")?.map(str::to_string);
            let start = b.u64("start")?.unwrap_or(0);
            let limit = b.u64("limit")?.map_or(usize::MAX, |l| l as usize);
            let issued = crate::wallet_wiring::blocking(&wallet, |w| w.issued_addresses()).await?;
            let rows: Vec<Value> = issued
                .into_iter()
                .filter(|(i, _, a)| {
                    u64::from(*i) >= start && address.as_ref().is_none_or(|x| *x == a.to_string())
                })
                .take(limit)
                .map(|(i, ty, a)| match ty {
                    AddressType::Bech32 => json!({"keyidx": i, "bech32": a.to_string()}),
                    AddressType::P2tr => json!({"keyidx": i, "p2tr": a.to_string()}),
                })
                .collect();
            Ok(Reply::Result(json!({ "addresses": rows })))
        })
    }
}

//! `listconfigs [config]`: every option as CLN's `configs` object with its source.

use jsonrpc::{Param, RpcError};
use serde_json::json;

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

pub struct Listconfigs;

const PARAMS: &[Param] = &[Param::opt("config")];

impl Command for Listconfigs {
    fn name(&self) -> &'static str {
        "listconfigs"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        let b = ctx.bind(PARAMS)?;
        if let Some(name) = b.str("config")? {
            known(ctx, name)?;
        }
        Ok(())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        Box::pin(async move {
            let b = ctx.bind(PARAMS)?;
            let config = ctx
                .node
                .config
                .read()
                .map_err(|_| RpcError::daemon("config lock poisoned"))?;
            match b.str("config")? {
                None => Ok(Reply::Result(config.listconfigs())),
                Some(name) => {
                    known(&ctx, name)?;
                    let mut configs = serde_json::Map::new();
                    if let Some(e) = config.listconfigs_entry(name) {
                        configs.insert(name.to_string(), e);
                    }
                    Ok(Reply::Result(json!({ "configs": configs })))
                }
            }
        })
    }
}

fn known(ctx: &Context, name: &str) -> Result<(), RpcError> {
    let config = ctx
        .node
        .config
        .read()
        .map_err(|_| RpcError::daemon("config lock poisoned"))?;
    match config.option_spec(name) {
        Some(_) => Ok(()),
        None => Err(jsonrpc::params::bad_token(
            "config",
            "Unknown config option",
            &json!(name),
        )),
    }
}

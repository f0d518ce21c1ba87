//! `datastoreusage [key]`: bytes used by the datastore at and below `key`
//! (`{"datastoreusage": {"key": "[a,b]", "total_bytes": n}}`).

use jsonrpc::{Param, RpcError};
use serde_json::json;

use super::datastore::{parse_key, rpc_error, Op};
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};
use crate::storage::Storage;

const PARAMS: &[Param] = &[Param::opt("key")];

pub struct Datastoreusage {
    pub storage: Storage,
}

impl Command for Datastoreusage {
    fn name(&self) -> &'static str {
        "datastoreusage"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        parse_key(&ctx.bind(PARAMS)?, "key").map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let storage = self.storage.clone();
        Box::pin(async move {
            let key = parse_key(&ctx.bind(PARAMS)?, "key")?;
            let (shown, total) = storage
                .run(move |s| s.datastore_usage(key.as_deref()))
                .await
                .map_err(|e| rpc_error(&e, Op::Read))?;
            Ok(Reply::Result(json!({
                "datastoreusage": { "key": shown, "total_bytes": total }
            })))
        })
    }
}

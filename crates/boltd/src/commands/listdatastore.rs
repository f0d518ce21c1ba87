//! `listdatastore [key]`: the key (or the top level) and its direct children; a deeper
//! subtree shows as one entry with only `key`, as Core Lightning lists it.

use jsonrpc::{Param, RpcError};
use serde_json::json;

use super::datastore::{entry_json, parse_key, rpc_error, Op};
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};
use crate::storage::Storage;

const PARAMS: &[Param] = &[Param::opt("key")];

pub struct Listdatastore {
    pub storage: Storage,
}

impl Command for Listdatastore {
    fn name(&self) -> &'static str {
        "listdatastore"
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
            let entries = storage
                .run(move |s| s.datastore_list(key.as_deref()))
                .await
                .map_err(|e| rpc_error(&e, Op::Read))?;
            let list: Vec<_> = entries.iter().map(entry_json).collect();
            Ok(Reply::Result(json!({ "datastore": list })))
        })
    }
}

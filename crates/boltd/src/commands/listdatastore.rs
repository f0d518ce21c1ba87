//! `listdatastore [key]`: the key (or the top level) and its direct children; a deeper
//! subtree shows as one entry with only `key`, as Core Lightning lists it.

use jsonrpc::{Param, RpcError};
use serde_json::json;

use super::datastore::{entry_json, parse_key, rpc_error, Op};
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};
use crate::storage::Storage;

const PARAMS: &[Param] = &[Param::opt("key")];
/// Stored bytes above which the reply is built on the blocking pool.
const BIG: usize = 32 * 1024;

fn entries_size(entries: &[store::DatastoreEntry]) -> usize {
    entries
        .iter()
        .map(|e| e.data.as_ref().map_or(0, |d| d.len()))
        .sum()
}

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
            // Hex-encoding megabytes is slow: keep it off the runtime's workers.
            let big = entries_size(&entries) >= BIG;
            let build = move || {
                let list: Vec<_> = entries.iter().map(entry_json).collect();
                json!({ "datastore": list })
            };
            let reply = if big {
                tokio::task::spawn_blocking(build)
                    .await
                    .map_err(|_| RpcError::daemon("listdatastore: building the reply failed"))?
            } else {
                build()
            };
            Ok(Reply::Result(reply))
        })
    }
}

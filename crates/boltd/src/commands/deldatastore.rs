//! `deldatastore key [generation]`: removes a value, answering with what it was.

use jsonrpc::{Param, RpcError};

use super::datastore::{entry_json, missing_key, parse_key, rpc_error, Op};
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};
use crate::storage::Storage;

const PARAMS: &[Param] = &[Param::req("key"), Param::opt("generation")];

pub struct Deldatastore {
    pub storage: Storage,
}

fn parse(ctx: &Context) -> Result<(Vec<String>, Option<u64>), RpcError> {
    let b = ctx.bind(PARAMS)?;
    Ok((
        parse_key(&b, "key")?.ok_or_else(missing_key)?,
        b.u64("generation")?,
    ))
}

impl Command for Deldatastore {
    fn name(&self) -> &'static str {
        "deldatastore"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        parse(ctx).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let storage = self.storage.clone();
        Box::pin(async move {
            let (key, generation) = parse(&ctx)?;
            let entry = storage
                .run(move |s| s.datastore_del(&key, generation))
                .await
                .map_err(|e| rpc_error(&e, Op::Delete))?;
            Ok(Reply::Result(entry_json(&entry)))
        })
    }
}

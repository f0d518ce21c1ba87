//! `deprecations enable`: allows or refuses deprecated APIs on this connection only,
//! overriding `--allow-deprecated-apis`.

use jsonrpc::Param;
use serde_json::json;

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

pub struct Deprecations;

const PARAMS: &[Param] = &[Param::req("enable")];

impl Command for Deprecations {
    fn name(&self) -> &'static str {
        "deprecations"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), jsonrpc::RpcError> {
        ctx.bind(PARAMS)?.bool("enable").map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        Box::pin(async move {
            let enable = ctx.bind(PARAMS)?.bool("enable")?.unwrap_or(false);
            ctx.conn.set_deprecations(enable);
            Ok(Reply::Result(json!({})))
        })
    }
}

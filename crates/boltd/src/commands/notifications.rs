//! `notifications enable`: lets this connection receive `message`/`progress`
//! notifications from the commands it runs.

use jsonrpc::Param;
use serde_json::json;

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

pub struct Notifications;

const PARAMS: &[Param] = &[Param::req("enable")];

impl Command for Notifications {
    fn name(&self) -> &'static str {
        "notifications"
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
            ctx.conn.set_notifications(enable);
            Ok(Reply::Result(json!({})))
        })
    }
}

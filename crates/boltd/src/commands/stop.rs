//! `stop`: starts the shutdown sequence and answers `{"result":"Shutdown complete"}` once
//! it is done, as the last thing the daemon writes.

use jsonrpc::Param;
use serde_json::json;

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};
use crate::shutdown::Stage;

pub struct Stop;

impl Command for Stop {
    fn name(&self) -> &'static str {
        "stop"
    }
    fn params(&self) -> &'static [Param] {
        &[]
    }
    fn survives_close(&self) -> bool {
        true
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        Box::pin(async move {
            ctx.bind(&[])?;
            let sd = ctx.node.shutdown.clone();
            sd.stop_pending(1);
            sd.trigger("stop command", 0);
            sd.reached(Stage::Done).await;
            sd.stop_pending(-1);
            Ok(Reply::Result(json!({"result": "Shutdown complete"})))
        })
    }
}

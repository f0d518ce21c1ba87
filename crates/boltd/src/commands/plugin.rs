//! `plugin subcommand=start|stop|startdir|rescan|list` (reference §8): parameter binding
//! and the work itself live in the plugin host; this file adapts it to the dispatcher.

use jsonrpc::{Param, RpcError};
use plugins::{PluginCommand, PluginHost};

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

pub struct PluginCmd {
    pub host: PluginHost,
}

const PARAMS: &[Param] = &[Param::req("subcommand")];

impl Command for PluginCmd {
    fn name(&self) -> &'static str {
        "plugin"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn usage(&self) -> String {
        "subcommand=start|stop|startdir|rescan|list".into()
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        let cmd = PluginCommand::from_params(&ctx.request.params)?;
        self.host.check_command(&cmd)
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let host = self.host.clone();
        Box::pin(async move {
            let cmd = PluginCommand::from_params(&ctx.request.params)?;
            let cause = jsonrpc::id_prefix(&ctx.request.id);
            Ok(Reply::Result(host.command(cmd, Some(&cause)).await?))
        })
    }
}

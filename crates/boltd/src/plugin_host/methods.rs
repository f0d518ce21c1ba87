//! Plugin methods as the dispatcher's external method source (passthrough and `check`).

use std::sync::Arc;

use jsonrpc::RpcError;
use plugins::PluginHost;

use crate::rpc::{BoxFut, CmdResult, Context, ExternalMethods, MethodInfo, Reply};

/// Plugin methods as the dispatcher's external method source.
pub(super) struct Methods {
    pub(super) host: PluginHost,
}

impl ExternalMethods for Methods {
    fn methods(&self) -> Vec<MethodInfo> {
        self.host
            .methods()
            .into_iter()
            .map(|m| MethodInfo {
                name: m.name,
                usage: m.usage,
                deprecated: m.deprecated,
            })
            .collect()
    }
    fn lookup(&self, name: &str) -> Option<MethodInfo> {
        self.host.method(name).map(|m| MethodInfo {
            name: m.name,
            usage: m.usage,
            deprecated: m.deprecated,
        })
    }
    fn deprecated(&self, name: &str) -> Option<bool> {
        self.host.method_deprecated(name)
    }
    fn call(&self, ctx: Context) -> BoxFut<CmdResult> {
        let host = self.host.clone();
        Box::pin(async move {
            let sink: Option<plugins::NotifySink> = if ctx.conn.notifications_enabled() {
                let conn = ctx.conn.clone();
                Some(Arc::new(move |f| {
                    let _ = conn.try_send_frame(f);
                }))
            } else {
                None
            };
            let deprecations = ctx.conn.deprecations_override();
            Ok(Reply::Frame(
                host.passthrough_with(&ctx.request, sink, deprecations)
                    .await,
            ))
        })
    }
    fn check(&self, ctx: Context) -> BoxFut<CmdResult> {
        let host = self.host.clone();
        Box::pin(async move {
            match host.check(&ctx.request).await {
                Some(f) => Ok(Reply::Frame(f)),
                None => Err(RpcError::method_not_found("Unknown command")),
            }
        })
    }
}

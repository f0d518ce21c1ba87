//! The `rpc_command` hook chain in front of the dispatcher: continue, answer instead,
//! or replace the request (validated against the same builtin table and plugin methods).

use jsonrpc::RpcError;
use plugins::hooks::{validate_replace, MethodStatus, RpcCommand, RpcCommandOutcome};
use plugins::{PluginHost, RpcCommandPayload};

use crate::rpc::{BoxFut, Context, HookOutcome, Reply, RpcCommandHook};

/// The `rpc_command` chain in front of the dispatcher.
pub(super) struct Hook {
    pub(super) host: PluginHost,
}

impl RpcCommandHook for Hook {
    fn call(&self, ctx: &Context) -> BoxFut<HookOutcome> {
        // Asked for every RPC call: with no hook registered, nothing is cloned.
        if !self.host.has_hook("rpc_command") {
            return Box::pin(std::future::ready(HookOutcome::Continue));
        }
        let host = self.host.clone();
        let node = ctx.node.clone();
        let dispatcher = ctx.dispatcher.clone();
        let request = ctx.request.clone();
        Box::pin(async move {
            let payload = RpcCommandPayload::from_request(&request);
            let cause = jsonrpc::id_prefix(&request.id);
            match host.call_hook::<RpcCommand>(&payload, Some(&cause)).await {
                RpcCommandOutcome::Continue => HookOutcome::Continue,
                RpcCommandOutcome::Result(v) => HookOutcome::Return(Ok(Reply::Result(v))),
                RpcCommandOutcome::Error(e) => match serde_json::value::to_raw_value(&e) {
                    Ok(raw) => HookOutcome::Return(Ok(Reply::RawError(raw))),
                    Err(_) => HookOutcome::Continue,
                },
                RpcCommandOutcome::Replace(rep) => {
                    let status = |m: &str| match dispatcher.resolve(&node, m) {
                        Ok(()) => MethodStatus::Ok,
                        Err(e) if e.message.contains("deprecated") => MethodStatus::Deprecated,
                        Err(_) => MethodStatus::Unknown,
                    };
                    match validate_replace(&rep, status) {
                        Err(e) => HookOutcome::Return(Err(e)),
                        Ok(_) => {
                            let text = rep.to_string();
                            match jsonrpc::parse_request(text.as_bytes()) {
                                Ok(mut r) => {
                                    r.id = request.id.clone();
                                    HookOutcome::Replace(r)
                                }
                                Err(_) => HookOutcome::Return(Err(RpcError::invalid_request(
                                    format!("Bad response to 'rpc_command' hook: invalid request ({text})"),
                                ))),
                            }
                        }
                    }
                }
            }
        })
    }
}

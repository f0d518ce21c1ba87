//! `check command_to_check [params...]`: validates a command's parameters without running
//! it. Builtins run their own `check`; plugin methods go to the plugin host (which
//! forwards the original `check` request to plugins with `cancheck`).

use jsonrpc::{Param, RpcError};
use serde_json::{json, Value};

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

pub struct Check;

const PARAMS: &[Param] = &[Param::req("command_to_check")];

impl Command for Check {
    fn name(&self) -> &'static str {
        "check"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn usage(&self) -> String {
        "command_to_check".into()
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        split(&ctx.request.params).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        Box::pin(async move {
            let (name, rest) = split(&ctx.request.params)?;
            let allow = ctx
                .conn
                .deprecated_apis(ctx.node.settings.allow_deprecated_apis);
            ctx.dispatcher.resolve_with(&name, allow)?;
            if let Some(cmd) = ctx.dispatcher.builtin(&name) {
                let mut sub = ctx.clone();
                sub.request.method = name.clone();
                sub.request.params = rest;
                cmd.check(&sub)?;
                if let Some(more) = cmd.check_async(sub) {
                    return more.await;
                }
                return Ok(Reply::Result(json!({ "command_to_check": name })));
            }
            match ctx.dispatcher.external().cloned() {
                Some(ext) => ext.check(ctx).await,
                None => Err(RpcError::method_not_found(format!(
                    "Unknown command '{name}'"
                ))),
            }
        })
    }
}

/// Splits `check`'s params into the command name and that command's own params.
fn split(params: &Value) -> Result<(String, Value), RpcError> {
    let missing = || RpcError::invalid_params("missing required parameter: command_to_check");
    let name_of = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(jsonrpc::params::bad_token(
            "command_to_check",
            "should be a string",
            other,
        )),
    };
    match params {
        Value::Array(items) => {
            let first = items.first().filter(|v| !v.is_null()).ok_or_else(missing)?;
            Ok((
                name_of(first)?,
                Value::Array(items.iter().skip(1).cloned().collect()),
            ))
        }
        Value::Object(map) => {
            let first = map.get("command_to_check").ok_or_else(missing)?;
            let mut rest = map.clone();
            rest.remove("command_to_check");
            Ok((name_of(first)?, Value::Object(rest)))
        }
        _ => Err(RpcError::invalid_params(
            "Expected array or object for params",
        )),
    }
}

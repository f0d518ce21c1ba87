//! Dispatch: look a method up (builtins first, then plugin methods), run the
//! `rpc_command` hook chain, run the command, frame the reply with the client's id.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use jsonrpc::{
    codes, error_frame, raw_error_frame, raw_result_frame, result_frame, usage, Param, RawValue,
    Request, RpcError,
};
use serde_json::Value;

use super::conn::ConnHandle;
use crate::node::Node;

pub type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a command produces on success.
#[derive(Debug)]
pub enum Reply {
    /// A result value; the dispatcher wraps it with the client's id.
    Result(Value),
    /// A result that is already serialized JSON (forwarded verbatim).
    RawResult(Box<RawValue>),
    /// An error object already serialized (a plugin's error, passed through verbatim).
    RawError(Box<RawValue>),
    /// A complete response frame, id included, ending in `\n\n` (plugin passthrough).
    Frame(Vec<u8>),
}

pub type CmdResult = Result<Reply, RpcError>;

/// Everything one request handler can see.
#[derive(Clone)]
pub struct Context {
    /// The request as received (raw id and members kept for passthrough and hooks).
    pub request: Request,
    pub node: Arc<Node>,
    /// The client connection: its notification setting and a way to write to it.
    pub conn: ConnHandle,
    pub dispatcher: Arc<Dispatcher>,
    /// Set once the command that will run answers after connections close (`stop`, also
    /// when the `rpc_command` hook replaced another command with it).
    pub survives_close: Arc<AtomicBool>,
}

impl Context {
    /// Binds this request's params to `spec` with CLN's error texts.
    pub fn bind(&self, spec: &[Param]) -> Result<jsonrpc::Bound, RpcError> {
        jsonrpc::bind_request(&self.request, spec, false)
    }
}

/// A builtin command: one implementation per file in `commands/`.
pub trait Command: Send + Sync {
    fn name(&self) -> &'static str;
    /// Declared parameters (for binding, `help` usage and `check`).
    fn params(&self) -> &'static [Param];
    /// The usage shown by `help` (`name [optional]`); subcommand-style commands override.
    fn usage(&self) -> String {
        usage(self.params())
    }
    /// Validates parameters without running (`check`). The default binds the params.
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        ctx.bind(self.params()).map(|_| ())
    }
    /// The rest of `check` when it needs to ask someone after [`Command::check`] passed
    /// (`setconfig` asks a plugin with `cancheck`). None: the synchronous check is all.
    fn check_async(&self, _ctx: Context) -> Option<BoxFut<CmdResult>> {
        None
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult>;
    /// `stop` keeps running while connections close: it answers last.
    fn survives_close(&self) -> bool {
        false
    }
}

/// A method registered by a plugin, as `help` lists it.
#[derive(Debug, Clone)]
pub struct MethodInfo {
    pub name: String,
    pub usage: String,
    pub deprecated: bool,
}

/// The dynamic method source (the plugin host implements this).
pub trait ExternalMethods: Send + Sync {
    fn methods(&self) -> Vec<MethodInfo>;
    fn lookup(&self, name: &str) -> Option<MethodInfo>;
    /// Whether `name` exists and is deprecated ([`lookup`](Self::lookup) without copies).
    fn deprecated(&self, name: &str) -> Option<bool> {
        self.lookup(name).map(|m| m.deprecated)
    }
    /// Runs the method (passthrough). The reply is normally `Reply::Frame`.
    fn call(&self, ctx: Context) -> BoxFut<CmdResult>;
    /// `check` for a plugin method (forwarded if the plugin has `cancheck`).
    fn check(&self, ctx: Context) -> BoxFut<CmdResult>;
}

/// What the `rpc_command` hook chain decided.
#[derive(Debug)]
pub enum HookOutcome {
    Continue,
    /// Run this request instead (the dispatcher keeps the original id).
    Replace(Request),
    /// Answer with this, without running the command.
    Return(CmdResult),
}

/// The `rpc_command` hook chain (the plugin host implements this).
pub trait RpcCommandHook: Send + Sync {
    /// Runs the chain for `ctx.request` (a replacement is checked against
    /// `ctx.dispatcher`).
    fn call(&self, ctx: &Context) -> BoxFut<HookOutcome>;
}

/// Builtin commands by name, plugin methods and the `rpc_command` chain: fixed once
/// start-up built it (nothing registers at run time).
pub struct Dispatcher {
    builtins: BTreeMap<String, Arc<dyn Command>>,
    external: Option<Arc<dyn ExternalMethods>>,
    hook: Option<Arc<dyn RpcCommandHook>>,
}

fn deprecated_msg(name: &str) -> RpcError {
    RpcError::method_not_found(format!("Command \"{name}\" is deprecated"))
}

impl Dispatcher {
    /// A dispatcher over `commands` (the builtin table), plugin methods and the hook.
    /// Err if two commands share a name.
    pub fn new(
        commands: Vec<Arc<dyn Command>>,
        external: Option<Arc<dyn ExternalMethods>>,
        hook: Option<Arc<dyn RpcCommandHook>>,
    ) -> Result<Arc<Self>, String> {
        let mut builtins = BTreeMap::new();
        for c in commands {
            if builtins.insert(c.name().to_string(), c.clone()).is_some() {
                return Err(format!("command '{}' registered twice", c.name()));
            }
        }
        Ok(Arc::new(Dispatcher {
            builtins,
            external,
            hook,
        }))
    }

    pub fn builtin(&self, name: &str) -> Option<Arc<dyn Command>> {
        self.builtins.get(name).cloned()
    }

    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtins.contains_key(name)
    }

    /// Plugin methods, if plugins are wired in.
    pub fn external(&self) -> Option<&Arc<dyn ExternalMethods>> {
        self.external.as_ref()
    }

    /// `(name, usage)` of every builtin.
    pub fn builtin_usages(&self) -> Vec<(String, String)> {
        self.builtins
            .values()
            .map(|c| (c.name().to_string(), c.usage()))
            .collect()
    }

    /// Whether a command answers after connections close (only `stop`).
    pub fn survives_close(&self, name: &str) -> bool {
        self.builtin(name)
            .map(|c| c.survives_close())
            .unwrap_or(false)
    }

    /// Checks a method exists and may be called, with CLN's -32601 texts, under the
    /// global deprecation setting.
    pub fn resolve(&self, node: &Node, method: &str) -> Result<(), RpcError> {
        self.resolve_with(method, node.settings.allow_deprecated_apis)
    }

    /// [`resolve`](Self::resolve) under a given deprecation setting (a connection's).
    pub fn resolve_with(&self, method: &str, allow_deprecated: bool) -> Result<(), RpcError> {
        if self.is_builtin(method) {
            return Ok(());
        }
        match self.external.as_ref().and_then(|e| e.deprecated(method)) {
            Some(true) if !allow_deprecated => Err(deprecated_msg(method)),
            Some(_) => Ok(()),
            None => Err(RpcError::method_not_found(format!(
                "Unknown command '{method}'"
            ))),
        }
    }

    /// Runs one validated request to completion and returns the response frame.
    pub async fn dispatch(self: Arc<Self>, mut ctx: Context) -> Vec<u8> {
        let id = ctx.request.id.clone();
        let allow = ctx
            .conn
            .deprecated_apis(ctx.node.settings.allow_deprecated_apis);
        if let Err(e) = self.resolve_with(&ctx.request.method, allow) {
            return error_frame(&id, &e);
        }
        if let Some(hook) = &self.hook {
            match hook.call(&ctx).await {
                HookOutcome::Continue => {}
                HookOutcome::Return(r) => return frame(&id, r),
                HookOutcome::Replace(mut req) => {
                    if let Err(e) = self.resolve_with(&req.method, allow) {
                        return error_frame(&id, &e);
                    }
                    // The replacement runs under the original id and skips the hook.
                    req.id = id.clone();
                    if self.survives_close(&req.method) {
                        ctx.survives_close.store(true, Ordering::SeqCst);
                    }
                    ctx.request = req;
                }
            }
        }
        let filter = ctx
            .request
            .members
            .get("filter")
            .and_then(|f| serde_json::from_str::<Value>(f.get()).ok());
        let out = self.run(ctx).await;
        let out = match (out, filter) {
            (Ok(Reply::Result(v)), Some(f)) => Ok(Reply::Result(super::filter::apply(v, &f))),
            (out, _) => out,
        };
        match out {
            // Serialising a big reply takes long (milliseconds per MB, far more in a debug
            // build): do it on the blocking pool so the runtime's workers keep serving
            // other clients.
            Ok(Reply::Result(v)) if at_least(&v, BIG_REPLY) => {
                let owned = id.to_owned();
                tokio::task::spawn_blocking(move || result_frame(&owned, &v))
                    .await
                    .unwrap_or_else(|_| {
                        error_frame(&id, &RpcError::daemon("reply serialisation failed"))
                    })
            }
            out => frame(&id, out),
        }
    }

    /// Runs a resolved request (no hook).
    pub async fn run(&self, ctx: Context) -> CmdResult {
        match self.builtin(&ctx.request.method) {
            Some(cmd) => cmd.run(ctx).await,
            None => match &self.external {
                Some(ext) => ext.call(ctx).await,
                None => Err(RpcError::method_not_found(format!(
                    "Unknown command '{}'",
                    ctx.request.method
                ))),
            },
        }
    }
}

/// Results at least this large (roughly, in JSON bytes) are serialised off the runtime.
const BIG_REPLY: usize = 64 * 1024;

/// Whether `v` serialises to at least about `limit` bytes; stops looking once it knows.
fn at_least(v: &Value, limit: usize) -> bool {
    fn walk(v: &Value, left: &mut usize) -> bool {
        let own = match v {
            Value::Null | Value::Bool(_) => 5,
            Value::Number(_) => 20,
            Value::String(s) => s.len() + 2,
            Value::Array(a) => {
                for x in a {
                    if walk(x, left) {
                        return true;
                    }
                }
                2 + a.len()
            }
            Value::Object(m) => {
                for (k, x) in m {
                    // The key's share first: the value's walk spends from what is left.
                    let key = k.len() + 4;
                    if key >= *left {
                        return true;
                    }
                    *left -= key;
                    if walk(x, left) {
                        return true;
                    }
                }
                2
            }
        };
        if own >= *left {
            return true;
        }
        *left -= own;
        false
    }
    let mut left = limit;
    walk(v, &mut left)
}

/// Serializes a command outcome as the response frame for `id`.
pub fn frame(id: &RawValue, out: CmdResult) -> Vec<u8> {
    match out {
        Ok(Reply::Result(v)) => result_frame(id, &v),
        Ok(Reply::RawResult(r)) => raw_result_frame(id, &r),
        Ok(Reply::RawError(e)) => raw_error_frame(id, &e),
        Ok(Reply::Frame(f)) => f,
        Err(e) => error_frame(id, &e),
    }
}

/// The error in-flight commands get when the daemon closes connections.
pub fn shutting_down() -> RpcError {
    RpcError::new(codes::LIGHTNINGD_SHUTDOWN, "Shutting down")
}

#[cfg(test)]
mod tests {
    use super::at_least;
    use serde_json::json;

    /// A member whose value uses up what is left must not make the key's share underflow
    /// (a listfunds of ~150 outputs panicked the connection task and never answered).
    #[test]
    fn at_least_counts_objects_whose_values_fill_the_limit() {
        let rows: Vec<_> = (0..40)
            .map(|i| json!({"txid": "ab".repeat(32), "output": i, "status": "confirmed"}))
            .collect();
        let v = json!({ "outputs": rows, "channels": [] });
        let size = serde_json::to_string(&v).unwrap().len();
        for limit in 1..size + 200 {
            at_least(&v, limit);
        }
        assert!(at_least(&v, size / 2));
        assert!(!at_least(&v, size * 2));
    }
}

//! The daemon calling a plugin's method itself (the Bitcoin backend's `getchaininfo`,
//! `estimatefees`, `getrawblockbyheight`, `getutxout`, `sendrawtransaction`; chain
//! reference §1.1): the same request path as passthrough, so a plugin that dies mid-call
//! answers its callers at once with [`CallError::Terminated`].
//!
//! Which plugin serves a method is [`PluginHost::provider`]: a method name has at most one
//! provider (a second registration is refused at manifest time, §2.3), so "no provider"
//! is `None` and "two providers" never reaches the daemon.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;

use crate::host::{lock, PState, PluginHost, Reply};

/// Why a call to a plugin method did not produce a `result`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// No live, registered plugin has the method.
    #[error("no plugin provides {method}")]
    NoProvider { method: String },
    /// The plugin died (or was removed) before it answered.
    #[error("{plugin} terminated before replying to {method}")]
    Terminated { plugin: String, method: String },
    /// The plugin answered with a JSON-RPC `error` (kept as sent).
    #[error("{plugin} answered {method} with error {error}")]
    Error {
        plugin: String,
        method: String,
        error: Value,
    },
    /// Neither `result` nor `error`, or a `result` that is not JSON we can read.
    #[error("{plugin} answered {method} without a result: {reply}")]
    Malformed {
        plugin: String,
        method: String,
        reply: String,
    },
    /// No answer within the caller's limit (the request is forgotten: a late answer is
    /// logged and dropped like any answer to an unknown id).
    #[error("{plugin} did not answer {method} within {after:?}")]
    Timeout {
        plugin: String,
        method: String,
        after: Duration,
    },
}

impl PluginHost {
    /// Brings the plugin at `path` up now, ahead of [`init_all`](Self::init_all): a Bitcoin
    /// backend must answer before the chain is read, before the RPC socket exists (chain
    /// reference §1.3). Waits for its answer without a time limit; `init_all` skips it
    /// later. Ok if it is up already. Err is why it is gone.
    pub async fn init_backend(&self, path: &str) -> Result<(), String> {
        let Some(p) = self.plugins().into_iter().find(|p| p.path == path) else {
            return Err(format!("{path}: not running"));
        };
        match p.state() {
            PState::NeedsInit => self.send_init(&p, None, true).await,
            PState::InitComplete => Ok(()),
            PState::AwaitingManifest | PState::AwaitingInit => {
                Err(format!("{path}: not ready for init"))
            }
        }
    }

    /// Resolves with the reason once the plugin at `path` is gone (died, killed or
    /// stopped): lightningd treats a Bitcoin backend's death as fatal. None if no live
    /// plugin has that path.
    pub fn removal(&self, path: &str) -> Option<impl Future<Output = String> + Send + 'static> {
        let p = self.plugins().into_iter().find(|p| p.path == path)?;
        let mut gone = p.gone.subscribe();
        Some(async move {
            match gone.wait_for(Option::is_some).await {
                Ok(why) => why.clone().unwrap_or_default(),
                // The plugin record was dropped without `kill`: gone all the same.
                Err(_) => lock(&p.death).clone().unwrap_or_default(),
            }
        })
    }

    /// The path of the plugin that registered `method`, if any.
    pub fn provider(&self, method: &str) -> Option<String> {
        self.method_owner(method).map(|p| p.path.clone())
    }

    /// Calls `method` on the plugin that provides it with `params` (usually an object) and
    /// returns its `result`. No time limit, like lightningd's backend calls; `cause` is the
    /// id of the client command that caused the call, if any (it prefixes the request id).
    pub async fn call(
        &self,
        method: &str,
        params: &Value,
        cause: Option<&str>,
    ) -> Result<Value, CallError> {
        self.call_inner(method, params, cause, None).await
    }

    /// [`call`](Self::call) that gives up after `limit`.
    pub async fn call_within(
        &self,
        method: &str,
        params: &Value,
        cause: Option<&str>,
        limit: Duration,
    ) -> Result<Value, CallError> {
        self.call_inner(method, params, cause, Some(limit)).await
    }

    async fn call_inner(
        &self,
        method: &str,
        params: &Value,
        cause: Option<&str>,
        limit: Option<Duration>,
    ) -> Result<Value, CallError> {
        let Some(p) = self.method_owner(method) else {
            return Err(CallError::NoProvider {
                method: method.to_string(),
            });
        };
        let plugin = p.path.clone();
        let text = params.to_string();
        let request = self.request(&p, method, &text, cause, None);
        // Dropping the request on timeout withdraws its pending entry (`send_request`).
        let reply = match limit {
            None => request.await,
            Some(after) => match tokio::time::timeout(after, request).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(CallError::Timeout {
                        plugin,
                        method: method.to_string(),
                        after,
                    })
                }
            },
        };
        let method = method.to_string();
        match reply {
            Reply::Result(raw) => {
                serde_json::from_str(raw.get()).map_err(|_| CallError::Malformed {
                    plugin,
                    method,
                    reply: raw.get().to_string(),
                })
            }
            Reply::Error(raw) => Err(CallError::Error {
                plugin,
                method,
                error: serde_json::from_str(raw.get()).unwrap_or(Value::Null),
            }),
            Reply::Terminated => Err(CallError::Terminated { plugin, method }),
            other @ Reply::Malformed(_) => Err(CallError::Malformed {
                plugin,
                method,
                reply: other.text(),
            }),
        }
    }
}

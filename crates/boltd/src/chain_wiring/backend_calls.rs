//! The plugin host as the chain crate's [`PluginCall`]: the five backend methods go to
//! whichever plugin registered each (reference §1.2), with no time limit (§1.1).

use plugins::{CallError, PluginHost};
use serde_json::Value;

/// The backend methods in the order lightningd checks their providers (§1.2).
pub const BACKEND_METHODS: [&str; 5] = [
    "getchaininfo",
    "getrawblockbyheight",
    "sendrawtransaction",
    "getutxout",
    "estimatefees",
];

/// Calls backend methods through the plugin host.
#[derive(Clone)]
pub struct HostCalls(pub PluginHost);

impl HostCalls {
    /// Core Lightning's start-up refusal for the first backend method nobody provides.
    pub fn missing_provider(&self) -> Option<String> {
        BACKEND_METHODS
            .iter()
            .find(|m| self.0.provider(m).is_none())
            .map(|m| {
                format!(
                    "Could not access the plugin for {m}, is a Bitcoin plugin (by default plugins/bcli) registered ?"
                )
            })
    }

    /// The distinct plugins serving backend methods (each gets `init` early and its death
    /// is fatal).
    pub fn providers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in BACKEND_METHODS {
            if let Some(p) = self.0.provider(m) {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        out
    }
}

impl chain::PluginCall for HostCalls {
    async fn call(&self, method: &'static str, params: Value) -> Result<Value, String> {
        self.0
            .call(method, &params, None)
            .await
            .map_err(|e| describe(method, e))
    }
}

/// The reason as lightningd words it in `bad response to <method> (<reason>)`.
fn describe(method: &str, e: CallError) -> String {
    match e {
        CallError::NoProvider { .. } | CallError::Terminated { .. } => {
            format!("Bitcoin backend plugin for {method} died.")
        }
        CallError::Error { error, .. } => error
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| error.to_string()),
        CallError::Malformed { .. } => "missing 'result' field".to_string(),
        other @ CallError::Timeout { .. } => other.to_string(),
    }
}

//! JSON-RPC error objects and Core Lightning's error codes (common/jsonrpc_errors.h).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Error codes clients and plugins match on.
pub mod codes {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    /// Generic daemon error (`LIGHTNINGD`).
    pub const LIGHTNINGD: i64 = -1;
    pub const PARAM_DEV_ERROR: i64 = -2;
    /// `plugin start` and friends failed.
    pub const PLUGIN_ERROR: i64 = -3;
    /// The plugin serving a call died before answering.
    pub const PLUGIN_TERMINATED: i64 = -4;
    pub const LIGHTNINGD_SHUTDOWN: i64 = -5;
    pub const CONNECT_NO_KNOWN_ADDRESS: i64 = 400;
    pub const CONNECT_ALL_ADDRESSES_FAILED: i64 = 401;
    pub const CONNECT_DISCONNECTED_DURING: i64 = 402;
    pub const DATASTORE_DEL_DOES_NOT_EXIST: i64 = 1200;
    pub const DATASTORE_DEL_WRONG_GENERATION: i64 = 1201;
    pub const DATASTORE_UPDATE_ALREADY_EXISTS: i64 = 1202;
    pub const DATASTORE_UPDATE_DOES_NOT_EXIST: i64 = 1203;
    pub const DATASTORE_UPDATE_WRONG_GENERATION: i64 = 1204;
    pub const DATASTORE_UPDATE_HAS_CHILDREN: i64 = 1205;
    pub const DATASTORE_UPDATE_NO_CHILDREN: i64 = 1206;
}

/// The `error` member of a JSON-RPC response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} ({code})")]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_REQUEST, message)
    }
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_PARAMS, message)
    }
    pub fn method_not_found(message: impl Into<String>) -> Self {
        Self::new(codes::METHOD_NOT_FOUND, message)
    }
    /// Generic `-1` error.
    pub fn daemon(message: impl Into<String>) -> Self {
        Self::new(codes::LIGHTNINGD, message)
    }
    pub fn plugin_terminated() -> Self {
        Self::new(
            codes::PLUGIN_TERMINATED,
            "Plugin terminated before replying to RPC call.",
        )
    }
}

/// An OS error as C's `strerror` words it (Core Lightning's messages embed that text):
/// Rust's ` (os error N)` suffix removed.
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod strerror_tests {
    #[test]
    fn strerror_drops_the_os_error_suffix() {
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(super::strerror(&e), "No such file or directory");
        let e = std::io::Error::other("plain");
        assert_eq!(super::strerror(&e), "plain");
    }
}

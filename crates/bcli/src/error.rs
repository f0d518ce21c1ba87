//! What a method answers when it has no result: CLN's parameter errors, or bcli's code 500.

use jsonrpc::{Bound, Param, RpcError};
use serde_json::{json, Value};

use crate::rpc::RpcFailure;

/// bcli's error code (`BCLI_ERROR`); lightningd treats any backend error as fatal.
pub const BCLI_ERROR: i64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    #[error(transparent)]
    Params(#[from] RpcError),
    /// `<bitcoind call>: <why> (<detail>)`, as bcli words it.
    #[error("{0}")]
    Bcli(String),
}

impl MethodError {
    pub fn bcli(call: &str, why: &str, detail: impl std::fmt::Display) -> Self {
        MethodError::Bcli(format!("{call}: {why} ({detail})"))
    }

    pub fn from_failure(call: &str, f: &RpcFailure) -> Self {
        match f {
            RpcFailure::BadJson(j) => Self::bcli(call, "bad JSON", j),
            other => Self::bcli(call, "command failed", other),
        }
    }

    /// The JSON-RPC error object; cln-plugin sends an error string that is such an object
    /// as that object.
    pub fn into_anyhow(self) -> anyhow::Error {
        let v: Value = match self {
            MethodError::Params(e) => json!({"code": e.code, "message": e.message}),
            MethodError::Bcli(m) => json!({"code": BCLI_ERROR, "message": m}),
        };
        anyhow::anyhow!(v.to_string())
    }
}

/// Binds params with Core Lightning's error texts.
pub fn bind(params: &Value, spec: &[Param]) -> Result<Bound, MethodError> {
    Ok(jsonrpc::bind(params, spec, false)?)
}

/// A required `u32` parameter (lightningd's `param_number`).
pub fn u32_param(b: &Bound, name: &str) -> Result<u32, MethodError> {
    let v = b
        .u64(name)?
        .ok_or_else(|| RpcError::invalid_params(format!("missing required parameter: {name}")))?;
    u32::try_from(v).map_err(|_| {
        MethodError::Params(jsonrpc::params::bad_token(
            name,
            "should be an integer",
            &json!(v),
        ))
    })
}

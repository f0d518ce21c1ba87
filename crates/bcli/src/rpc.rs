//! bitcoind's JSON-RPC over HTTP, through rust-bitcoin's `jsonrpc` client. An unreachable
//! bitcoind (refused, timed out, still warming up, cookie not written yet) is retried
//! every second until the retry timeout, then named by host and port.

use std::time::Duration;

use bitcoind_jsonrpc::bitreq_http_async::{self, BitreqHttpTransport};
use bitcoind_jsonrpc::client_async::Client;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;
use tokio::time::Instant;

use crate::config::{Auth, Config};

/// bitcoind's `RPC_IN_WARMUP`: up, but not answering yet.
const RPC_IN_WARMUP: i32 = -28;

/// Why a call has no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcFailure {
    /// bitcoind answered with an error object.
    #[error("error code: {code}\nerror message:\n{message}")]
    Rpc { code: i32, message: String },
    /// bitcoind could not be reached (or logged into) for the whole retry timeout.
    #[error("Could not connect to bitcoind at {addr} (retried for {secs} seconds): {last}. Is bitcoind running?")]
    Unreachable {
        addr: String,
        secs: u64,
        last: String,
    },
    /// bitcoind answered something that is not what this call returns.
    #[error("bad JSON: {0}")]
    BadJson(String),
}

/// One attempt's outcome when it has no result.
enum Attempt {
    /// Worth trying again.
    Retry(String),
    Fail(RpcFailure),
}

#[derive(Debug, Clone)]
pub struct Bitcoind {
    config: Config,
}

impl Bitcoind {
    pub fn new(config: Config) -> Self {
        Bitcoind { config }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn client(&self) -> Result<Client, String> {
        let url = format!("http://{}/", self.config.addr());
        let builder = BitreqHttpTransport::builder()
            .url(&url)
            .map_err(|e| format!("bad URL {url}: {e}"))?
            .timeout(self.config.timeout);
        let builder = match &self.config.auth {
            Auth::UserPass { user, password } => {
                builder.basic_auth(user.clone(), Some(password.clone()))
            }
            Auth::Cookie(path) => {
                let cookie = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read cookie file {}: {e}", path.display()))?;
                builder.cookie_auth(cookie.trim_end())
            }
        };
        Ok(Client::with_transport(builder.build()))
    }

    async fn attempt(&self, method: &str, args: &RawValue) -> Result<Value, Attempt> {
        let client = self.client().map_err(Attempt::Retry)?;
        let request = client.build_request(method, Some(args));
        let response = client.send_request(request).await.map_err(classify)?;
        response
            .result::<Value>()
            .map(amounts_as_numbers)
            .map_err(classify)
    }

    /// Calls `method` with positional `args`, retrying while bitcoind is unreachable.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        args: &[Value],
    ) -> Result<T, RpcFailure> {
        let value = self.call_value(method, args).await?;
        serde_json::from_value(value).map_err(|e| RpcFailure::BadJson(format!("{method}: {e}")))
    }

    pub async fn call_value(&self, method: &str, args: &[Value]) -> Result<Value, RpcFailure> {
        let args = serde_json::value::to_raw_value(args)
            .map_err(|e| RpcFailure::BadJson(e.to_string()))?;
        let deadline = Instant::now() + self.config.retry;
        loop {
            let last = match self.attempt(method, &args).await {
                Ok(v) => return Ok(v),
                Err(Attempt::Fail(f)) => return Err(f),
                Err(Attempt::Retry(why)) => why,
            };
            let now = Instant::now();
            if now >= deadline {
                tracing::warn!(
                    "{method}: giving up on bitcoind at {}: {last}",
                    self.config.addr()
                );
                return Err(RpcFailure::Unreachable {
                    addr: self.config.addr(),
                    secs: self.config.retry.as_secs(),
                    last,
                });
            }
            tracing::debug!(
                "{method}: bitcoind at {} not answering ({last}); retrying",
                self.config.addr()
            );
            tokio::time::sleep((deadline - now).min(Duration::from_secs(1))).await;
        }
    }
}

fn classify(e: bitcoind_jsonrpc::Error) -> Attempt {
    use bitcoind_jsonrpc::Error;
    match e {
        Error::Rpc(r) if r.code == RPC_IN_WARMUP => Attempt::Retry(r.message),
        Error::Rpc(r) => Attempt::Fail(RpcFailure::Rpc {
            code: r.code,
            message: r.message,
        }),
        Error::Transport(t) => match t.downcast_ref::<bitreq_http_async::Error>() {
            Some(bitreq_http_async::Error::Http(h)) if h.status_code == 401 => Attempt::Retry(
                "authentication failed (HTTP 401): check bitcoin-rpcuser/bitcoin-rpcpassword or the cookie"
                    .into(),
            ),
            Some(bitreq_http_async::Error::Http(h)) if h.status_code >= 500 => {
                Attempt::Retry(format!("HTTP {}: {}", h.status_code, h.body))
            }
            Some(bitreq_http_async::Error::Http(h)) => Attempt::Fail(RpcFailure::BadJson(
                format!("HTTP {}: {}", h.status_code, h.body),
            )),
            Some(bitreq_http_async::Error::Json(j)) => {
                Attempt::Fail(RpcFailure::BadJson(j.to_string()))
            }
            _ => Attempt::Retry(t.to_string()),
        },
        other => Attempt::Fail(RpcFailure::BadJson(other.to_string())),
    }
}

/// Python proxies in front of bitcoind (pyln-testing's among them) re-encode its decimal
/// amounts as strings with eight decimals (`"0.00001000"`); bitcoin-cli-based backends
/// read either. Such strings become numbers again. Nothing else bitcoind sends looks like
/// that: hex has no `.`, version strings have no eight-digit fraction.
fn amounts_as_numbers(v: Value) -> Value {
    match v {
        Value::String(s) if is_btc_decimal(&s) => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::String(s), Value::Number),
        Value::Array(a) => Value::Array(a.into_iter().map(amounts_as_numbers).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, amounts_as_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// `[-]DIGITS.DDDDDDDD`
fn is_btc_decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    match s.split_once('.') {
        Some((int, frac)) => {
            !int.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.len() == 8
                && frac.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn proxied_decimal_strings_become_numbers_and_nothing_else_changes() {
        let proxied = json!({
            "relayfee": "0.00001000",
            "feerate": "-1.50000000",
            "localservices": "0000000000000409",
            "subversion": "/Satoshi:26.0.0/",
            "hex": "00112233",
            "nested": [{"value": "50.00000000"}, "1.5", "1.123456789"],
            "n": 3
        });
        assert_eq!(
            amounts_as_numbers(proxied),
            json!({
                "relayfee": 0.00001,
                "feerate": -1.5,
                "localservices": "0000000000000409",
                "subversion": "/Satoshi:26.0.0/",
                "hex": "00112233",
                "nested": [{"value": 50.0}, "1.5", "1.123456789"],
                "n": 3
            })
        );
    }
}

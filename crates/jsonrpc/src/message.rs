//! Requests, responses and notifications, with Core Lightning's validation order (§11.3).
//!
//! Ids are kept as the exact raw token the client sent (`Box<RawValue>`), so a numeric id
//! stays numeric and a string id comes back byte for byte.

use indexmap::IndexMap;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::codec::excerpt;
use crate::error::RpcError;

/// The members of one JSON-RPC object as raw JSON, in the order sent.
///
/// Hashed with foldhash, not the standard SipHash: every request and every plugin reply
/// is parsed into one of these, and SipHash over their few short keys was a visible part
/// of a passthrough call's CPU. foldhash is seeded at random ("minimally DoS-resistant"
/// in its own words): enough here, where the keys come from the owner's local socket or
/// from plugins, and one request's members are bounded by the request size limit.
pub type Members = IndexMap<String, Box<RawValue>, foldhash::fast::RandomState>;

/// A validated request from a client (or a plugin calling us over the socket).
#[derive(Debug, Clone)]
pub struct Request {
    /// The id token exactly as sent (`"cli:getinfo#1"`, `5`, `null`).
    pub id: Box<RawValue>,
    pub method: String,
    /// `params` parsed: normally an array or an object.
    pub params: Value,
    /// Every member of the request object as raw JSON, in the order sent. The
    /// `rpc_command` hook and plugin passthrough see these.
    pub members: Members,
}

/// Why a message could not become a [`Request`]. Each variant says how the connection
/// must answer.
#[derive(Debug, Clone)]
pub enum RequestError {
    /// Answer with `id: null` and stop reading this connection.
    Fatal(RpcError),
    /// Answer with `id: null`, keep the connection.
    NoId(RpcError),
    /// Answer with the request's id.
    WithId(Box<RawValue>, RpcError),
}

impl PartialEq for RequestError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (RequestError::Fatal(a), RequestError::Fatal(b)) => a == b,
            (RequestError::NoId(a), RequestError::NoId(b)) => a == b,
            (RequestError::WithId(i, a), RequestError::WithId(j, b)) => {
                i.get() == j.get() && a == b
            }
            _ => false,
        }
    }
}

impl PartialEq for Request {
    fn eq(&self, other: &Self) -> bool {
        self.id.get() == other.id.get()
            && self.method == other.method
            && self.params == other.params
    }
}

pub fn null_id() -> Box<RawValue> {
    RawValue::from_string("null".to_string()).unwrap_or_else(|_| unreachable_raw())
}

fn unreachable_raw() -> Box<RawValue> {
    // `null` is always valid JSON; this exists only to avoid a panic path.
    serde_json::value::to_raw_value(&Value::Null).unwrap_or_default()
}

/// The id is a string (without quotes), or the raw token of a number/other primitive.
/// Used to build `<client id>/cln:<method>#N` ids.
pub fn id_prefix(id: &RawValue) -> String {
    match serde_json::from_str::<Value>(id.get()) {
        Ok(Value::String(s)) => s,
        _ => id.get().to_string(),
    }
}

/// Parses one framed message from a client. Validation order and texts follow lightningd.
pub fn parse_request(bytes: &[u8]) -> Result<Request, RequestError> {
    let members: Members = match serde_json::from_slice(bytes) {
        Ok(m) => m,
        Err(_) => {
            // Either not JSON at all, or valid JSON that is not an object (e.g. a batch
            // array): CLN reports the first as a parse failure, the second as a missing
            // `jsonrpc` member.
            // `IgnoredAny` skips string contents unchecked, so UTF-8 is checked separately
            // (lightningd rejects invalid UTF-8 in strings as a parse failure).
            let is_json = std::str::from_utf8(bytes).is_ok()
                && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
            let msg = if is_json {
                format!(
                    "JSON-RPC message does not contain \"jsonrpc\" field: '{}'",
                    excerpt(bytes)
                )
            } else {
                format!("Failed to parse RPC JSON response '{}'", excerpt(bytes))
            };
            return Err(RequestError::Fatal(RpcError::invalid_request(msg)));
        }
    };
    let Some(jsonrpc) = members.get("jsonrpc") else {
        return Err(RequestError::Fatal(RpcError::invalid_request(format!(
            "JSON-RPC message does not contain \"jsonrpc\" field: '{}'",
            excerpt(bytes)
        ))));
    };
    let Some(id) = members.get("id").cloned() else {
        return Err(RequestError::NoId(RpcError::invalid_request("No id")));
    };
    let id_text = id.get();
    if id_text.starts_with('{') || id_text.starts_with('[') {
        return Err(RequestError::NoId(RpcError::invalid_request(
            "Expected string/primitive for id",
        )));
    }
    if jsonrpc.get() != "\"2.0\"" {
        return Err(RequestError::NoId(RpcError::invalid_request(
            "jsonrpc: \"2.0\" must be specified in the request",
        )));
    }
    let Some(method) = members.get("method") else {
        return Err(RequestError::WithId(
            id,
            RpcError::invalid_request("No method"),
        ));
    };
    let Ok(method) = serde_json::from_str::<String>(method.get()) else {
        return Err(RequestError::WithId(
            id,
            RpcError::invalid_request("Expected string for method"),
        ));
    };
    let Some(params) = members.get("params") else {
        return Err(RequestError::WithId(
            id,
            RpcError::invalid_request("No params"),
        ));
    };
    let params: Value = parse_value(params.get()).unwrap_or(Value::Null);
    Ok(Request {
        id,
        method,
        params,
        members,
    })
}

/// Parses valid JSON text into a [`Value`], taking what lightningd takes but serde_json
/// refuses: an escaped lone UTF-16 surrogate (`"\ud800"`) becomes U+FFFD.
pub fn parse_value(text: &str) -> Option<Value> {
    match serde_json::from_str(text) {
        Ok(v) => Some(v),
        Err(_) => serde_json::from_str(&replace_lone_surrogates(text)?).ok(),
    }
}

/// `text` with every `\uXXXX` escape of an unpaired surrogate replaced by `\ufffd`, or
/// None if there is none (nothing to retry).
fn replace_lone_surrogates(text: &str) -> Option<String> {
    fn unit(b: &[u8], at: usize) -> Option<u16> {
        // `\uXXXX` at `at`.
        let esc = b.get(at..at + 6)?;
        if esc[0] != b'\\' || esc[1] != b'u' {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&esc[2..]).ok()?, 16).ok()
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let (mut i, mut copied, mut in_string) = (0, 0, false);
    while i < b.len() {
        match b[i] {
            b'"' => {
                in_string = !in_string;
                i += 1;
            }
            b'\\' if in_string => match unit(b, i) {
                // A proper pair stays as it is.
                Some(0xd800..=0xdbff) if matches!(unit(b, i + 6), Some(0xdc00..=0xdfff)) => {
                    i += 12;
                }
                Some(0xd800..=0xdfff) => {
                    out.push_str(&text[copied..i]);
                    out.push_str("\\ufffd");
                    changed = true;
                    i += 6;
                    copied = i;
                }
                _ => i += 2,
            },
            _ => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    changed.then_some(out)
}

/// `{"jsonrpc":"2.0","id":<id>,"result":<result>}\n\n`
pub fn result_frame(id: &RawValue, result: &Value) -> Vec<u8> {
    let result = serde_json::to_string(result).unwrap_or_else(|_| "null".into());
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":{}}}\n\n",
        id.get(),
        result
    )
    .into_bytes()
}

/// Same as [`result_frame`] for a result that is already serialized JSON.
pub fn raw_result_frame(id: &RawValue, result: &RawValue) -> Vec<u8> {
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":{}}}\n\n",
        id.get(),
        result.get()
    )
    .into_bytes()
}

/// `{"jsonrpc":"2.0","id":<id>,"error":{...}}\n\n`
pub fn error_frame(id: &RawValue, error: &RpcError) -> Vec<u8> {
    let err = serde_json::to_string(error).unwrap_or_else(|_| "{}".into());
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{},\"error\":{}}}\n\n",
        id.get(),
        err
    )
    .into_bytes()
}

/// Same as [`error_frame`] for an error object that is already serialized JSON (plugin
/// errors are passed through verbatim).
pub fn raw_error_frame(id: &RawValue, error: &RawValue) -> Vec<u8> {
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{},\"error\":{}}}\n\n",
        id.get(),
        error.get()
    )
    .into_bytes()
}

/// `{"jsonrpc":"2.0","method":<method>,"params":<params>}\n\n`
pub fn notification_frame(method: &str, params: &Value) -> Vec<u8> {
    crate::codec::frame(&serde_json::json!({
        "jsonrpc": "2.0",
        "method": method,
        "params": params,
    }))
}

/// A response read back (by a client, or from a plugin): id and either outcome, raw.
#[derive(Debug, Clone)]
pub struct Response {
    pub id: Box<RawValue>,
    pub outcome: Result<Box<RawValue>, Box<RawValue>>,
}

/// What a peer (plugin or daemon) wrote to us, classified the way lightningd does: an
/// object with `id` is a response, one without is a notification.
#[derive(Debug, Clone)]
pub enum Incoming {
    Response(Response),
    /// A response with neither `result` nor `error` (lightningd passes these on as-is).
    Malformed {
        id: Box<RawValue>,
        members: Members,
    },
    Notification {
        method: String,
        params: Value,
    },
    /// A `method`-bearing message with an `id`: a request to us.
    Request(Request),
}

/// Classifies one framed message. Errors carry the CLN log text.
pub fn parse_incoming(bytes: &[u8]) -> Result<Incoming, String> {
    let members: Members = serde_json::from_slice(bytes)
        .map_err(|_| format!("Failed to parse RPC JSON response '{}'", excerpt(bytes)))?;
    if !members.contains_key("jsonrpc") {
        return Err(format!(
            "JSON-RPC message does not contain \"jsonrpc\" field: '{}'",
            excerpt(bytes)
        ));
    }
    match members.get("id") {
        None => {
            let method = members
                .get("method")
                .and_then(|m| serde_json::from_str::<String>(m.get()).ok());
            let params = members.get("params").and_then(|p| parse_value(p.get()));
            match (method, params) {
                (Some(method), Some(params)) => Ok(Incoming::Notification { method, params }),
                _ => Err(format!(
                    "Malformed JSON-RPC notification missing \"method\" or \"params\": {}",
                    excerpt(bytes)
                )),
            }
        }
        Some(id) => {
            let id = id.clone();
            if members.contains_key("method") {
                return parse_request(bytes)
                    .map(Incoming::Request)
                    .map_err(|e| format!("{e:?}"));
            }
            if let Some(r) = members.get("result") {
                Ok(Incoming::Response(Response {
                    id,
                    outcome: Ok(r.clone()),
                }))
            } else if let Some(e) = members.get("error") {
                Ok(Incoming::Response(Response {
                    id,
                    outcome: Err(e.clone()),
                }))
            } else {
                Ok(Incoming::Malformed { id, members })
            }
        }
    }
}

/// Convenience for errors a client sees when its request was refused before dispatch.
pub fn request_error_frame(err: &RequestError) -> (Vec<u8>, bool) {
    match err {
        RequestError::Fatal(e) => (error_frame(&null_id(), e), true),
        RequestError::NoId(e) => (error_frame(&null_id(), e), false),
        RequestError::WithId(id, e) => (error_frame(id, e), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_echo_exactly() {
        let r = parse_request(
            br#"{"jsonrpc":"2.0","id":"cli:getinfo#1/cln:x#4","method":"getinfo","params":[]}"#,
        )
        .unwrap();
        assert_eq!(r.id.get(), r#""cli:getinfo#1/cln:x#4""#);
        let r =
            parse_request(br#"{"jsonrpc":"2.0","id":5,"method":"getinfo","params":{}}"#).unwrap();
        assert_eq!(r.id.get(), "5");
        assert_eq!(id_prefix(&r.id), "5");
        let f = result_frame(&r.id, &serde_json::json!({"a":1}));
        assert_eq!(
            f,
            b"{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"a\":1}}\n\n"
        );
    }

    #[test]
    fn validation_order_matches_lightningd() {
        let e = |b: &[u8]| parse_request(b).unwrap_err();
        assert!(
            matches!(e(b"{\"id\":1}"), RequestError::Fatal(ref r) if r.message.contains("does not contain \"jsonrpc\""))
        );
        assert!(
            matches!(e(b"[{\"jsonrpc\":\"2.0\"}]"), RequestError::Fatal(ref r) if r.message.contains("does not contain \"jsonrpc\""))
        );
        assert!(
            matches!(e(b"{\"jsonrpc\":\"2.0\",}"), RequestError::Fatal(ref r) if r.message.starts_with("Failed to parse"))
        );
        assert_eq!(
            e(b"{\"jsonrpc\":\"2.0\"}"),
            RequestError::NoId(RpcError::invalid_request("No id"))
        );
        assert!(
            matches!(e(b"{\"jsonrpc\":\"1.0\",\"id\":1}"), RequestError::NoId(ref r) if r.message == "jsonrpc: \"2.0\" must be specified in the request")
        );
        assert!(
            matches!(e(b"{\"jsonrpc\":\"2.0\",\"id\":1}"), RequestError::WithId(_, ref r) if r.message == "No method")
        );
        assert!(
            matches!(e(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":3}"), RequestError::WithId(_, ref r) if r.message == "Expected string for method")
        );
        assert!(
            matches!(e(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"}"), RequestError::WithId(_, ref r) if r.message == "No params")
        );
    }

    #[test]
    fn invalid_utf8_is_a_parse_failure() {
        let bad = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\",\"params\":[]}";
        assert!(
            matches!(parse_request(bad).unwrap_err(), RequestError::Fatal(ref r) if r.message.starts_with("Failed to parse RPC JSON response"))
        );
        assert!(parse_incoming(bad)
            .unwrap_err()
            .starts_with("Failed to parse RPC JSON response"));
    }

    #[test]
    fn incoming_classification() {
        assert!(matches!(
            parse_incoming(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#),
            Ok(Incoming::Response(_))
        ));
        assert!(matches!(
            parse_incoming(br#"{"jsonrpc":"2.0","method":"log","params":{}}"#),
            Ok(Incoming::Notification { .. })
        ));
        assert!(parse_incoming(br#"{"jsonrpc":"2.0","method":"log"}"#)
            .unwrap_err()
            .starts_with("Malformed JSON-RPC notification"));
        assert!(parse_incoming(br#"{"id":1}"#).is_err());
    }

    /// JSON may escape a lone UTF-16 surrogate (`"\ud800"`); lightningd takes such text.
    /// serde_json refuses it, which made a plugin's log line kill the plugin and a
    /// client's params look like no params at all. It becomes U+FFFD instead.
    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let n = parse_incoming(
            br#"{"jsonrpc":"2.0","method":"log","params":{"level":"info","message":"a\ud800b\udc00\ud83d\ude00\\ud800"}}"#,
        )
        .unwrap();
        let Incoming::Notification { method, params } = n else {
            panic!("not a notification: {n:?}")
        };
        assert_eq!(method, "log");
        assert_eq!(params["message"], "a\u{fffd}b\u{fffd}\u{1f600}\\ud800");
        let r = parse_request(br#"{"jsonrpc":"2.0","id":1,"method":"help","params":["\udfff"]}"#)
            .unwrap();
        assert_eq!(r.params, serde_json::json!(["\u{fffd}"]));
        // The raw members (what plugins are forwarded) are untouched.
        assert_eq!(r.members["params"].get(), r#"["\udfff"]"#);
    }
}

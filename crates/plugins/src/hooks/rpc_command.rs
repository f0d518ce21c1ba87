//! `rpc_command` (§7.4): every client command passes the chain first; the first plugin that
//! modifies it (replace, return a result or an error) wins, later modifications are logged
//! and ignored.
use serde::Serialize;
use serde_json::Value;

use super::{Hook, Step};
use crate::log::{log, Level, HOST};
use crate::manifest::Filter;
use crate::passthrough::compact_raw;

/// `{"rpc_command": {<every member of the client request>}}`.
#[derive(Debug, Serialize)]
pub struct RpcCommandPayload {
    pub rpc_command: jsonrpc::Members,
    #[serde(skip)]
    pub method: String,
}

impl RpcCommandPayload {
    pub fn from_request(req: &jsonrpc::Request) -> Self {
        RpcCommandPayload {
            rpc_command: req
                .members
                .iter()
                .map(|(k, v)| (k.clone(), compact_raw(v)))
                .collect(),
            method: req.method.clone(),
        }
    }
}

/// What to do with the command once the chain ran.
#[derive(Debug, Clone, PartialEq)]
pub enum RpcCommandOutcome {
    /// Run the original command.
    Continue,
    /// Run this request instead (validate with [`validate_replace`]), under the original id.
    Replace(Value),
    /// Answer with this result.
    Result(Value),
    /// Answer with this error object, verbatim.
    Error(Value),
}

pub struct RpcCommand;

pub struct RpcCommandAcc {
    method: String,
    modified: Option<RpcCommandOutcome>,
}

impl Hook for RpcCommand {
    const NAME: &'static str = "rpc_command";
    type Payload = RpcCommandPayload;
    type Outcome = RpcCommandOutcome;
    type Acc = RpcCommandAcc;

    fn start(p: &RpcCommandPayload) -> RpcCommandAcc {
        RpcCommandAcc {
            method: p.method.clone(),
            modified: None,
        }
    }

    fn filter_key(p: &RpcCommandPayload) -> Option<Filter> {
        Some(Filter::Name(p.method.clone()))
    }

    fn step(acc: &mut RpcCommandAcc, _plugin: &str, r: &Value) -> Step<RpcCommandOutcome> {
        let broken = |m: &str| {
            log(Level::Broken, HOST, m);
            Step::Continue
        };
        let modification = if let Some(res) = r.get("result") {
            if res != "continue" {
                return broken(
                    "Bad response to 'rpc_command' hook. 'result' should only be 'continue'.",
                );
            }
            return Step::Continue;
        } else if let Some(rep) = r.get("replace") {
            RpcCommandOutcome::Replace(rep.clone())
        } else if let Some(ret) = r.get("return") {
            if let Some(res) = ret.get("result") {
                RpcCommandOutcome::Result(res.clone())
            } else if let Some(err) = ret.get("error") {
                if err.get("code").is_none() {
                    return broken(
                        "Bad response to 'rpc_command' hook. 'error' object does not contain a code.",
                    );
                }
                if err.get("message").is_none() {
                    return broken(
                        "Bad response to 'rpc_command' hook. 'error' object does not contain a message.",
                    );
                }
                RpcCommandOutcome::Error(err.clone())
            } else {
                return broken("Bad response to 'rpc_command' hook. ");
            }
        } else {
            return broken("Bad response to 'rpc_command' hook. ");
        };
        match acc.modified.take() {
            None => {
                acc.modified = Some(modification);
                Step::Continue
            }
            Some(first) => {
                log(
                    Level::Unusual,
                    HOST,
                    &format!(
                        "rpc_command hook '{}' already modified, ignoring.",
                        acc.method
                    ),
                );
                Step::Stop(first)
            }
        }
    }

    fn finish(acc: RpcCommandAcc) -> RpcCommandOutcome {
        acc.modified.unwrap_or(RpcCommandOutcome::Continue)
    }
}

/// How the dispatcher knows a method name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodStatus {
    Unknown,
    Deprecated,
    DeveloperOnly,
    Ok,
}

/// Checks a `replace` object (§7.4). Ok is `(method, params)`; the error is the full
/// `-32600` error the client gets.
pub fn validate_replace(
    rep: &Value,
    status: impl Fn(&str) -> MethodStatus,
) -> Result<(String, Value), jsonrpc::RpcError> {
    let fail = |why: String| {
        jsonrpc::RpcError::invalid_request(format!(
            "Bad response to 'rpc_command' hook: {why} ({rep})"
        ))
    };
    let Some(o) = rep.as_object() else {
        return Err(fail("'replace' must be an object".into()));
    };
    let Some(method) = o.get("method") else {
        return Err(fail("missing 'method'".into()));
    };
    let Some(params) = o.get("params") else {
        return Err(fail("missing 'params'".into()));
    };
    if o.get("id").is_none() {
        return Err(fail("missing 'id'".into()));
    }
    if o.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(fail(
            "jsonrpc: \"2.0\" must be specified in the request".into(),
        ));
    }
    let m = method.as_str().unwrap_or_default().to_string();
    match status(&m) {
        MethodStatus::Unknown => Err(fail(format!("redirected to unknown method '{m}'"))),
        MethodStatus::Deprecated => Err(fail(format!("redirected to deprecated command '{m}'"))),
        MethodStatus::DeveloperOnly => {
            Err(fail(format!("redirected to developer-only command '{m}'")))
        }
        MethodStatus::Ok => Ok((m, params.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(replies: &[Value]) -> RpcCommandOutcome {
        let mut acc = RpcCommandAcc {
            method: "m".into(),
            modified: None,
        };
        for r in replies {
            if let Step::Stop(o) = RpcCommand::step(&mut acc, "/p", r) {
                return o;
            }
        }
        RpcCommand::finish(acc)
    }

    #[test]
    fn rpc_command_first_modification_wins() {
        assert_eq!(
            run(&[json!({"result":"continue"})]),
            RpcCommandOutcome::Continue
        );
        assert_eq!(
            run(&[
                json!({"return":{"result":1}}),
                json!({"return":{"result":2}})
            ]),
            RpcCommandOutcome::Result(json!(1))
        );
        assert_eq!(
            run(&[
                json!({"result":"continue"}),
                json!({"return":{"error":{"code":1,"message":"x"}}})
            ]),
            RpcCommandOutcome::Error(json!({"code":1,"message":"x"}))
        );
        // Malformed replies are logged and treated as continue.
        assert_eq!(
            run(&[json!({"return":{"error":{"message":"x"}}})]),
            RpcCommandOutcome::Continue
        );
        assert_eq!(
            run(&[json!({"foo":1}), json!({"result":"stop"})]),
            RpcCommandOutcome::Continue
        );
    }

    #[test]
    fn replace_is_validated() {
        let st = |m: &str| {
            if m == "getinfo" {
                MethodStatus::Ok
            } else {
                MethodStatus::Unknown
            }
        };
        assert!(validate_replace(
            &json!({"jsonrpc":"2.0","id":1,"method":"getinfo","params":{}}),
            st
        )
        .is_ok());
        let e = validate_replace(
            &json!({"jsonrpc":"2.0","id":1,"method":"nope","params":{}}),
            st,
        )
        .unwrap_err();
        assert!(e.message.starts_with(
            "Bad response to 'rpc_command' hook: redirected to unknown method 'nope' ("
        ));
        let e = validate_replace(&json!(1), st).unwrap_err();
        assert_eq!(
            e.message,
            "Bad response to 'rpc_command' hook: 'replace' must be an object (1)"
        );
    }
}

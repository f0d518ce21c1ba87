//! Hook chains (§7). Every hook is a chain walked in the order `registry::order_hook`
//! gives; a [`Hook`] impl says what the payload is and what each reply means, so a new
//! hook is one impl plus a call site in the daemon.
//!
//! Where Core Lightning calls `fatal()` on a malformed hook reply (or on a JSON-RPC error
//! reply), boltd logs it as broken and applies [`Hook::on_invalid`]: continue for most
//! hooks, refusal for `db_write` (the safe side).

use std::sync::Arc;

use futures::future::join_all;
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::host::{Plugin, PluginHost, Reply};
use crate::log::{log, Level, HOST};
use crate::manifest::Filter;

/// Hook names plugins may register (§7.2).
pub const KNOWN_HOOKS: [&str; 15] = [
    "peer_connected",
    "commitment_revocation",
    "db_write",
    "invoice_payment",
    "openchannel",
    "openchannel2",
    "openchannel2_changed",
    "openchannel2_sign",
    "rbf_channel",
    "htlc_accepted",
    "rpc_command",
    "custommsg",
    "onion_message_recv",
    "onion_message_recv_secret",
    "recover",
];

pub fn is_known_hook(name: &str) -> bool {
    KNOWN_HOOKS.contains(&name)
}

/// What a hook's `filters` hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    /// Method names (`rpc_command`).
    Names,
    /// Message types (`custommsg`).
    Types,
}

pub fn filter_kind(hook: &str) -> Option<FilterKind> {
    match hook {
        "rpc_command" => Some(FilterKind::Names),
        "custommsg" => Some(FilterKind::Types),
        _ => None,
    }
}

/// What one plugin's reply means for the chain.
#[derive(Debug, PartialEq)]
pub enum Step<O> {
    Continue,
    Stop(O),
    /// A reply CLN would `fatal()` on: logged as broken, then [`Hook::on_invalid`].
    Invalid(String),
}

/// One hook's payload and reply semantics.
pub trait Hook {
    const NAME: &'static str;
    /// Sent to every plugin at once, all answers awaited (`db_write`).
    const PARALLEL: bool = false;
    type Payload: Serialize + Send + Sync;
    type Outcome: Send;
    /// State carried along the chain.
    type Acc: Send;
    fn start(payload: &Self::Payload) -> Self::Acc;
    /// What `filters` entries are matched against, if the hook has filters.
    fn filter_key(_payload: &Self::Payload) -> Option<Filter> {
        None
    }
    /// Interprets one plugin's `result`.
    fn step(acc: &mut Self::Acc, plugin: &str, result: &Value) -> Step<Self::Outcome>;
    /// After an invalid reply: `None` continues the chain.
    fn on_invalid(_acc: &mut Self::Acc, _why: &str) -> Option<Self::Outcome> {
        None
    }
    /// A plugin died during the call: `None` skips it (CLN behaviour).
    fn on_died(_acc: &mut Self::Acc, _plugin: &str) -> Option<Self::Outcome> {
        None
    }
    /// Everyone continued.
    fn finish(acc: Self::Acc) -> Self::Outcome;
}

fn filter_matches(filters: &Option<Vec<Filter>>, key: &Option<Filter>) -> bool {
    match (filters, key) {
        (None, _) => true,
        (Some(f), Some(k)) => f.contains(k),
        // Filters on a hook call that has no key: CLN only allows them where keys exist.
        (Some(f), None) => !f.is_empty(),
    }
}

impl PluginHost {
    /// Walks the chain for `H`. `cause` is the id of the command that caused the call.
    pub async fn call_hook<H: Hook>(
        &self,
        payload: &H::Payload,
        cause: Option<&str>,
    ) -> H::Outcome {
        let key = H::filter_key(payload);
        let chain: Vec<Arc<Plugin>> = self
            .hook_chain(H::NAME)
            .into_iter()
            .filter(|p| {
                let filters = p
                    .manifest()
                    .and_then(|m| m.hooks.iter().find(|h| h.name == H::NAME))
                    .and_then(|h| h.filters.clone());
                filter_matches(&filters, &key)
            })
            .collect();
        let mut acc = H::start(payload);
        if chain.is_empty() {
            return H::finish(acc);
        }
        let params = serde_json::to_string(payload).unwrap_or_else(|_| "{}".to_string());
        if H::PARALLEL {
            let replies = join_all(
                chain
                    .iter()
                    .map(|p| self.request(p, H::NAME, &params, cause, None)),
            )
            .await;
            let mut first = None;
            for (p, r) in chain.iter().zip(replies) {
                if let Some(o) = interpret::<H>(&mut acc, p, r) {
                    first.get_or_insert(o);
                }
            }
            return first.unwrap_or_else(|| H::finish(acc));
        }
        for p in &chain {
            let r = self.request(p, H::NAME, &params, cause, None).await;
            if let Some(o) = interpret::<H>(&mut acc, p, r) {
                return o;
            }
        }
        H::finish(acc)
    }

    /// True if some plugin registered `hook`.
    pub fn has_hook(&self, hook: &str) -> bool {
        !self.hook_chain(hook).is_empty()
    }
}

fn interpret<H: Hook>(acc: &mut H::Acc, p: &Plugin, reply: Reply) -> Option<H::Outcome> {
    match reply {
        Reply::Terminated => {
            log(
                Level::Debug,
                &p.source(),
                &format!("Plugin died from {} hook call", H::NAME),
            );
            H::on_died(acc, &p.path)
        }
        Reply::Result(raw) => {
            let v: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            match H::step(acc, &p.path, &v) {
                Step::Continue => None,
                Step::Stop(o) => Some(o),
                Step::Invalid(why) => {
                    // CLN: fatal(). boltd: log and apply the hook's safe default.
                    log(Level::Broken, HOST, &why);
                    H::on_invalid(acc, &why)
                }
            }
        }
        other => {
            // CLN: fatal("Plugin <name> for <hook> returned non-result response").
            let why = format!(
                "Plugin {} for {} returned non-result response {}",
                p.name,
                H::NAME,
                other.text()
            );
            log(Level::Broken, HOST, &why);
            H::on_invalid(acc, &why)
        }
    }
}

/// Compacts a raw JSON value that contains newlines, so no `\n\n` can end up inside a
/// message to a plugin (CLN copies client bytes raw, §1.1; re-serializing is safe).
pub fn compact_raw(raw: &RawValue) -> Box<RawValue> {
    if raw.get().contains(['\n', '\r']) {
        if let Ok(v) = serde_json::from_str::<Value>(raw.get()) {
            if let Ok(r) = serde_json::value::to_raw_value(&v) {
                return r;
            }
        }
    }
    raw.to_owned()
}

// ---------------------------------------------------------------------------------------
// rpc_command

/// `{"rpc_command": {<every member of the client request>}}`.
#[derive(Debug, Serialize)]
pub struct RpcCommandPayload {
    pub rpc_command: IndexMap<String, Box<RawValue>>,
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

// ---------------------------------------------------------------------------------------
// peer_connected

#[derive(Debug, Clone, Serialize)]
pub struct PeerInfo {
    pub id: String,
    /// `in` or `out`.
    pub direction: String,
    pub addr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<String>,
    pub features: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeerConnectedPayload {
    pub peer: PeerInfo,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PeerConnectedOutcome {
    Continue,
    /// Send a `warning` with this text (empty if none) and disconnect.
    Disconnect(String),
}

pub struct PeerConnected;

impl Hook for PeerConnected {
    const NAME: &'static str = "peer_connected";
    type Payload = PeerConnectedPayload;
    type Outcome = PeerConnectedOutcome;
    type Acc = ();
    fn start(_: &PeerConnectedPayload) {}
    fn step(_: &mut (), _: &str, r: &Value) -> Step<PeerConnectedOutcome> {
        match r.get("result").and_then(Value::as_str) {
            Some("continue") => Step::Continue,
            Some("disconnect") => Step::Stop(PeerConnectedOutcome::Disconnect(
                r.get("error_message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            )),
            // CLN: fatal(). We let the peer in (continue) and keep running.
            _ => Step::Invalid(format!(
                "Plugin returned an invalid response to the peer_connected hook: {r}"
            )),
        }
    }
    fn finish(_: ()) -> PeerConnectedOutcome {
        PeerConnectedOutcome::Continue
    }
}

// ---------------------------------------------------------------------------------------
// custommsg

#[derive(Debug, Clone, Serialize)]
pub struct CustomMsgPayload {
    /// Hex of the whole message including the 2-byte type.
    pub payload: String,
    pub peer_id: String,
    #[serde(skip)]
    pub msg_type: u16,
}

pub struct CustomMsg;

impl Hook for CustomMsg {
    const NAME: &'static str = "custommsg";
    type Payload = CustomMsgPayload;
    type Outcome = ();
    type Acc = ();
    fn start(_: &CustomMsgPayload) {}
    fn filter_key(p: &CustomMsgPayload) -> Option<Filter> {
        Some(Filter::Type(u64::from(p.msg_type)))
    }
    fn step(_: &mut (), _: &str, r: &Value) -> Step<()> {
        match r.get("result").and_then(Value::as_str) {
            Some("continue") => Step::Continue,
            // CLN: fatal(). The message was already delivered; continue.
            _ => Step::Invalid(format!(
                "Plugin returned an invalid response to the custommsg hook: {r}"
            )),
        }
    }
    fn finish(_: ()) {}
}

// ---------------------------------------------------------------------------------------
// db_write

#[derive(Debug, Clone, Serialize)]
pub struct DbWritePayload {
    pub data_version: u32,
    pub writes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DbWriteOutcome {
    /// Every plugin said continue: commit.
    Continue,
    /// Some plugin did not: do not commit (reason for the log).
    Refused(String),
}

pub struct DbWrite;

impl Hook for DbWrite {
    const NAME: &'static str = "db_write";
    const PARALLEL: bool = true;
    type Payload = DbWritePayload;
    type Outcome = DbWriteOutcome;
    type Acc = ();
    fn start(_: &DbWritePayload) {}
    fn step(_: &mut (), plugin: &str, r: &Value) -> Step<DbWriteOutcome> {
        match r.get("result").and_then(Value::as_str) {
            Some("continue") => Step::Continue,
            // CLN: fatal(). Refusing the write is the safe side.
            Some(_) => Step::Stop(DbWriteOutcome::Refused(format!(
                "Plugin '{plugin}' returned failed db_write: {r}."
            ))),
            None => Step::Invalid(format!(
                "Plugin '{plugin}' returned an invalid response to the db_write hook: {r}"
            )),
        }
    }
    fn on_invalid(_: &mut (), why: &str) -> Option<DbWriteOutcome> {
        Some(DbWriteOutcome::Refused(why.to_string()))
    }
    fn on_died(_: &mut (), plugin: &str) -> Option<DbWriteOutcome> {
        // CLN: fatal (the fabricated -4 has no result). Refuse instead.
        Some(DbWriteOutcome::Refused(format!(
            "Plugin '{plugin}' died during the db_write hook"
        )))
    }
    fn finish(_: ()) -> DbWriteOutcome {
        DbWriteOutcome::Continue
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

//! Calling plugin methods for clients (§5.2) and forwarding `check` (§5.4): the client's
//! request goes out with only its id replaced by `<client id>/cln:<method>#N`, and the
//! plugin's reply comes back with the client's id token restored.

use jsonrpc::{error_frame, id_prefix, raw_error_frame, raw_result_frame, Request, RpcError};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::host::{ClientNotify, PluginHost, Reply};
use crate::log::Level;

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

/// The request's members with `id` replaced, written compactly. Built straight into the
/// output: a per-member `json!(key).to_string()` cost more than everything else in this
/// function together (two allocations and a formatter per key, on every call).
fn forward_frame(req: &Request, new_id: &str) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(
        64 + new_id.len()
            + req
                .members
                .iter()
                .map(|(k, v)| k.len() + v.get().len() + 8)
                .sum::<usize>(),
    );
    out.push(b'{');
    let mut first = true;
    let mut saw_id = false;
    for (k, v) in &req.members {
        if !first {
            out.push(b',');
        }
        first = false;
        json_string(&mut out, k);
        out.push(b':');
        if k == "id" {
            saw_id = true;
            json_string(&mut out, new_id);
        } else if v.get().contains(['\n', '\r']) {
            out.extend_from_slice(compact_raw(v).get().as_bytes());
        } else {
            out.extend_from_slice(v.get().as_bytes());
        }
    }
    if !saw_id {
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(b"\"id\":");
        json_string(&mut out, new_id);
    }
    out.push(b'}');
    out
}

/// Appends `s` as a JSON string (quoted and escaped as serde_json does).
fn json_string(out: &mut Vec<u8>, s: &str) {
    let plain = s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
    if plain {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing to a Vec cannot fail; a String always serializes.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

impl PluginHost {
    /// Runs a plugin method for a client and returns the full response frame (ending in
    /// `\n\n`). `client_notify` is set when the client enabled notifications.
    pub async fn passthrough(
        &self,
        req: &Request,
        client_notify: Option<crate::host::NotifySink>,
    ) -> Vec<u8> {
        self.passthrough_with(req, client_notify, None).await
    }

    /// [`passthrough`](Self::passthrough) for a connection whose `deprecations` setting
    /// may differ from `allow-deprecated-apis`: the method's deprecation is judged by it,
    /// and a differing setting is told to the plugin first with `deprecated_oneshot`
    /// (§5.2 step 3).
    pub async fn passthrough_with(
        &self,
        req: &Request,
        client_notify: Option<crate::host::NotifySink>,
        conn_deprecated_apis: Option<bool>,
    ) -> Vec<u8> {
        let Some(p) = self.method_owner(&req.method) else {
            return error_frame(
                &req.id,
                &RpcError::method_not_found(format!("Unknown command '{}'", req.method)),
            );
        };
        let deprecated = p
            .manifest()
            .and_then(|m| m.methods.iter().find(|x| x.name == req.method))
            .map(|x| x.deprecated)
            .unwrap_or(false);
        let global = crate::host::lock(&self.inner.cfg).allow_deprecated_apis;
        let allowed = conn_deprecated_apis.unwrap_or(global);
        if deprecated && !allowed {
            return error_frame(
                &req.id,
                &RpcError::method_not_found(format!("Command \"{}\" is deprecated", req.method)),
            );
        }
        if allowed != global {
            if p.subscribed("deprecated_oneshot") {
                let frame = json!({"jsonrpc": "2.0", "method": "deprecated_oneshot",
                                   "params": {"deprecated_oneshot": {"deprecated_ok": allowed}}});
                let bytes = serde_json::to_vec(&frame).unwrap_or_default();
                // Same queue as the request, so it arrives just before it.
                let _ = p.queue_request(bytes).await;
            } else {
                self.log(
                    Level::Debug,
                    &p.source(),
                    &format!(
                        "Plugin does not support deprecation setting for cmd {} (id {})",
                        req.method,
                        req.id.get()
                    ),
                );
            }
        }
        let id = crate::ids::next_id(Some(&id_prefix(&req.id)), &req.method);
        let notify = client_notify.map(|sink| ClientNotify {
            client_id: req.id.clone(),
            sink,
        });
        let reply = self
            .send_request(&p, id.clone(), forward_frame(req, &id), notify)
            .await;
        self.reply_frame(req, reply)
    }

    fn reply_frame(&self, req: &Request, reply: Reply) -> Vec<u8> {
        match reply {
            Reply::Result(r) => raw_result_frame(&req.id, &r),
            Reply::Error(e) => raw_error_frame(&req.id, &e),
            Reply::Malformed(mut members) => {
                members.insert("id".to_string(), req.id.clone());
                let mut v = serde_json::to_vec(&members).unwrap_or_default();
                v.extend_from_slice(b"\n\n");
                v
            }
            Reply::Terminated => error_frame(&req.id, &RpcError::plugin_terminated()),
        }
    }

    /// `check` for a plugin command: forwarded only to plugins that declared `cancheck`,
    /// else an immediate success. Returns None if `command_to_check` is not a plugin
    /// method.
    pub async fn check(&self, req: &Request) -> Option<Vec<u8>> {
        let name = match &req.params {
            Value::Array(a) => a.first().and_then(Value::as_str),
            Value::Object(o) => o.get("command_to_check").and_then(Value::as_str),
            _ => None,
        }?
        .to_string();
        let p = self.method_owner(&name)?;
        let cancheck = p.manifest().map(|m| m.cancheck).unwrap_or(false);
        if !cancheck {
            self.log(
                Level::Unusual,
                &p.source(),
                &format!(
                    "Plugin does not support check command for {name} (id {})",
                    req.id.get()
                ),
            );
            return Some(jsonrpc::result_frame(
                &req.id,
                &json!({"command_to_check": name}),
            ));
        }
        let id = crate::ids::next_id(Some(&id_prefix(&req.id)), "check");
        let reply = self
            .send_request(&p, id.clone(), forward_frame(req, &id), None)
            .await;
        Some(self.reply_frame(req, reply))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_request_keeps_members_and_swaps_id() {
        let req = jsonrpc::parse_request(
            b"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"hello\",\"params\":{\n\n\"a\": 1},\"filter\":{}}",
        )
        .unwrap();
        let f = String::from_utf8(forward_frame(&req, "5/cln:hello#9")).unwrap();
        assert_eq!(
            f,
            "{\"jsonrpc\":\"2.0\",\"id\":\"5/cln:hello#9\",\"method\":\"hello\",\"params\":{\"a\":1},\"filter\":{}}"
        );
    }

    /// Keys that need escaping are written escaped exactly as serde_json writes them.
    #[test]
    fn forwarded_request_escapes_keys_as_serde_json_does() {
        let req = jsonrpc::parse_request(
            b"{\"jsonrpc\":\"2.0\",\"method\":\"hello\",\"a\\\"b\\\\c\\u0001\\u00e9\":[1, 2],\"id\":\"x\",\"params\":{}}",
        )
        .unwrap();
        let f = String::from_utf8(forward_frame(&req, "cln:hello#1")).unwrap();
        assert_eq!(
            f,
            "{\"jsonrpc\":\"2.0\",\"method\":\"hello\",\"a\\\"b\\\\c\\u0001\u{e9}\":[1, 2],\"id\":\"cln:hello#1\",\"params\":{}}"
        );
        let parsed: Value = serde_json::from_str(&f).unwrap();
        assert_eq!(parsed["a\"b\\c\u{1}\u{e9}"], json!([1, 2]));
    }
}

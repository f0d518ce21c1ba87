//! Notifications both ways (§1.5, §6).
//!
//! Out: fan-out to initialized subscribers through each plugin's bounded queue. A full
//! queue drops the notification; the first drop of a run is logged as a warning naming the
//! plugin (only the first, so the warning itself — which the daemon turns into a `warning`
//! notification — cannot feed a loop).
//!
//! In: `log`, `message`/`progress` (relayed to the client of a passthrough call) and
//! plugin-declared custom topics (re-emitted with `origin`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use tokio::sync::mpsc::error::TrySendError;

use crate::host::{lock, PState, Plugin, PluginHost};
use crate::log::{Level, HOST};

/// Topics only the daemon may emit (§6.2).
pub const NATIVE_TOPICS: [&str; 22] = [
    "connect",
    "disconnect",
    "warning",
    "log",
    "custommsg",
    "onionmessage_forward_fail",
    "invoice_payment",
    "invoice_creation",
    "channel_opened",
    "channel_open_failed",
    "channel_state_changed",
    "forward_event",
    "sendpay_success",
    "sendpay_failure",
    "coin_movement",
    "balance_snapshot",
    "block_added",
    "openchannel_peer_sigs",
    "shutdown",
    "deprecated_oneshot",
    "plugin_started",
    "plugin_stopped",
];

pub fn is_native_topic(t: &str) -> bool {
    NATIVE_TOPICS.contains(&t)
}

impl PluginHost {
    /// Emits a native notification: `{"<topic>": payload}` to every initialized plugin
    /// subscribed to `topic` (or to `*`, except for `log`). Fire and forget.
    pub fn notify(&self, topic: &str, payload: Value) {
        let subs = self.subscribers(topic);
        if subs.is_empty() {
            return;
        }
        let mut params = Map::new();
        params.insert(topic.to_string(), payload);
        let frame = json!({"jsonrpc": "2.0", "method": topic, "params": params});
        let bytes = serde_json::to_vec(&frame).unwrap_or_default();
        for p in subs {
            self.enqueue_notification(&p, bytes.clone(), topic);
        }
    }

    /// True if any initialized plugin would receive `topic` (lets callers skip building
    /// payloads nobody reads).
    pub fn anyone_cares(&self, topic: &str) -> bool {
        !self.subscribers(topic).is_empty()
    }

    /// Initialized plugins subscribed to `topic`. A plugin subscribed both by name and by
    /// `*` gets it once (CLN delivers twice, [BUG] §12.8).
    fn subscribers(&self, topic: &str) -> Vec<Arc<Plugin>> {
        self.registered()
            .into_iter()
            .filter(|p| p.state() == PState::InitComplete && p.subscribed(topic))
            .collect()
    }

    /// Sends one notification to one plugin without waiting: dropped if its queue is full.
    pub(crate) fn enqueue_notification(&self, p: &Arc<Plugin>, frame: Vec<u8>, topic: &str) {
        match p.out.try_send(frame) {
            Ok(()) => {
                if p.dropping.swap(false, Ordering::SeqCst) {
                    let n = p.dropped.swap(0, Ordering::SeqCst);
                    self.log(
                        Level::Info,
                        HOST,
                        &format!(
                            "plugin-{}: notification queue drained, {n} notifications were dropped",
                            p.name
                        ),
                    );
                }
            }
            Err(TrySendError::Full(_)) => {
                p.dropped.fetch_add(1, Ordering::SeqCst);
                if !p.dropping.swap(true, Ordering::SeqCst) {
                    self.log(
                        Level::Unusual,
                        HOST,
                        &format!(
                            "plugin-{}: notification queue full (plugin not reading?), dropping '{topic}' and further notifications",
                            p.name
                        ),
                    );
                }
            }
            Err(TrySendError::Closed(_)) => {}
        }
    }

    /// Handles a notification a plugin sent. Returns false if it killed the plugin.
    pub(crate) fn plugin_notification(&self, p: &Arc<Plugin>, method: &str, params: Value) -> bool {
        match method {
            "log" => {
                let level = match params.get("level") {
                    None => Level::Info,
                    Some(l) => match l.as_str().and_then(Level::from_plugin) {
                        Some(l) => l,
                        None => {
                            let msg = format!("Unknown log-level {l}, valid values are \"trace\", \"debug\", \"info\", \"warn\", or \"error\".");
                            self.kill(p, Level::Unusual, &msg);
                            return false;
                        }
                    },
                };
                let Some(message) = params.get("message").and_then(Value::as_str) else {
                    self.kill(
                        p,
                        Level::Unusual,
                        "Log notification from plugin doesn't have a string \"message\" field",
                    );
                    return false;
                };
                let source = p.source();
                for line in message.split('\n') {
                    let clean: String = line
                        .chars()
                        .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
                        .collect();
                    self.log(level, &source, &clean);
                }
                true
            }
            "message" | "progress" => {
                let Some(id) = params.get("id") else {
                    self.kill(
                        p,
                        Level::Unusual,
                        "JSON-RPC notify \"id\"-field is not present",
                    );
                    return false;
                };
                let key = match id {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let target = lock(&p.pending).get(&key).and_then(|w| w.notify.clone());
                // Unknown id, or a request without a client (hooks...): ignored.
                if let Some(n) = target {
                    let mut params = params;
                    let client_id: Value =
                        serde_json::from_str(n.client_id.get()).unwrap_or(Value::Null);
                    if let Some(o) = params.as_object_mut() {
                        o.insert("id".to_string(), client_id);
                    }
                    let frame = jsonrpc::notification_frame(method, &params);
                    (n.sink)(frame);
                }
                true
            }
            topic => {
                let declared = p
                    .manifest()
                    .map(|m| m.notifications.iter().any(|t| t == topic))
                    .unwrap_or(false);
                if !declared {
                    self.log(Level::Unusual, &p.source(), &format!("Plugin attempted to send a notification to topic \"{topic}\" it hasn't declared in its manifest, not forwarding to subscribers."));
                    return true;
                }
                let frame = json!({"jsonrpc": "2.0", "method": topic, "origin": p.name,
                                   "params": params});
                let bytes = serde_json::to_vec(&frame).unwrap_or_default();
                for s in self.subscribers(topic) {
                    self.enqueue_notification(&s, bytes.clone(), topic);
                }
                true
            }
        }
    }

    /// After start-up manifests are in: subscriptions to topics nobody can emit.
    pub(crate) fn log_unknown_subscriptions(&self) {
        let plugins = self.registered();
        let custom: Vec<String> = plugins
            .iter()
            .filter_map(|p| p.manifest().map(|m| m.notifications.clone()))
            .flatten()
            .collect();
        for p in &plugins {
            let Some(m) = p.manifest() else { continue };
            for t in &m.subscriptions {
                if t != "*" && !is_native_topic(t) && !custom.contains(t) {
                    self.log(
                        Level::Unusual,
                        &p.source(),
                        &format!("topic '{t}' is not a known notification topic"),
                    );
                }
            }
        }
    }
}

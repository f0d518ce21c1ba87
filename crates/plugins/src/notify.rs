//! Notifications both ways (§1.5, §6).
//!
//! Out: fan-out to initialized subscribers. Nothing is ever dropped silently. Each
//! subscriber has a byte budget ([`HostConfig::notify_budget`](crate::HostConfig)):
//! * a native notification that does not fit means the subscriber is stuck: it is logged
//!   as BROKEN with the topic and its backlog and removed (an important one stops the
//!   node, as any important plugin's death does);
//! * a notification a plugin emitted waits (the emitter's reader stops reading it) while a
//!   subscriber's backlog is over half the budget or 256 KiB; a subscriber that makes no progress for
//!   [`HostConfig::notify_stall`](crate::HostConfig) is removed the same loud way.
//!
//! In: `log`, `message`/`progress` (relayed to the client of a passthrough call) and
//! plugin-declared custom topics (re-emitted with `origin`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::host::{lock, Frame, PState, Plugin, PluginHost};
use crate::log::Level;

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

/// Backlog of a subscriber above which a plugin that emits a notification for it waits.
/// Native notifications cannot wait and have the whole budget; an emitter can, and a
/// subscriber with this much queued has work for a while: letting a burst fill half of
/// every subscriber's 16 MiB budget instead held ~80 MB with 10 subscribers for nothing.
pub const EMITTED_HIGH_WATER: usize = 256 * 1024;

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
        let bytes: Arc<[u8]> = serde_json::to_vec(&frame).unwrap_or_default().into();
        for p in subs {
            self.enqueue_notification(&p, &bytes, topic);
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
        lock(&self.inner.state)
            .plugins
            .iter()
            .filter(|p| p.subscribed(topic) && p.state() == PState::InitComplete)
            .cloned()
            .collect()
    }

    /// Queues a native notification for one subscriber within its byte budget; one that
    /// does not fit removes the subscriber loudly.
    pub(crate) fn enqueue_notification(&self, p: &Arc<Plugin>, frame: &Arc<[u8]>, topic: &str) {
        let q = &p.note_queue;
        let len = frame.len() + 2;
        let before = q.backlog.fetch_add(len, Ordering::SeqCst);
        if before + len > self.inner.notify_budget {
            q.backlog.fetch_sub(len, Ordering::SeqCst);
            self.remove_stuck(p, topic, before);
            return;
        }
        q.count.fetch_add(1, Ordering::SeqCst);
        if !p.out.push(Frame::Note(frame.clone())) {
            // Its writer is gone: the plugin is being removed already.
            q.backlog.fetch_sub(len, Ordering::SeqCst);
            q.count.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Queues a plugin-emitted notification for one subscriber, waiting while its backlog
    /// is over half the budget or [`EMITTED_HIGH_WATER`] (the emitter is not read
    /// meanwhile). A subscriber that
    /// writes nothing for the stall time is removed loudly.
    async fn enqueue_waiting(&self, p: &Arc<Plugin>, frame: &Arc<[u8]>, topic: &str) {
        let q = &p.note_queue;
        let high = (self.inner.notify_budget / 2).min(EMITTED_HIGH_WATER);
        let mut deadline = tokio::time::Instant::now() + self.inner.notify_stall;
        loop {
            let room = q.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            let backlog = q.backlog.load(Ordering::SeqCst);
            if p.dead.load(Ordering::SeqCst) {
                return;
            }
            if backlog == 0 || backlog + frame.len() + 2 <= high {
                break;
            }
            tokio::select! {
                _ = room => deadline = tokio::time::Instant::now() + self.inner.notify_stall,
                _ = tokio::time::sleep_until(deadline) => {
                    self.remove_stuck(p, topic, backlog);
                    return;
                }
            }
        }
        self.enqueue_notification(p, frame, topic);
    }

    /// A subscriber that cannot take `topic`: logged as BROKEN and removed.
    fn remove_stuck(&self, p: &Arc<Plugin>, topic: &str, backlog: usize) {
        if p.dead.load(Ordering::SeqCst) {
            return;
        }
        let queued = p.note_queue.count.load(Ordering::SeqCst);
        let reason = format!(
            "stuck: cannot deliver '{topic}' notification, {queued} notifications ({backlog} bytes) still queued (budget {} bytes); not reading its stdin?",
            self.inner.notify_budget
        );
        self.kill(p, Level::Broken, &reason);
    }

    /// Handles a notification a plugin sent. Returns false if it killed the plugin.
    pub(crate) async fn plugin_notification(
        &self,
        p: &Arc<Plugin>,
        method: &str,
        params: Value,
    ) -> bool {
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
                let bytes: Arc<[u8]> = serde_json::to_vec(&frame).unwrap_or_default().into();
                for s in self.subscribers(topic) {
                    self.enqueue_waiting(&s, &bytes, topic).await;
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

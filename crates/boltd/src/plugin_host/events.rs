//! What flows from the daemon to plugins and back outside of RPC: log lines become
//! `log`/`warning` notifications, host events (a plugin died, features or plugins
//! changed) update the node, the option registry and the peer layer.

use std::sync::Arc;

use plugins::{HostEvent, PluginHost};
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::logging::LogEvent;
use crate::node::{FeatureSet, Node};
use crate::peering::Peering;

/// getinfo's `channel` feature bits come only from plugins; `invoice` is ours (what every
/// invoice carries) plus the plugins'; `init`/`node` are kept by the peers wiring (LDK's
/// bits plus the plugins').
pub(super) fn set_features(node: &Node, f: &plugins::FeatureSet) {
    let j = f.to_json_getinfo();
    let get = |k: &str| j[k].as_str().unwrap_or_default().to_string();
    if let Ok(mut g) = node.features.write() {
        let FeatureSet { init, node, .. } = g.clone();
        let pick = |mine: String, theirs: String| if mine.is_empty() { theirs } else { mine };
        *g = FeatureSet {
            init: pick(init, get("init")),
            node: pick(node, get("node")),
            channel: get("channel"),
            invoice: hex::encode(crate::invoices::create::or_features(
                &crate::invoices::create::INVOICE_FEATURES,
                f.get("invoice"),
            )),
        };
    }
}

/// `log` / `warning` notification payloads from a log line (§6.2).
fn log_payload(ev: &LogEvent, warning: bool) -> Value {
    let level = if warning {
        if ev.level == crate::config::LogLevel::Broken {
            "error"
        } else {
            "warn"
        }
    } else {
        ev.level.name()
    };
    json!({"level": level, "time": ev.time_str(), "timestamp": ev.timestamp(),
           "source": ev.source, "log": ev.message})
}

/// Log lines → `log` (explicit subscribers) and `warning` (unusual/broken), every one
/// (the log's queue to us skips none; each plugin's budget bounds what waits for it).
pub(super) fn forward_logs(node: &Node, host: PluginHost) {
    let mut logs = node.log.subscribe();
    tokio::spawn(async move {
        loop {
            let Some(ev) = logs.recv().await else { return };
            if host.anyone_cares("log") {
                host.notify("log", log_payload(&ev, false));
            }
            if ev.level >= crate::config::LogLevel::Unusual && host.anyone_cares("warning") {
                host.notify("warning", log_payload(&ev, true));
            }
        }
    });
}

/// Reacts to every host event until the host is gone.
pub(super) fn pump(
    node: Arc<Node>,
    peering: Arc<Peering>,
    mut events: UnboundedReceiver<HostEvent>,
) {
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            peering.on_host_event(&ev);
            match ev {
                HostEvent::ImportantPluginDied { .. } => {
                    node.shutdown
                        .trigger("Plugin marked as important, shutting down lightningd!", 1);
                }
                HostEvent::FeaturesChanged(f) => set_features(&node, &f),
                // Plugin options are read through the host: nothing to copy.
                HostEvent::PluginsChanged => {}
                // The peers task reads `host.custom_messages()` when it needs them.
                HostEvent::CustomMessagesChanged(_) => {}
            }
        }
    });
}

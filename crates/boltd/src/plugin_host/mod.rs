//! Wiring the `plugins` crate into the daemon (reference §0, §2.4, §4, §5, §6), in the
//! order start-up needs it:
//!
//! 1. [`load`] (before the full option parse): the start-up plugin list, named paths
//!    checked, every getmanifest, plugin options registered ([`startup`]);
//! 2. [`apply_values`]: the parsed values of plugin options handed to the host
//!    ([`options`]);
//! 3. [`wire`] (before the RPC socket serves anyone): plugin methods ([`methods`]) and the
//!    `rpc_command` hook ([`rpc_hook`]) for the dispatcher, log lines and host events
//!    flowing ([`events`]);
//! 4. [`init`] (once the socket serves, since plugins call it during `init`): `init` to
//!    every plugin, start-up waiting for all answers.

mod events;
mod methods;
pub mod options;
mod rpc_hook;
pub mod startup;

use std::sync::Arc;

use plugins::HostEvent;
use tokio::sync::mpsc::UnboundedReceiver;

pub use options::apply_values;
pub use startup::{load, Loaded, TIMEOUT_OPT};

use crate::rpc::{ExternalMethods, RpcCommandHook};
use crate::services::Services;

/// What the dispatcher is built with: plugin methods and the `rpc_command` chain.
pub struct Wired {
    pub methods: Arc<dyn ExternalMethods>,
    pub hook: Arc<dyn RpcCommandHook>,
}

/// Everything plugins need from the daemon before any client byte is read: host
/// settings from the full parse, builtin names (the one commands table), feature bits,
/// log forwarding, the host event pump, and the plugins' shutdown step.
pub fn wire(s: &Services, events: UnboundedReceiver<HostEvent>) -> Wired {
    let (node, host) = (&s.node, &s.plugins);
    host.host_log().replay();
    host.configure(|c| {
        c.rpc_file = node.settings.rpc_file.clone();
        c.allow_deprecated_apis = node.settings.allow_deprecated_apis;
        c.proxy = node.settings.proxy_json();
        c.always_use_proxy = node.settings.always_use_proxy;
    });
    host.set_builtins(
        crate::commands::names().map(str::to_string).collect(),
        node.config
            .read()
            .map(|c| {
                c.registry
                    .iter()
                    .filter(|s| s.plugin.is_none())
                    .map(|s| s.name.clone())
                    .collect()
            })
            .unwrap_or_default(),
    );
    events::set_features(node, &host.features());
    events::forward_logs(node, host.clone());
    events::pump(node.clone(), s.peering.clone(), events);
    let h = host.clone();
    node.shutdown.on_exit(
        "plugins",
        Box::new(move || {
            Box::pin(async move {
                h.shutdown().await;
            })
        }),
    );
    Wired {
        methods: Arc::new(methods::Methods { host: host.clone() }),
        hook: Arc::new(rpc_hook::Hook { host: host.clone() }),
    }
}

/// Sends `init` to every start-up plugin and waits for all answers (the RPC socket
/// serves meanwhile: plugins call it from their `init`).
pub async fn init(s: &Services) {
    let (node, host) = (&s.node, &s.plugins);
    for (path, why) in host.init_all().await {
        tracing::info!(source = "plugins", "{path}: {why}");
        // A start-up plugin that never answered init is fatal, as in lightningd (§2.2).
        if why == plugins::INIT_TIMEOUT {
            node.shutdown.trigger(plugins::STARTUP_HANG_FATAL, 1);
        }
    }
}

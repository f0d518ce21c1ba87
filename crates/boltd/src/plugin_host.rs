//! Wiring the `plugins` crate into the daemon (reference §0, §2.4, §4, §5, §6).
//!
//! Start-up: [`load`] builds the plugin list from `--plugin*` options and the default
//! directory, runs every getmanifest and registers plugin options into the option
//! registry before the full parse; [`apply_values`] hands the parsed values to the host;
//! [`attach`] (after the RPC socket listens) installs plugin methods and the
//! `rpc_command` hook into the dispatcher, routes log lines to `log`/`warning`
//! notifications, reacts to host events, and sends `init` to every plugin.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jsonrpc::{Request, RpcError};
use plugins::hooks::{validate_replace, MethodStatus, RpcCommand, RpcCommandOutcome};
use plugins::{HostConfig, HostEvent, PluginHost, PluginSpec, RpcCommandPayload};
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::config::{Config, Early, OptKind, OptSpec, Registry};
use crate::logging::LogEvent;
use crate::node::{FeatureSet, Node};
use crate::rpc::{
    BoxFut, CmdResult, Context, Dispatcher, ExternalMethods, HookOutcome, MethodInfo, Reply,
    RpcCommandHook,
};

/// Our own option: getmanifest/init timeout in seconds (CLN: 120), for tests.
pub const TIMEOUT_OPT: &str = "dev-plugin-timeout";

/// Commands registered after plugins get their manifests (so method clashes with them are
/// refused at manifest time too).
const LATE_BUILTINS: &[&str] = &[
    "plugin",
    "setconfig",
    "datastore",
    "deldatastore",
    "listdatastore",
    "datastoreusage",
    "connect",
    "disconnect",
    "listpeers",
    "sendcustommsg",
];

/// The running host plus the events it reports.
pub struct Loaded {
    pub host: PluginHost,
    pub events: UnboundedReceiver<HostEvent>,
}

fn last_value(early: &Early, name: &str) -> Option<String> {
    early
        .entries_for(&[name])
        .into_iter()
        .filter_map(|e| e.value)
        .next_back()
}

/// The start-up plugin list, in CLN's order: `--plugin`, `--important-plugin` and
/// `--plugin-dir` as given (with `--clear-plugins` dropping what came before), then the
/// default dir `<lightning-dir>/plugins` and its immediate subdirectories.
fn startup_specs(early: &Early) -> (Vec<PluginSpec>, Vec<String>) {
    let mut specs = vec![];
    let mut disabled = vec![];
    let names = [
        "plugin",
        "important-plugin",
        "plugin-dir",
        "clear-plugins",
        "disable-plugin",
    ];
    for e in early.entries_for(&names) {
        let v = e.value.clone().unwrap_or_default();
        match e.name.as_str() {
            "plugin" => specs.push(PluginSpec {
                path: v.into(),
                important: false,
            }),
            "important-plugin" => specs.push(PluginSpec {
                path: v.into(),
                important: true,
            }),
            "plugin-dir" => {
                // A missing directory is silently ignored, like lightningd.
                let dir = PathBuf::from(&v);
                for p in plugins::scan_dir(&dir).unwrap_or_default() {
                    specs.push(PluginSpec {
                        path: p,
                        important: false,
                    });
                }
            }
            "clear-plugins" => specs.clear(),
            "disable-plugin" => disabled.push(v),
            _ => {}
        }
    }
    let default_dir = early.lightning_dir.join("plugins");
    for p in plugins::scan_default_dir(&default_dir) {
        specs.push(PluginSpec {
            path: p,
            important: false,
        });
    }
    (specs, disabled)
}

/// Spawns the start-up plugins, waits for every getmanifest, and registers their options.
/// Err is the message boltd prints before exiting 1.
pub async fn load(early: &Early, registry: &mut Registry) -> Result<Loaded, String> {
    let (specs, disabled) = startup_specs(early);
    let allow_deprecated = last_value(early, "allow-deprecated-apis")
        .and_then(|v| crate::config::parse_bool(&v))
        .unwrap_or(true);
    let mut cfg = HostConfig::new(early.network_dir(), &early.network);
    cfg.version = crate::node::VERSION.to_string();
    if early.help && !cfg.network_dir.is_dir() {
        // `--help` creates no directories; the plugins only answer getmanifest.
        cfg.network_dir = std::env::current_dir().unwrap_or_else(|_| "/".into());
    }
    cfg.allow_deprecated_apis = allow_deprecated;
    if let Some(t) = last_value(early, TIMEOUT_OPT).and_then(|v| crate::config::parse_int(&v)) {
        cfg.startup_timeout = Duration::from_secs(t.max(1) as u64);
    }
    cfg.disabled = disabled;
    // Kept until `attach`: the logger needs the full parse, which needs the plugins.
    let early_log = plugins::log::HostLog::buffering();
    cfg.log = early_log.clone();
    // LDK's own bits: plugins may not offer them again, and `init` shows the full set.
    let base = net::base_features();
    cfg.feature_set_base
        .bits
        .insert("init".to_string(), base.init);
    cfg.feature_set_base
        .bits
        .insert("node".to_string(), base.node);
    cfg.default_plugin_dir = Some(early.lightning_dir.join("plugins"));
    cfg.builtin_options = registry.iter().map(|s| s.name.clone()).collect();
    cfg.builtin_options.push(TIMEOUT_OPT.to_string());
    cfg.builtin_methods = crate::commands::builtins()
        .iter()
        .map(|c| c.name().to_string())
        .chain(LATE_BUILTINS.iter().map(|s| s.to_string()))
        .collect();
    let (host, events) = PluginHost::new(cfg);
    registry.register(
        OptSpec::new(
            TIMEOUT_OPT,
            OptKind::Int,
            "Seconds a plugin has to answer getmanifest and init",
        )
        .default("120"),
    )?;
    host.load_startup(specs).await.map_err(|e| {
        // No logger yet (it needs the full parse): what happened goes to stderr.
        for (level, source, msg) in early_log.take() {
            eprintln!("{:<7} {source}: {msg}", format!("{level:?}").to_uppercase());
        }
        e.to_string()
    })?;
    register_options(&host, registry, allow_deprecated);
    Ok(Loaded { host, events })
}

/// Adds every registered plugin option the registry does not know yet.
fn register_options(host: &PluginHost, registry: &mut Registry, allow_deprecated: bool) {
    for o in host.option_specs() {
        if registry.get(&o.name).is_none() {
            let _ = registry.register(OptSpec::from_plugin(&o, allow_deprecated));
        }
    }
}

/// `(value, source)` pairs the parsed config holds for one option.
fn config_values(config: &Config, name: &str) -> Vec<(Option<String>, String)> {
    let Some(entry) = config.listconfigs_entry(name) else {
        return vec![];
    };
    let spec_multi = config.registry.get(name).map(|s| s.multi).unwrap_or(false);
    let kind = config.registry.get(name).map(|s| s.kind);
    if spec_multi {
        let sources: Vec<String> = entry["sources"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        config
            .get_multi(name)
            .into_iter()
            .zip(sources)
            .map(|(v, s)| (Some(v), s))
            .collect()
    } else {
        let source = entry["source"].as_str().unwrap_or("default").to_string();
        if source == "default" || !config.is_set(name) {
            return vec![];
        }
        if kind == Some(OptKind::Flag) {
            return vec![(None, source)];
        }
        vec![(config.get(name), source)]
    }
}

/// Hands the parsed values of plugin options to the host (for `init`), which owns them
/// from then on. Err is the start-up error (`--name: deprecated option (will be
/// removed!)`).
pub fn apply_values(host: &PluginHost, config: &mut Config) -> Result<(), String> {
    for o in host.option_specs() {
        for (v, source) in config_values(config, &o.name) {
            host.set_option_value(&o.name, v.clone(), &source)
                .map_err(|e| match &v {
                    Some(v) => format!("--{}={v}: {e}", o.name),
                    None => format!("--{}: {e}", o.name),
                })?;
        }
    }
    config.hand_plugin_options_to(host.clone());
    Ok(())
}

/// Plugin methods as the dispatcher's external method source.
struct Methods {
    host: PluginHost,
}

impl ExternalMethods for Methods {
    fn methods(&self) -> Vec<MethodInfo> {
        self.host
            .methods()
            .into_iter()
            .map(|m| MethodInfo {
                name: m.name,
                usage: m.usage,
                deprecated: m.deprecated,
            })
            .collect()
    }
    fn lookup(&self, name: &str) -> Option<MethodInfo> {
        self.host.method(name).map(|m| MethodInfo {
            name: m.name,
            usage: m.usage,
            deprecated: m.deprecated,
        })
    }
    fn call(&self, ctx: Context) -> BoxFut<CmdResult> {
        let host = self.host.clone();
        Box::pin(async move {
            let sink: Option<plugins::NotifySink> = if ctx.conn.notifications_enabled() {
                let conn = ctx.conn.clone();
                Some(Arc::new(move |f| {
                    let _ = conn.try_send_frame(f);
                }))
            } else {
                None
            };
            let deprecations = ctx.conn.deprecations_override();
            Ok(Reply::Frame(
                host.passthrough_with(&ctx.request, sink, deprecations)
                    .await,
            ))
        })
    }
    fn check(&self, ctx: Context) -> BoxFut<CmdResult> {
        let host = self.host.clone();
        Box::pin(async move {
            match host.check(&ctx.request).await {
                Some(f) => Ok(Reply::Frame(f)),
                None => Err(RpcError::method_not_found("Unknown command")),
            }
        })
    }
}

/// The `rpc_command` chain in front of the dispatcher.
struct Hook {
    host: PluginHost,
    node: Arc<Node>,
    dispatcher: Arc<Dispatcher>,
}

impl RpcCommandHook for Hook {
    fn call(&self, request: &Request) -> BoxFut<HookOutcome> {
        // Asked for every RPC call: with no hook registered, nothing is cloned.
        if !self.host.has_hook("rpc_command") {
            return Box::pin(std::future::ready(HookOutcome::Continue));
        }
        let host = self.host.clone();
        let node = self.node.clone();
        let dispatcher = self.dispatcher.clone();
        let request = request.clone();
        Box::pin(async move {
            let payload = RpcCommandPayload::from_request(&request);
            let cause = jsonrpc::id_prefix(&request.id);
            match host.call_hook::<RpcCommand>(&payload, Some(&cause)).await {
                RpcCommandOutcome::Continue => HookOutcome::Continue,
                RpcCommandOutcome::Result(v) => HookOutcome::Return(Ok(Reply::Result(v))),
                RpcCommandOutcome::Error(e) => match serde_json::value::to_raw_value(&e) {
                    Ok(raw) => HookOutcome::Return(Ok(Reply::RawError(raw))),
                    Err(_) => HookOutcome::Continue,
                },
                RpcCommandOutcome::Replace(rep) => {
                    let status = |m: &str| match dispatcher.resolve(&node, m) {
                        Ok(()) => MethodStatus::Ok,
                        Err(e) if e.message.contains("deprecated") => MethodStatus::Deprecated,
                        Err(_) => MethodStatus::Unknown,
                    };
                    match validate_replace(&rep, status) {
                        Err(e) => HookOutcome::Return(Err(e)),
                        Ok(_) => {
                            let text = rep.to_string();
                            match jsonrpc::parse_request(text.as_bytes()) {
                                Ok(mut r) => {
                                    r.id = request.id.clone();
                                    HookOutcome::Replace(r)
                                }
                                Err(_) => HookOutcome::Return(Err(RpcError::invalid_request(
                                    format!("Bad response to 'rpc_command' hook: invalid request ({text})"),
                                ))),
                            }
                        }
                    }
                }
            }
        })
    }
}

/// getinfo's `channel`/`invoice` feature bits come only from plugins; `init`/`node` are
/// kept by the peers wiring (LDK's bits plus the plugins').
fn set_features(node: &Node, f: &plugins::FeatureSet) {
    let j = f.to_json_getinfo();
    let get = |k: &str| j[k].as_str().unwrap_or_default().to_string();
    if let Ok(mut g) = node.features.write() {
        let FeatureSet { init, node, .. } = g.clone();
        let pick = |mine: String, theirs: String| if mine.is_empty() { theirs } else { mine };
        *g = FeatureSet {
            init: pick(init, get("init")),
            node: pick(node, get("node")),
            channel: get("channel"),
            invoice: get("invoice"),
        };
    }
}

type Listener = Box<dyn Fn(&HostEvent) + Send + Sync>;

/// Other subsystems that want the host's events (the peers wiring).
static LISTENERS: std::sync::Mutex<Vec<Listener>> = std::sync::Mutex::new(Vec::new());

/// Calls `f` with every later host event (from the event loop [`attach`] starts).
pub fn add_listener(f: impl Fn(&HostEvent) + Send + Sync + 'static) {
    if let Ok(mut l) = LISTENERS.lock() {
        l.push(Box::new(f));
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

/// After the RPC socket listens: plugin methods, the hook, commands, notifications from
/// the log, host events, then `init` to every plugin (start-up waits for all answers).
pub async fn attach(node: Arc<Node>, dispatcher: Arc<Dispatcher>, loaded: Loaded) {
    let Loaded { host, mut events } = loaded;
    host.host_log().replay();
    host.configure(|c| {
        c.rpc_file = node.settings.rpc_file.clone();
        c.allow_deprecated_apis = node.settings.allow_deprecated_apis;
        c.proxy = node.settings.proxy_json();
        c.always_use_proxy = node.settings.always_use_proxy;
    });
    let _ = dispatcher.register(Arc::new(crate::commands::plugin::PluginCmd {
        host: host.clone(),
    }));
    let _ = dispatcher.register(Arc::new(crate::commands::setconfig::Setconfig {
        host: host.clone(),
    }));
    host.set_builtins(
        dispatcher
            .builtin_usages()
            .into_iter()
            .map(|(n, _)| n)
            // Peer commands are registered after this point.
            .chain(LATE_BUILTINS.iter().map(|s| s.to_string()))
            .collect(),
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
    node.set_external(Arc::new(Methods { host: host.clone() }));
    node.set_rpc_hook(Arc::new(Hook {
        host: host.clone(),
        node: node.clone(),
        dispatcher: dispatcher.clone(),
    }));
    set_features(&node, &host.features());

    // Log lines → `log` (explicit subscribers) and `warning` (unusual/broken).
    let mut logs = node.log.subscribe();
    let h = host.clone();
    tokio::spawn(async move {
        loop {
            match logs.recv().await {
                Ok(ev) => {
                    if h.anyone_cares("log") {
                        h.notify("log", log_payload(&ev, false));
                    }
                    if ev.level >= crate::config::LogLevel::Unusual && h.anyone_cares("warning") {
                        h.notify("warning", log_payload(&ev, true));
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    });

    // Host events.
    let n2 = node.clone();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let Ok(l) = LISTENERS.lock() {
                for f in l.iter() {
                    f(&ev);
                }
            }
            match ev {
                HostEvent::ImportantPluginDied { .. } => {
                    n2.shutdown
                        .trigger("Plugin marked as important, shutting down lightningd!", 1);
                }
                HostEvent::FeaturesChanged(f) => set_features(&n2, &f),
                // Plugin options are read through the host: nothing to copy.
                HostEvent::PluginsChanged => {}
                // The peers task reads `host.custom_messages()` when it needs them.
                HostEvent::CustomMessagesChanged(_) => {}
            }
        }
    });

    let h3 = host.clone();
    node.shutdown.on_exit(
        "plugins",
        Box::new(move || {
            Box::pin(async move {
                h3.shutdown().await;
            })
        }),
    );

    for (path, why) in host.init_all().await {
        tracing::info!(source = "plugins", "{path}: {why}");
        // A start-up plugin that never answered init is fatal, as in lightningd (§2.2).
        if why == plugins::INIT_TIMEOUT {
            node.shutdown.trigger(plugins::STARTUP_HANG_FATAL, 1);
        }
    }
}

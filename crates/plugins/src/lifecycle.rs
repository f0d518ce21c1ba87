//! Plugin lifecycles: start-up (parallel getmanifest, then init to all), dynamic start
//! through `plugin start`/`startdir`/`rescan`, `plugin stop`, and daemon shutdown (§2, §3,
//! §6.4, §8).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use jsonrpc::{codes, RpcError};
use serde_json::{json, Map, Value};

use crate::host::{lock, OptValue, PState, Plugin, PluginHost, Reply};
use crate::log::{log, Level, HOST};
use crate::manifest::{self, ManifestReply};
use crate::options::{parse_value, OptType};
use crate::process::{check_executable, strerror};
use crate::registry::{check_clashes, paths_match, Refusal};

/// How long daemon shutdown waits for killed plugin processes to be reaped.
const KILL_REAP_LIMIT: Duration = Duration::from_secs(2);

/// A plugin to load at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    pub path: PathBuf,
    pub important: bool,
}

/// Start-up cannot continue.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StartupError {
    /// An important plugin failed (CLN: `Could not initialize the plugins, see above...`).
    #[error("Could not initialize the plugins, see above for details.")]
    ImportantFailed { path: String, reason: String },
    /// An option name clash at start-up (CLN: fatal).
    #[error("{0}")]
    Fatal(String),
}

/// Why an init that timed out was killed (boltd checks for it after start-up's inits).
pub const INIT_TIMEOUT: &str = "timed out before replying to init";

/// lightningd's `fatal()` when a start-up plugin hangs in getmanifest or init
/// (plugin.c:1616-1625, reference §2.2): a node whose plugins never came up must not run.
pub const STARTUP_HANG_FATAL: &str = "Can't recover from plugin failure, terminating.";

/// The `plugin` command's subcommands.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginCommand {
    Start {
        path: String,
        /// `(name, value)`; `None` value for a bare flag.
        options: Vec<(String, Option<String>)>,
    },
    Stop(String),
    StartDir(PathBuf),
    Rescan,
    List,
}

fn plugin_err(path: &str, why: &str) -> RpcError {
    RpcError::new(codes::PLUGIN_ERROR, format!("{path}: {why}"))
}

/// A config value as option text: strings without quotes, other JSON raw.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `plugin start`'s `options`: an array of `"key=value"` strings, `"flag"` alone for a
/// flag (CLN's errors for anything else).
fn options_array(a: &Value) -> Result<Vec<(String, Option<String>)>, RpcError> {
    let items = a
        .as_array()
        .ok_or_else(|| jsonrpc::params::bad_token("options", "should be an array", a))?;
    items
        .iter()
        .map(|it| {
            let s = it
                .as_str()
                .ok_or_else(|| RpcError::invalid_params("options array entries must be strings"))?;
            Ok(match s.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (s.to_string(), None),
            })
        })
        .collect()
}

impl PluginCommand {
    /// Binds the `plugin` command's params (array or object), with CLN's errors.
    pub fn from_params(params: &Value) -> Result<PluginCommand, RpcError> {
        let missing =
            |p: &str| RpcError::invalid_params(format!("missing required parameter: {p}"));
        let (sub, rest_arr, obj): (Option<String>, Vec<Value>, Option<&Map<String, Value>>) =
            match params {
                Value::Array(a) => (
                    a.first().and_then(|v| v.as_str()).map(String::from),
                    a.iter().skip(1).cloned().collect(),
                    None,
                ),
                Value::Object(o) => (
                    o.get("subcommand")
                        .and_then(Value::as_str)
                        .map(String::from),
                    vec![],
                    Some(o),
                ),
                _ => {
                    return Err(RpcError::invalid_params(
                        "Expected array or object for params",
                    ))
                }
            };
        let sub = sub.ok_or_else(|| missing("subcommand"))?;
        let arg = |name: &str| -> Option<String> {
            match obj {
                Some(o) => o.get(name).map(value_text),
                None => rest_arr.first().map(value_text),
            }
        };
        let extra_arr = |allowed: usize| -> Result<(), RpcError> {
            if rest_arr.len() > allowed {
                return Err(RpcError::invalid_params(format!(
                    "too many parameters: got {}, expected {}",
                    rest_arr.len() + 1,
                    allowed + 1
                )));
            }
            Ok(())
        };
        match sub.as_str() {
            "start" => {
                let path = arg("plugin").ok_or_else(|| missing("plugin"))?;
                let mut options = Vec::new();
                match obj {
                    None => {
                        // Positionally: `plugin start PATH [OPTIONS-ARRAY]`, nothing more
                        // (plugin_control.c checks the array's type before the count).
                        if let Some(a) = rest_arr.get(1) {
                            options = options_array(a)?;
                        }
                        if rest_arr.len() > 2 {
                            return Err(RpcError::invalid_params(
                                "Extra parameters must be in object",
                            ));
                        }
                    }
                    Some(o) => {
                        let arr = o.get("options");
                        let kw: Vec<(&String, &Value)> = o
                            .iter()
                            .filter(|(k, _)| {
                                !matches!(k.as_str(), "subcommand" | "plugin" | "options")
                            })
                            .collect();
                        if arr.is_some() && !kw.is_empty() {
                            return Err(RpcError::invalid_params(
                                "Cannot mix 'options' array with keyword options",
                            ));
                        }
                        if let Some(a) = arr {
                            options = options_array(a)?;
                        }
                        for (k, v) in kw {
                            options.push((k.clone(), Some(value_text(v))));
                        }
                    }
                }
                Ok(PluginCommand::Start { path, options })
            }
            "stop" => {
                extra_arr(1)?;
                Ok(PluginCommand::Stop(
                    arg("plugin").ok_or_else(|| missing("plugin"))?,
                ))
            }
            "startdir" => {
                extra_arr(1)?;
                Ok(PluginCommand::StartDir(PathBuf::from(
                    arg("directory").ok_or_else(|| missing("directory"))?,
                )))
            }
            "rescan" => {
                extra_arr(0)?;
                Ok(PluginCommand::Rescan)
            }
            "list" => {
                extra_arr(0)?;
                Ok(PluginCommand::List)
            }
            other => Err(RpcError::invalid_params(format!(
                "Unknown subcommand '{other}'"
            ))),
        }
    }
}

/// Plugins in `dir` (not recursive): regular files with an execute bit, names of
/// letters, digits, `-`, `_`, `.`, and not `README.md`. Sorted by name.
pub fn scan_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let Ok(e) = e else { continue };
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == "README.md"
            || name.starts_with('.')
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            continue;
        }
        let path = e.path();
        if check_executable(&path).is_ok() {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The default plugin dir and each of its immediate subdirectories (§8.1). A missing
/// directory yields nothing.
pub fn scan_default_dir(dir: &Path) -> Vec<PathBuf> {
    let mut out = scan_dir(dir).unwrap_or_default();
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut subs: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        subs.sort();
        for s in subs {
            out.extend(scan_dir(&s).unwrap_or_default());
        }
    }
    out
}

fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

impl PluginHost {
    fn is_disabled(&self, path: &str) -> bool {
        self.cfg().disabled.iter().any(|d| paths_match(d, path))
    }

    fn find_live(&self, path: &str) -> Option<Arc<Plugin>> {
        self.plugins().into_iter().find(|p| p.path == path)
    }

    /// The running plugin at `path` whose file changed since it was spawned, if it is not
    /// important: starting it again replaces it (lightningd's `plugin_register`).
    fn changed_live(&self, path: &str) -> Option<Arc<Plugin>> {
        self.find_live(path).filter(|p| {
            !p.important.load(Ordering::SeqCst) && crate::process::file_checksum(path) != p.checksum
        })
    }

    /// Sends getmanifest and registers the reply. Err is the kill reason (the plugin is
    /// dead by then) or a start-up fatal.
    async fn manifest(
        &self,
        p: &Arc<Plugin>,
        cause: Option<&str>,
        startup: bool,
    ) -> Result<(), Refusal> {
        let cfg = self.cfg();
        let params = json!({"allow-deprecated-apis": cfg.allow_deprecated_apis}).to_string();
        let reply = tokio::time::timeout(
            cfg.startup_timeout,
            self.request(p, "getmanifest", &params, cause, None),
        )
        .await;
        let reply = match reply {
            Err(_) => {
                let why = "timed out before replying to getmanifest";
                self.kill(p, Level::Unusual, why);
                if startup {
                    return Err(Refusal::Fatal(STARTUP_HANG_FATAL.to_string()));
                }
                return Err(Refusal::Kill(why.to_string()));
            }
            Ok(Reply::Terminated) => return Err(Refusal::Kill(self.death_reason(p))),
            Ok(r) => r,
        };
        let result: Option<Value> = match &reply {
            Reply::Result(r) => serde_json::from_str(r.get()).ok(),
            _ => None,
        };
        let parsed = manifest::parse(result.as_ref(), &reply.text(), &p.path);
        let m = match parsed {
            Err(why) => {
                self.kill(p, Level::Unusual, &why);
                return Err(Refusal::Kill(why));
            }
            Ok(ManifestReply::Disabled(why)) => {
                p.important.store(false, Ordering::SeqCst);
                let why = format!("disabled itself: {why}");
                self.kill(p, Level::Info, &why);
                return Err(Refusal::Kill(why));
            }
            Ok(ManifestReply::Register(m)) => m,
        };
        // Check and register under the state lock so two plugins starting together
        // cannot both take one name.
        let refused = {
            let st = lock(&self.inner.state);
            match check_clashes(&cfg, &st.plugins, &p.path, &m, startup) {
                Err(r) => Some(r),
                Ok(()) => {
                    let _ = p.manifest.set(Arc::new(*m));
                    None
                }
            }
        };
        if let Some(r) = refused {
            let why = match &r {
                Refusal::Kill(w) | Refusal::Fatal(w) => w.clone(),
            };
            self.kill(p, Level::Unusual, &why);
            return Err(r);
        }
        p.set_state(PState::NeedsInit);
        Ok(())
    }

    fn death_reason(&self, p: &Plugin) -> String {
        lock(&p.death)
            .clone()
            .unwrap_or_else(|| format!("exited {}", p.state().exit_desc()))
    }

    /// The `configuration` object of `init`, keys in lightningd's order.
    fn configuration(&self, startup: bool) -> Value {
        let cfg = self.cfg();
        let mut c = Map::new();
        c.insert(
            "lightning-dir".into(),
            json!(cfg.network_dir.to_string_lossy()),
        );
        c.insert("rpc-file".into(), json!(cfg.rpc_file));
        c.insert("startup".into(), json!(startup));
        c.insert("network".into(), json!(cfg.network));
        if let Some(proxy) = &cfg.proxy {
            c.insert("proxy".into(), proxy.clone());
            c.insert("torv3-enabled".into(), json!(true));
            c.insert("always_use_proxy".into(), json!(cfg.always_use_proxy));
        }
        c.insert("feature_set".into(), self.features().to_json_all());
        Value::Object(c)
    }

    /// `init.options`: effective value, else manifest default, else omitted (§3.1).
    fn init_options(&self, p: &Plugin) -> Value {
        let mut out = Map::new();
        let Some(m) = p.manifest() else {
            return Value::Object(out);
        };
        let values = lock(&self.inner.state).values.clone();
        for o in &m.options {
            let given: Vec<&OptValue> = values
                .get(&o.name)
                .map(|v| v.iter().collect())
                .unwrap_or_default();
            let parse = |t: Option<&str>| parse_value(o.typ, t).ok();
            if o.multi {
                let vals: Vec<Value> = if given.is_empty() {
                    o.default.iter().filter_map(|d| parse(Some(d))).collect()
                } else {
                    given
                        .iter()
                        .filter_map(|v| parse(v.text.as_deref()))
                        .collect()
                };
                if !vals.is_empty() {
                    out.insert(o.name.clone(), Value::Array(vals));
                }
            } else if o.typ == OptType::Flag {
                if !given.is_empty() {
                    out.insert(o.name.clone(), Value::Bool(true));
                }
            } else {
                let v = match given.last() {
                    Some(v) => parse(v.text.as_deref()),
                    None => o.default.as_deref().and_then(|d| parse(Some(d))),
                };
                if let Some(v) = v {
                    out.insert(o.name.clone(), v);
                }
            }
        }
        Value::Object(out)
    }

    /// Sends init and waits. Err is the kill reason.
    async fn init(&self, p: &Arc<Plugin>, cause: Option<&str>) -> Result<(), String> {
        let params = json!({"options": self.init_options(p),
                            "configuration": self.configuration(p.startup)})
        .to_string();
        p.set_state(PState::AwaitingInit);
        let reply = tokio::time::timeout(
            self.cfg().startup_timeout,
            self.request(p, "init", &params, cause, None),
        )
        .await;
        match reply {
            Err(_) => {
                self.kill(p, Level::Unusual, INIT_TIMEOUT);
                return Err(INIT_TIMEOUT.to_string());
            }
            Ok(Reply::Terminated) => return Err(self.death_reason(p)),
            Ok(Reply::Result(r)) => {
                let v: Value = serde_json::from_str(r.get()).unwrap_or(Value::Null);
                if let Some(d) = v.get("disable") {
                    p.important.store(false, Ordering::SeqCst);
                    let why = format!("disabled itself at init: {}", value_text(d));
                    self.kill(p, Level::Debug, &why);
                    return Err(why);
                }
            }
            // Anything else (even an error reply) counts as success, like lightningd.
            Ok(_) => {}
        }
        p.set_state(PState::InitComplete);
        self.refresh_custommsgs();
        self.notify("plugin_started", self.plugin_info(p));
        self.emit(crate::host::HostEvent::PluginsChanged);
        Ok(())
    }

    /// Start-up: spawns every plugin, sends all getmanifests in parallel and waits until
    /// each answered or died; then refuses unorderable hook registrations.
    pub async fn load_startup(&self, specs: Vec<PluginSpec>) -> Result<(), StartupError> {
        let mut started = Vec::new();
        for s in specs {
            let path = absolute(&s.path);
            if self.is_disabled(&path) {
                log(
                    Level::Info,
                    HOST,
                    &format!("{path}: disabled via disable-plugin"),
                );
                continue;
            }
            if self.find_live(&path).is_some() {
                continue;
            }
            match self.spawn(&path, s.important, true) {
                Ok(Some(p)) => started.push(p),
                Ok(None) => continue,
                Err(why) => {
                    log(Level::Broken, HOST, &format!("{path}: {why}"));
                    if s.important {
                        return Err(StartupError::ImportantFailed { path, reason: why });
                    }
                }
            }
        }
        let results = join_all(started.iter().map(|p| self.manifest(p, None, true))).await;
        let mut failure = None;
        for (p, r) in started.iter().zip(results) {
            match r {
                Err(Refusal::Fatal(msg)) => {
                    failure.get_or_insert(StartupError::Fatal(msg));
                }
                Err(Refusal::Kill(why)) if p.important.load(Ordering::SeqCst) => {
                    failure.get_or_insert(StartupError::ImportantFailed {
                        path: p.path.clone(),
                        reason: why,
                    });
                }
                _ => {}
            }
        }
        for p in self.unorderable() {
            self.kill(&p, Level::Unusual, "Cannot meet required hook dependencies");
            if p.important.load(Ordering::SeqCst) {
                failure.get_or_insert(StartupError::ImportantFailed {
                    path: p.path.clone(),
                    reason: "Cannot meet required hook dependencies".into(),
                });
            }
        }
        self.log_unknown_subscriptions();
        match failure {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }

    /// Sends `init` to every plugin waiting for it and waits for all. Returns the plugins
    /// that failed, with why ([`INIT_TIMEOUT`] for one that never answered: at start-up
    /// the caller treats that as [`STARTUP_HANG_FATAL`]).
    pub async fn init_all(&self) -> Vec<(String, String)> {
        let waiting: Vec<Arc<Plugin>> = self
            .registered()
            .into_iter()
            .filter(|p| p.state() == PState::NeedsInit)
            .collect();
        let res = join_all(waiting.iter().map(|p| self.init(p, None))).await;
        waiting
            .iter()
            .zip(res)
            .filter_map(|(p, r)| r.err().map(|e| (p.path.clone(), e)))
            .collect()
    }

    /// Runs a `plugin` subcommand. `cause` is the command's id (for request ids).
    pub async fn command(
        &self,
        cmd: PluginCommand,
        cause: Option<&str>,
    ) -> Result<Value, RpcError> {
        match cmd {
            PluginCommand::List => Ok(json!({"command": "list", "plugins": self.list()})),
            PluginCommand::Start { path, options } => {
                self.start_one(&path, options, cause).await?;
                Ok(json!({"command": "start", "plugins": self.list()}))
            }
            PluginCommand::Stop(name) => self.stop(&name).await,
            PluginCommand::StartDir(dir) => {
                // Missing: plugin_control.c's access() check; otherwise the opendir
                // error of add_plugin_dir.
                let found = scan_dir(&dir).map_err(|e| {
                    RpcError::invalid_params(if dir.exists() {
                        format!(
                            "Failed to open plugin-dir {}: {}",
                            dir.display(),
                            strerror(&e)
                        )
                    } else {
                        format!("Could not open {}", dir.display())
                    })
                })?;
                self.start_many(found, cause).await?;
                Ok(json!({"command": "startdir", "plugins": self.list()}))
            }
            PluginCommand::Rescan => {
                // Like lightningd's `plugins_add_default_dir`: the default dir and its
                // immediate subdirectories, not the `--plugin-dir`s.
                let found = self
                    .cfg()
                    .default_plugin_dir
                    .map(|d| scan_default_dir(&d))
                    .unwrap_or_default();
                self.start_many(found, cause).await?;
                Ok(json!({"command": "rescan", "plugins": self.list()}))
            }
        }
    }

    /// Starts every not-yet-running, not-disabled plugin in `paths` in parallel.
    async fn start_many(&self, paths: Vec<PathBuf>, cause: Option<&str>) -> Result<(), RpcError> {
        let mut todo = Vec::new();
        for path in paths {
            let abs = absolute(&path);
            if self.is_disabled(&abs) {
                log(
                    Level::Info,
                    HOST,
                    &format!("{abs}: disabled via disable-plugin"),
                );
                continue;
            }
            if self.find_live(&abs).is_none() || self.changed_live(&abs).is_some() {
                todo.push(abs);
            }
        }
        let res = join_all(todo.iter().map(|p| self.start_one(p, vec![], cause))).await;
        res.into_iter().find(|r| r.is_err()).unwrap_or(Ok(()))
    }

    /// The executable `plugin start` means: `given`, else `<default dir>/given`.
    fn start_path(&self, given: &str) -> Result<PathBuf, RpcError> {
        let path = PathBuf::from(given);
        let Err(e) = check_executable(&path) else {
            return Ok(path);
        };
        match self.cfg().default_plugin_dir.map(|d| d.join(given)) {
            Some(a) if check_executable(&a).is_ok() => Ok(a),
            _ => Err(RpcError::invalid_params(format!(
                "{given} is not executable: {}",
                strerror(&e)
            ))),
        }
    }

    /// `check plugin ...`: what the subcommand would refuse before starting anything
    /// (plugin_control.c: `start` needs an executable, `startdir` a directory).
    pub fn check_command(&self, cmd: &PluginCommand) -> Result<(), RpcError> {
        match cmd {
            PluginCommand::Start { path, .. } => self.start_path(path).map(|_| ()),
            PluginCommand::StartDir(dir) if !dir.exists() => Err(RpcError::invalid_params(
                format!("Could not open {}", dir.display()),
            )),
            _ => Ok(()),
        }
    }

    /// `plugin start`: spawn, manifest, options, init — all or nothing.
    pub(crate) async fn start_one(
        &self,
        given: &str,
        options: Vec<(String, Option<String>)>,
        cause: Option<&str>,
    ) -> Result<(), RpcError> {
        let path = self.start_path(given)?;
        let abs = absolute(&path);
        if let Some(old) = self.changed_live(&abs) {
            self.kill(&old, Level::Info, "Plugin changed, needs restart.");
        }
        let Some(p) = self
            .spawn(&abs, false, false)
            .map_err(|why| plugin_err(&abs, &why))?
        else {
            return Err(RpcError::invalid_params(format!(
                "{abs}: already registered"
            )));
        };
        if let Err(r) = self.manifest(&p, cause, false).await {
            let why = match r {
                Refusal::Kill(w) | Refusal::Fatal(w) => w,
            };
            return Err(plugin_err(&abs, &why));
        }
        if !p.dynamic() {
            self.kill(&p, Level::Unusual, "Not a dynamic plugin");
            return Err(plugin_err(&abs, "Not a dynamic plugin"));
        }
        if let Some(p2) = self.unorderable().into_iter().find(|x| Arc::ptr_eq(x, &p)) {
            let why = "Cannot meet required hook dependencies";
            self.kill(&p2, Level::Unusual, why);
            return Err(plugin_err(&abs, why));
        }
        // Options given to `plugin start` become `pluginstart` values.
        let specs = p.manifest().map(|m| m.options.clone()).unwrap_or_default();
        for (name, val) in options {
            let Some(spec) = specs.iter().find(|o| o.name == name) else {
                let why = format!("unknown parameter {name}");
                self.kill(&p, Level::Unusual, &why);
                return Err(plugin_err(&abs, &why));
            };
            if let Err(e) = parse_value(spec.typ, val.as_deref()) {
                let why = format!("--{name}: {e}");
                self.kill(&p, Level::Unusual, &why);
                return Err(plugin_err(&abs, &why));
            }
            let mut st = lock(&self.inner.state);
            let entry = st.values.entry(name).or_default();
            if !spec.multi {
                entry.retain(|v| v.source != "pluginstart");
            }
            entry.push(OptValue {
                text: val,
                source: "pluginstart".into(),
            });
        }
        self.init(&p, cause)
            .await
            .map_err(|why| plugin_err(&abs, &why))?;
        if !p
            .manifest()
            .map(|m| m.featurebits.is_empty())
            .unwrap_or(true)
        {
            self.emit(crate::host::HostEvent::FeaturesChanged(self.features()));
        }
        Ok(())
    }

    /// `plugin stop`.
    async fn stop(&self, name: &str) -> Result<Value, RpcError> {
        let p = self
            .plugins()
            .into_iter()
            .find(|p| p.path == name || p.name == name || paths_match(name, &p.path))
            .ok_or_else(|| RpcError::invalid_params(format!("Could not find plugin {name}")))?;
        if !p.dynamic() {
            return Err(RpcError::invalid_params(format!(
                "{name} cannot be managed when lightningd is up"
            )));
        }
        // Stopping on purpose never takes the daemon down (since v24.11).
        p.important.store(false, Ordering::SeqCst);
        self.stop_plugin(&p, "stopped by plugin stop").await;
        Ok(json!({"command": "stop",
                  "result": format!("Successfully stopped {}.", p.name)}))
    }

    /// Sends `shutdown` to a subscribed plugin and waits for it to exit (up to the grace
    /// period), else kills it at once.
    async fn stop_plugin(&self, p: &Arc<Plugin>, why: &str) {
        if p.state() == PState::InitComplete && p.subscribed("shutdown") {
            let frame = jsonrpc::notification_frame("shutdown", &json!({"shutdown": {}}));
            let frame = frame[..frame.len().saturating_sub(2)].to_vec();
            let _ = p.out.try_send(frame);
            let mut exited = p.exited.clone();
            let grace = self.cfg().shutdown_grace;
            if tokio::time::timeout(grace, exited.wait_for(|e| *e))
                .await
                .is_err()
            {
                log(
                    Level::Info,
                    &p.source(),
                    "Timeout on shutdown: killing anyway",
                );
            }
        }
        self.kill(p, Level::Info, why);
    }

    /// Daemon shutdown: `shutdown` to subscribers, everyone else killed, survivors killed
    /// after the grace period (§6.4).
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        let plugins = self.plugins();
        let frame = jsonrpc::notification_frame("shutdown", &json!({"shutdown": {}}));
        let frame = frame[..frame.len().saturating_sub(2)].to_vec();
        let mut waiting = Vec::new();
        for p in plugins.iter().cloned() {
            p.important.store(false, Ordering::SeqCst);
            if p.state() == PState::InitComplete
                && p.subscribed("shutdown")
                && p.out.try_send(frame.clone()).is_ok()
            {
                waiting.push(p);
            } else {
                self.kill(&p, Level::Debug, "shutting down");
            }
        }
        let grace = self.cfg().shutdown_grace;
        let waits = waiting.iter().map(|p| {
            let mut ex = p.exited.clone();
            async move {
                let _ = tokio::time::timeout(grace, ex.wait_for(|e| *e)).await;
            }
        });
        join_all(waits).await;
        for p in waiting {
            if !*p.exited.borrow() {
                log(
                    Level::Debug,
                    HOST,
                    &format!("{}: failed to self-terminate in time, killing.", p.name),
                );
            }
            self.kill(&p, Level::Debug, "shutting down");
        }
        // SIGKILL is not instant: reap every process before the daemon exits, so none
        // outlives it (bounded, a process stuck in the kernel must not hold us).
        let reaped = plugins.iter().map(|p| {
            let mut ex = p.exited.clone();
            async move {
                let _ = tokio::time::timeout(KILL_REAP_LIMIT, ex.wait_for(|e| *e)).await;
            }
        });
        join_all(reaped).await;
    }

    /// Waits until a plugin (by path) has exited; for tests and the daemon's shutdown.
    pub async fn wait_exited(&self, path: &str, limit: Duration) -> bool {
        let Some(p) = self.plugins().into_iter().find(|p| p.path == path) else {
            return true;
        };
        let mut ex = p.exited.clone();
        let ok = tokio::time::timeout(limit, ex.wait_for(|e| *e))
            .await
            .is_ok();
        ok
    }
}

//! What the `plugin` command does: start (one path, a directory, a rescan of the default
//! directory), stop, list (§8).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::future::join_all;
use jsonrpc::{codes, strerror, RpcError};
use serde_json::{json, Value};

use super::command::PluginCommand;
use super::scan::{absolute, scan_default_dir, scan_dir};
use crate::host::{lock, OptValue, Plugin, PluginHost};
use crate::log::{Level, HOST};
use crate::options::parse_value;
use crate::process::{check_executable, checksum_off_runtime};
use crate::registry::{paths_match, Refusal};

fn plugin_err(path: &str, why: &str) -> RpcError {
    RpcError::new(codes::PLUGIN_ERROR, format!("{path}: {why}"))
}

impl PluginHost {
    pub(super) fn is_disabled(&self, path: &str) -> bool {
        self.cfg().disabled.iter().any(|d| paths_match(d, path))
    }

    pub(super) fn find_live(&self, path: &str) -> Option<Arc<Plugin>> {
        self.plugins().into_iter().find(|p| p.path == path)
    }

    /// The running plugin at `path` whose file changed since it was spawned, if it is not
    /// important: starting it again replaces it (lightningd's `plugin_register`).
    async fn changed_live(&self, path: &str) -> Option<Arc<Plugin>> {
        let p = self
            .find_live(path)
            .filter(|p| !p.important.load(Ordering::SeqCst))?;
        (checksum_off_runtime(path).await != p.checksum).then_some(p)
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
                self.log(
                    Level::Info,
                    HOST,
                    &format!("{abs}: disabled via disable-plugin"),
                );
                continue;
            }
            if self.find_live(&abs).is_none() || self.changed_live(&abs).await.is_some() {
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
        if let Some(old) = self.changed_live(&abs).await {
            self.kill(&old, Level::Info, "Plugin changed, needs restart.");
        }
        let Some(p) = self
            .spawn(&abs, false, false)
            .await
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
            // The parser's own words, no `--name:` (plugin.c:1571-1614 reports them so).
            if let Err(why) = parse_value(spec.typ, val.as_deref()) {
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
}

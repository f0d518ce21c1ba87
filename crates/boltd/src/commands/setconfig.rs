//! `setconfig config [val] [transient]`: changes a dynamic option at run time. Plugin
//! options are first offered to the plugin (§4.5); the value is persisted to
//! `<lightning-dir>/<network>/config.setconfig` unless `transient`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use jsonrpc::{params::bad_token, Param, RpcError};
use plugins::{PluginHost, SetVal};
use serde_json::{json, Value};

use crate::config::Source;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

pub struct Setconfig {
    pub host: PluginHost,
    pub file: Arc<SetconfigFile>,
}

const PARAMS: &[Param] = &[
    Param::req("config"),
    Param::opt("val"),
    Param::opt("transient"),
];

/// The parameters, bound once per call (in CLN's order: `config`, then `transient`).
struct Args {
    name: String,
    val: Option<Value>,
    transient: bool,
}

impl Args {
    fn parse(ctx: &Context) -> Result<Args, RpcError> {
        let b = ctx.bind(PARAMS)?;
        let name = b.str("config")?.unwrap_or_default().to_string();
        let transient = b.bool("transient")?.unwrap_or(false);
        Ok(Args {
            name,
            val: b.get("val").cloned(),
            transient,
        })
    }

    /// `val` of a single-value option, as option text.
    fn one(&self) -> Option<String> {
        self.val.as_ref().map(text)
    }

    /// `val` of a multi option: the complete new set.
    fn many(&self) -> Result<Vec<String>, RpcError> {
        multi_vals(self.val.as_ref(), &self.name)
    }
}

/// A JSON value as option text (strings without quotes).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `config.setconfig`, rewritten whole (temp file, fsync, rename) under one lock, so
/// concurrent `setconfig`s neither interleave nor compute the same line number, and a
/// crash leaves either the old file or the new one.
#[derive(Default)]
pub struct SetconfigFile {
    lock: std::sync::Mutex<()>,
}

impl SetconfigFile {
    /// Appends one `name[=value]` line per entry, first commenting out earlier lines of
    /// `name` if `replace`. Returns each new line's `<file>:<line>` source.
    fn write(
        &self,
        dir: &Path,
        name: &str,
        replace: bool,
        vals: &[Option<String>],
    ) -> Result<Vec<String>, RpcError> {
        let path = dir.join("config.setconfig");
        let fail = |e: std::io::Error| RpcError::daemon(format!("writing {}: {e}", path.display()));
        let _held = self
            .lock
            .lock()
            .map_err(|_| RpcError::daemon("setconfig lock poisoned"))?;
        let existing = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(fail(e)),
        };
        let is_ours = |l: &str| {
            let l = l.trim();
            l == name || l.split_once('=').map(|(k, _)| k.trim()) == Some(name)
        };
        if vals.is_empty() && !(replace && existing.lines().any(is_ours)) {
            return Ok(vec![]);
        }
        let mut text = String::with_capacity(existing.len() + 64);
        let mut line = 0;
        for l in existing.lines() {
            if replace && is_ours(l) {
                text.push_str("# setconfig commented out: ");
            }
            text.push_str(l);
            text.push('\n');
            line += 1;
        }
        let mut sources = Vec::with_capacity(vals.len());
        for v in vals {
            match v {
                Some(v) => text.push_str(&format!("{name}={v}\n")),
                None => text.push_str(&format!("{name}\n")),
            }
            line += 1;
            sources.push(format!("{}:{line}", path.display()));
        }
        let tmp = dir.join("config.setconfig.tmp");
        let mut f = std::fs::File::create(&tmp).map_err(fail)?;
        f.write_all(text.as_bytes()).map_err(fail)?;
        f.sync_all().map_err(fail)?;
        std::fs::rename(&tmp, &path).map_err(fail)?;
        // The rename itself is durable only once the directory is.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(sources)
    }

    /// [`write`](Self::write) on the blocking pool: file work stays off the runtime.
    async fn write_off_runtime(
        self: &Arc<Self>,
        dir: &Path,
        name: &str,
        replace: bool,
        vals: Vec<Option<String>>,
    ) -> Result<Vec<String>, RpcError> {
        let (me, dir, name) = (self.clone(), dir.to_path_buf(), name.to_string());
        tokio::task::spawn_blocking(move || me.write(&dir, &name, replace, &vals))
            .await
            .map_err(|e| RpcError::daemon(format!("writing config.setconfig: {e}")))?
    }

    /// Appends `name=value`; returns the `<file>:<line>` source.
    async fn persist(
        self: &Arc<Self>,
        dir: &Path,
        name: &str,
        val: Option<&str>,
    ) -> Result<String, RpcError> {
        let mut s = self
            .write_off_runtime(dir, name, false, vec![val.map(str::to_string)])
            .await?;
        s.pop()
            .ok_or_else(|| RpcError::daemon("writing config.setconfig: nothing written"))
    }

    /// Persists the new set of a multi option: earlier `name` lines are commented out,
    /// one line per value is appended. Returns each value's `<file>:<line>`.
    async fn persist_multi(
        self: &Arc<Self>,
        dir: &Path,
        name: &str,
        vals: &[String],
    ) -> Result<Vec<String>, RpcError> {
        let vals = vals.iter().cloned().map(Some).collect();
        self.write_off_runtime(dir, name, true, vals).await
    }
}

/// `val` of a multi option: an array whose entries are the complete new set of values
/// (no `val` clears them), as in configs.c.
fn multi_vals(val: Option<&Value>, name: &str) -> Result<Vec<String>, RpcError> {
    match val {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(a)) => Ok(a.iter().map(text).collect()),
        Some(_) => Err(RpcError::invalid_params(format!(
            "{name} is a multi option: val must be an array"
        ))),
    }
}

/// The option `config` names, if it exists and is dynamic (CLN's param errors otherwise).
fn dynamic_spec(ctx: &Context, name: &str) -> Result<crate::config::OptSpec, RpcError> {
    let spec = ctx
        .node
        .config
        .read()
        .ok()
        .and_then(|c| c.option_spec(name));
    let Some(spec) = spec else {
        return Err(bad_token("config", "Unknown config option", &json!(name)));
    };
    if !spec.dynamic {
        return Err(bad_token(
            "config",
            "Not a dynamic config option",
            &json!(name),
        ));
    }
    Ok(spec)
}

impl Command for Setconfig {
    fn name(&self) -> &'static str {
        "setconfig"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    /// `check setconfig` fails exactly where `setconfig` would, before asking anyone.
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        let a = Args::parse(ctx)?;
        let spec = dynamic_spec(ctx, &a.name)?;
        let vals = if spec.multi {
            a.many()?.into_iter().map(Some).collect()
        } else {
            vec![a.one()]
        };
        for v in vals {
            spec.check_value(v.as_deref())
                .map_err(|e| RpcError::invalid_params(format!("val: {e}")))?;
        }
        Ok(())
    }
    /// A plugin option's plugin has the last word if it declared `cancheck` (§4.5).
    fn check_async(&self, ctx: Context) -> Option<BoxFut<CmdResult>> {
        let host = self.host.clone();
        Some(Box::pin(async move {
            let a = Args::parse(&ctx)?;
            let cause = jsonrpc::id_prefix(&ctx.request.id);
            let multi = host.option_spec(&a.name).map(|o| o.multi).unwrap_or(false);
            let val = if multi {
                SetVal::Many(a.many()?)
            } else {
                SetVal::One(a.one())
            };
            let checked = host.check_setconfig(&a.name, val, Some(&cause)).await;
            match checked {
                Some(r) => r.map(Reply::Result),
                None => Ok(Reply::Result(json!({"command_to_check": "setconfig"}))),
            }
        }))
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let host = self.host.clone();
        let file = self.file.clone();
        Box::pin(async move {
            let a = Args::parse(&ctx)?;
            let (name, val, transient) = (a.name.clone(), a.one(), a.transient);
            let spec = dynamic_spec(&ctx, &name)?;
            if spec.multi && spec.plugin.is_some() {
                return set_plugin_multi(&ctx, &host, &file, &spec, &a).await;
            }
            let source = if transient {
                "setconfig transient".to_string()
            } else {
                // Validate first so a bad value is never persisted.
                spec.check_value(val.as_deref())
                    .map_err(|e| RpcError::invalid_params(format!("val: {e}")))?;
                String::new()
            };
            let cause = jsonrpc::id_prefix(&ctx.request.id);
            if spec.plugin.is_some() {
                // Ask the plugin before persisting anything.
                let probe = self_source(&source);
                let r = host
                    .setconfig(&name, SetVal::One(val.clone()), &probe, Some(&cause))
                    .await
                    .unwrap_or_else(|| Err(RpcError::plugin_terminated()))?;
                let source = if transient {
                    source
                } else {
                    file.persist(&ctx.node.settings.network_dir, &name, val.as_deref())
                        .await?
                };
                if !transient {
                    // Record the persisted source.
                    let _ = host.set_option_value(&name, val.clone(), &source);
                }
                let mut r = r;
                if let Some(c) = r.get_mut("config").and_then(Value::as_object_mut) {
                    c.insert("source".into(), json!(source));
                }
                return Ok(Reply::Result(r));
            }
            spec.check_value(val.as_deref())
                .map_err(|e| RpcError::invalid_params(format!("val: {e}")))?;
            let source = if transient {
                source
            } else {
                file.persist(&ctx.node.settings.network_dir, &name, val.as_deref())
                    .await?
            };
            let mut config = ctx
                .node
                .config
                .write()
                .map_err(|_| RpcError::daemon("config lock poisoned"))?;
            config.set(&name, val, Source::Other(source));
            let mut out = serde_json::Map::new();
            out.insert("config".into(), json!(name));
            if let Some(Value::Object(e)) = config.listconfigs_entry(&name) {
                out.extend(e);
            }
            Ok(Reply::Result(json!({ "config": out })))
        })
    }
}

/// `setconfig` of a multi plugin option: validated, offered to the plugin, persisted,
/// then the whole set replaced (§4.5).
async fn set_plugin_multi(
    ctx: &Context,
    host: &PluginHost,
    file: &Arc<SetconfigFile>,
    spec: &crate::config::OptSpec,
    a: &Args,
) -> CmdResult {
    let (name, transient) = (a.name.as_str(), a.transient);
    let vals = a.many()?;
    for v in &vals {
        spec.check_value(Some(v))
            .map_err(|e| RpcError::invalid_params(format!("val: {e}")))?;
    }
    let cause = jsonrpc::id_prefix(&ctx.request.id);
    let probe = if transient {
        "setconfig transient"
    } else {
        "setconfig"
    };
    host.setconfig(name, SetVal::Many(vals.clone()), probe, Some(&cause))
        .await
        .unwrap_or_else(|| Err(RpcError::plugin_terminated()))?;
    if !transient {
        let sources = file
            .persist_multi(&ctx.node.settings.network_dir, name, &vals)
            .await?;
        let values = vals
            .into_iter()
            .zip(sources)
            .map(|(v, source)| plugins::OptValue {
                text: Some(v),
                source,
            })
            .collect();
        host.replace_option_values(name, values);
    }
    Ok(Reply::Result(
        host.setconfig_result(name)
            .unwrap_or_else(|| json!({"config": {"config": name}})),
    ))
}

fn self_source(s: &str) -> String {
    if s.is_empty() {
        "setconfig".to_string()
    } else {
        s.to_string()
    }
}

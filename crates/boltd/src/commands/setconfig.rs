//! `setconfig config [val] [transient]`: changes a dynamic option at run time. Plugin
//! options are first offered to the plugin (§4.5); the value is persisted to
//! `<lightning-dir>/<network>/config.setconfig` unless `transient`.

use std::io::Write;

use jsonrpc::{params::bad_token, Param, RpcError};
use plugins::{PluginHost, SetVal};
use serde_json::{json, Value};

use crate::config::Source;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

pub struct Setconfig {
    pub host: PluginHost,
}

const PARAMS: &[Param] = &[
    Param::req("config"),
    Param::opt("val"),
    Param::opt("transient"),
];

/// A JSON value as option text (strings without quotes).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Appends `name=value` to config.setconfig; returns the `<file>:<line>` source.
fn persist(dir: &std::path::Path, name: &str, val: Option<&str>) -> Result<String, RpcError> {
    let path = dir.join("config.setconfig");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let line = existing.lines().count() + 1;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| RpcError::daemon(format!("writing {}: {e}", path.display())))?;
    let entry = match val {
        Some(v) => format!("{name}={v}\n"),
        None => format!("{name}\n"),
    };
    f.write_all(entry.as_bytes())
        .map_err(|e| RpcError::daemon(format!("writing {}: {e}", path.display())))?;
    Ok(format!("{}:{line}", path.display()))
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

/// Persists the new set of a multi option: earlier `name=` lines of config.setconfig are
/// commented out, one line per value is appended. Returns each value's `<file>:<line>`.
fn persist_multi(
    dir: &std::path::Path,
    name: &str,
    vals: &[String],
) -> Result<Vec<String>, RpcError> {
    let path = dir.join("config.setconfig");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let is_ours = |l: &str| {
        let l = l.trim();
        l == name || l.split_once('=').map(|(k, _)| k.trim()) == Some(name)
    };
    if existing.lines().any(is_ours) {
        let mut kept = String::new();
        for l in existing.lines() {
            if is_ours(l) {
                kept.push_str("# setconfig commented out: ");
            }
            kept.push_str(l);
            kept.push('\n');
        }
        std::fs::write(&path, kept)
            .map_err(|e| RpcError::daemon(format!("writing {}: {e}", path.display())))?;
    }
    vals.iter().map(|v| persist(dir, name, Some(v))).collect()
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
        let b = ctx.bind(PARAMS)?;
        let name = b.str("config")?.unwrap_or_default().to_string();
        b.bool("transient")?;
        let spec = dynamic_spec(ctx, &name)?;
        let vals = if spec.multi {
            multi_vals(b.get("val"), &name)?
                .into_iter()
                .map(Some)
                .collect()
        } else {
            vec![b.get("val").map(text)]
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
            let b = ctx.bind(PARAMS)?;
            let name = b.str("config")?.unwrap_or_default().to_string();
            let cause = jsonrpc::id_prefix(&ctx.request.id);
            let multi = host.option_spec(&name).map(|o| o.multi).unwrap_or(false);
            let val = if multi {
                SetVal::Many(multi_vals(b.get("val"), &name)?)
            } else {
                SetVal::One(b.get("val").map(text))
            };
            let checked = host.check_setconfig(&name, val, Some(&cause)).await;
            match checked {
                Some(r) => r.map(Reply::Result),
                None => Ok(Reply::Result(json!({"command_to_check": "setconfig"}))),
            }
        }))
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let host = self.host.clone();
        Box::pin(async move {
            let b = ctx.bind(PARAMS)?;
            let name = b.str("config")?.unwrap_or_default().to_string();
            let val = b.get("val").map(text);
            let transient = b.bool("transient")?.unwrap_or(false);
            let spec = dynamic_spec(&ctx, &name)?;
            if spec.multi && spec.plugin.is_some() {
                return set_plugin_multi(&ctx, &host, &spec, &name, transient).await;
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
                    persist(&ctx.node.settings.network_dir, &name, val.as_deref())?
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
                persist(&ctx.node.settings.network_dir, &name, val.as_deref())?
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
    spec: &crate::config::OptSpec,
    name: &str,
    transient: bool,
) -> CmdResult {
    let b = ctx.bind(PARAMS)?;
    let vals = multi_vals(b.get("val"), name)?;
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
        let sources = persist_multi(&ctx.node.settings.network_dir, name, &vals)?;
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

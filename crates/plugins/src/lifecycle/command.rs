//! The `plugin` command's params (array or object) bound to a [`PluginCommand`], with
//! Core Lightning's error texts.

use std::path::PathBuf;

use jsonrpc::RpcError;
use serde_json::{Map, Value};

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

/// A config value as option text: strings without quotes, other JSON raw.
pub(super) fn value_text(v: &Value) -> String {
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

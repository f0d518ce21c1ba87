//! Plugin option values: set from the command line and config files by the daemon, from
//! `plugin start`, and by `setconfig` (which asks the plugin first, §4.5); shown in
//! `listconfigs` (§4.4).

use jsonrpc::{codes, RpcError};
use serde_json::{json, Map, Value};

use crate::host::{lock, OptValue, PluginHost, Reply};
use crate::options::{parse_value, OptType, OptionSpec};
use crate::registry::{shown, typed_key};

/// Text for a deprecated option used while deprecated APIs are off.
pub const DEPRECATED_OPTION: &str = "deprecated option (will be removed!)";

impl PluginHost {
    /// Records a value for a plugin option (command line / config file). Err is the
    /// option parser's message (`'x' is not a number`, ...). Unknown names are Err too.
    pub fn set_option_value(
        &self,
        name: &str,
        text: Option<String>,
        source: &str,
    ) -> Result<(), String> {
        let Some(spec) = self.option_spec(name) else {
            return Err("unknown option".to_string());
        };
        if spec.deprecated && !self.cfg().allow_deprecated_apis {
            return Err(DEPRECATED_OPTION.to_string());
        }
        parse_value(spec.typ, text.as_deref())?;
        let mut st = lock(&self.inner.state);
        let entry = st.values.entry(name.to_string()).or_default();
        if !spec.multi {
            entry.clear();
        }
        entry.push(OptValue {
            text,
            source: source.to_string(),
        });
        Ok(())
    }

    /// `listconfigs` entries for plugin options, in registration order.
    pub fn listconfigs(&self) -> Vec<(String, Value)> {
        let allow = self.cfg().allow_deprecated_apis;
        let mut out = Vec::new();
        for o in self.option_specs() {
            if o.deprecated && !allow {
                continue;
            }
            if let Some(v) = self.config_entry(&o) {
                out.push((o.name.clone(), v));
            }
        }
        out
    }

    /// The `listconfigs` entry of one plugin option (None: no such option, hidden as
    /// deprecated, or neither set nor defaulted).
    pub fn listconfigs_entry(&self, name: &str) -> Option<Value> {
        let o = self.visible_option(name)?;
        self.config_entry(&o)
    }

    /// A plugin option as clients may see it: deprecated ones are hidden while deprecated
    /// APIs are off.
    pub fn visible_option(&self, name: &str) -> Option<OptionSpec> {
        let o = self.option_spec(name)?;
        (!o.deprecated || self.cfg().allow_deprecated_apis).then_some(o)
    }

    fn config_entry(&self, o: &OptionSpec) -> Option<Value> {
        let values = lock(&self.inner.state)
            .values
            .get(&o.name)
            .cloned()
            .unwrap_or_default();
        let typed = |t: Option<&str>| parse_value(o.typ, t).ok().map(|v| shown(o, v));
        let mut e = Map::new();
        if o.multi {
            if values.is_empty() {
                return None;
            }
            let vals: Vec<Value> = values
                .iter()
                .filter_map(|v| typed(v.text.as_deref()))
                .collect();
            let sources: Vec<Value> = values.iter().map(|v| json!(v.source)).collect();
            e.insert(typed_key(o, true).to_string(), Value::Array(vals));
            e.insert("sources".into(), Value::Array(sources));
        } else if o.typ == OptType::Flag {
            match values.last() {
                Some(v) => {
                    e.insert("set".into(), json!(true));
                    e.insert("source".into(), json!(v.source));
                }
                None => {
                    e.insert("set".into(), json!(false));
                    e.insert("source".into(), json!("default"));
                }
            }
        } else {
            let (v, source) = match values.last() {
                Some(v) => (typed(v.text.as_deref())?, v.source.clone()),
                None => (typed(o.default.as_deref())?, "default".to_string()),
            };
            e.insert(typed_key(o, false).to_string(), v);
            e.insert("source".into(), json!(source));
        }
        e.insert("plugin".into(), json!(o.plugin));
        if o.dynamic {
            e.insert("dynamic".into(), json!(true));
        }
        Some(Value::Object(e))
    }

    /// `setconfig` for a plugin option: the plugin is asked first; on success the value
    /// (or, for a multi option, the complete new set, empty clearing it) is stored with
    /// `source` and the listconfigs-style entry returned as `{"config":{"config":name,...}}`.
    /// Returns None if `name` is not a plugin option.
    pub async fn setconfig(
        &self,
        name: &str,
        val: SetVal,
        source: &str,
        cause: Option<&str>,
    ) -> Option<Result<Value, RpcError>> {
        let spec = self.option_spec(name)?;
        Some(self.setconfig_vals(spec, val, source, cause).await)
    }

    /// Replaces every stored value of a plugin option (`setconfig` of a multi option,
    /// once the values are persisted with their `<file>:<line>` sources).
    pub fn replace_option_values(&self, name: &str, values: Vec<OptValue>) {
        lock(&self.inner.state)
            .values
            .insert(name.to_string(), values);
    }

    /// `{"config":{"config":name, ...listconfigs fields}}` as `setconfig` answers.
    pub fn setconfig_result(&self, name: &str) -> Option<Value> {
        let spec = self.option_spec(name)?;
        let mut out = Map::new();
        out.insert("config".into(), json!(name));
        match self.config_entry(&spec) {
            Some(Value::Object(e)) => out.extend(e),
            _ => {
                out.insert("plugin".into(), json!(spec.plugin));
                if spec.dynamic {
                    out.insert("dynamic".into(), json!(true));
                }
            }
        }
        Some(json!({ "config": out }))
    }

    /// `check setconfig` for a plugin option (§4.5): a plugin with `cancheck` is sent
    /// `check` with `command_to_check:"setconfig"`, `config` and `val` (the same params
    /// `setconfig` would get) and its verdict decides; without `cancheck` the check
    /// succeeds without asking. Nothing is stored. None if `name` is not a plugin option.
    pub async fn check_setconfig(
        &self,
        name: &str,
        val: SetVal,
        cause: Option<&str>,
    ) -> Option<Result<Value, RpcError>> {
        let spec = self.option_spec(name)?;
        let done = json!({"command_to_check": "setconfig"});
        let Some(p) = self
            .registered()
            .into_iter()
            .find(|p| p.path == spec.plugin)
        else {
            return Some(Err(RpcError::plugin_terminated()));
        };
        if !p.manifest().map(|m| m.cancheck).unwrap_or(false) {
            return Some(Ok(done));
        }
        let mut params = Map::new();
        params.insert("command_to_check".into(), json!("setconfig"));
        params.extend(setconfig_params(&spec, val));
        let reply = self
            .request(&p, "check", &Value::Object(params).to_string(), cause, None)
            .await;
        Some(setconfig_verdict(&spec.name, reply).map(|()| done))
    }

    async fn setconfig_vals(
        &self,
        spec: OptionSpec,
        val: SetVal,
        source: &str,
        cause: Option<&str>,
    ) -> Result<Value, RpcError> {
        let name = spec.name.clone();
        if !spec.dynamic {
            return Err(RpcError::invalid_params(format!(
                "config: Not a dynamic config option: invalid token '\"{name}\"'"
            )));
        }
        let texts: Vec<Option<String>> = match &val {
            SetVal::One(v) => vec![v.clone()],
            SetVal::Many(vs) => vs.iter().cloned().map(Some).collect(),
        };
        for t in &texts {
            parse_value(spec.typ, t.as_deref())
                .map_err(|e| RpcError::invalid_params(format!("val: {e}")))?;
        }
        let Some(p) = self
            .registered()
            .into_iter()
            .find(|p| p.path == spec.plugin)
        else {
            return Err(RpcError::plugin_terminated());
        };
        let params = setconfig_params(&spec, val);
        let reply = self
            .request(
                &p,
                "setconfig",
                &Value::Object(params).to_string(),
                cause,
                None,
            )
            .await;
        setconfig_verdict(&name, reply)?;
        let values = texts
            .into_iter()
            .map(|text| OptValue {
                text,
                source: source.to_string(),
            })
            .collect();
        self.replace_option_values(&name, values);
        Ok(self
            .setconfig_result(&name)
            .unwrap_or_else(|| json!({"config": {"config": name}})))
    }
}

/// What `setconfig` sets: one value, or the complete new set of a multi option.
#[derive(Debug, Clone, PartialEq)]
pub enum SetVal {
    One(Option<String>),
    Many(Vec<String>),
}

/// `config` and `val` as lightningd sends them: `val` always a string, an array of
/// strings (the whole new set) for multi options, absent for flags (§4.5).
fn setconfig_params(spec: &OptionSpec, val: SetVal) -> Map<String, Value> {
    let mut params = Map::new();
    params.insert("config".into(), json!(spec.name));
    let val = match val {
        SetVal::Many(vs) => json!(vs),
        SetVal::One(v) if spec.multi => json!(v.into_iter().collect::<Vec<_>>()),
        SetVal::One(_) if spec.typ == OptType::Flag => return params,
        SetVal::One(v) => json!(v.unwrap_or_default()),
    };
    params.insert("val".into(), val);
    params
}

/// A plugin's answer to `setconfig` (or to `check` of it): any `result` accepts; an error
/// with code and message is the command's error.
fn setconfig_verdict(name: &str, reply: Reply) -> Result<(), RpcError> {
    let malformed = || {
        RpcError::new(
            codes::LIGHTNINGD,
            format!("Malformed setvalue {name} plugin return"),
        )
    };
    match reply {
        Reply::Result(_) => Ok(()),
        Reply::Terminated => Err(RpcError::plugin_terminated()),
        Reply::Error(e) => {
            let e: Value = serde_json::from_str(e.get()).unwrap_or(Value::Null);
            let code = e.get("code").and_then(Value::as_i64);
            // CLN returns the still-escaped JSON text ([BUG] §12.11); we return the
            // message itself.
            let msg = e.get("message").and_then(Value::as_str);
            match (code, msg) {
                (Some(c), Some(m)) => Err(RpcError::new(c, m)),
                _ => Err(malformed()),
            }
        }
        Reply::Malformed(_) => Err(malformed()),
    }
}

//! The two requests every plugin answers before it is up: `getmanifest` (registered only
//! if it passes every check) and `init` (options and configuration, §3).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::command::value_text;
use super::startup::{INIT_TIMEOUT, STARTUP_HANG_FATAL};
use crate::host::{lock, OptValue, PState, Plugin, PluginHost, Reply};
use crate::log::Level;
use crate::manifest::{self, ManifestReply};
use crate::options::{parse_value, OptType};
use crate::registry::{check_clashes, Refusal};

impl PluginHost {
    /// Sends getmanifest and registers the reply. Err is the kill reason (the plugin is
    /// dead by then) or a start-up fatal.
    pub(super) async fn manifest(
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
    pub(super) async fn init(&self, p: &Arc<Plugin>, cause: Option<&str>) -> Result<(), String> {
        self.send_init(p, cause, false).await
    }

    /// `init` for a plugin or for a Bitcoin backend brought up ahead of the others. A
    /// backend's init is awaited without a time limit, its `disable` is not honoured and
    /// no `plugin_started` is sent for it, as lightningd does (chain reference §1.3).
    pub(crate) async fn send_init(
        &self,
        p: &Arc<Plugin>,
        cause: Option<&str>,
        backend: bool,
    ) -> Result<(), String> {
        let params = json!({"options": self.init_options(p),
                            "configuration": self.configuration(p.startup)})
        .to_string();
        p.set_state(PState::AwaitingInit);
        let request = self.request(p, "init", &params, cause, None);
        let reply = if backend {
            Ok(request.await)
        } else {
            tokio::time::timeout(self.cfg().startup_timeout, request).await
        };
        match reply {
            Err(_) => {
                self.kill(p, Level::Unusual, INIT_TIMEOUT);
                return Err(INIT_TIMEOUT.to_string());
            }
            Ok(Reply::Terminated) => return Err(self.death_reason(p)),
            Ok(Reply::Result(r)) => {
                let v: Value = serde_json::from_str(r.get()).unwrap_or(Value::Null);
                if let Some(d) = v.get("disable").filter(|_| !backend) {
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
        if !backend {
            self.notify("plugin_started", self.plugin_info(p));
        }
        self.emit(crate::host::HostEvent::PluginsChanged);
        Ok(())
    }
}

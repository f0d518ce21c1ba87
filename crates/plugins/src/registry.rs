//! What plugins registered: methods, options, feature bits (checked here against builtins
//! and other plugins, §4.3, §5.1, §2.3) and hook order (§7.3: Kahn's algorithm, ties to
//! the lowest registration index, unorderable registrations refused).
//!
//! The registries are not separate tables: they are read from the manifests of live
//! plugins, so a dead plugin's registrations vanish with it.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::host::{lock, HostConfig, Plugin, PluginHost};
use crate::log::HostLog;
use crate::manifest::Manifest;
use crate::options::OptionSpec;

/// Why a manifest cannot be registered.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Kill the plugin with this reason.
    Kill(String),
    /// At start-up an option clash stops the daemon (CLN `fatal`).
    Fatal(String),
}

/// A method as `help` and the dispatcher need it.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodInfo {
    pub name: String,
    pub usage: String,
    pub deprecated: bool,
    pub plugin_path: String,
}

/// Checks `new` (from plugin at `path`) against builtins and every plugin in `others`.
pub(crate) fn check_clashes(
    cfg: &HostConfig,
    others: &[Arc<Plugin>],
    path: &str,
    new: &Manifest,
    startup: bool,
) -> Result<(), Refusal> {
    let manifests: Vec<(&Arc<Plugin>, &Arc<Manifest>)> = others
        .iter()
        .filter(|p| p.path != path)
        .filter_map(|p| p.manifest().map(|m| (p, m)))
        .collect();
    if !new.featurebits.is_empty() {
        let mut offered = cfg.feature_set_base.clone();
        for (_, m) in &manifests {
            offered.union_with(&m.featurebits);
        }
        if new.featurebits.overlaps(&offered) {
            return Err(Refusal::Kill(
                "Custom featurebits already present".to_string(),
            ));
        }
    }
    for o in &new.options {
        let taken = cfg.builtin_options.iter().any(|b| b == &o.name)
            || manifests
                .iter()
                .any(|(_, m)| m.options.iter().any(|x| x.name == o.name));
        if taken {
            return Err(if startup {
                Refusal::Fatal(format!(
                    "error starting plugin '{path}': option name '{}' is already taken",
                    o.name
                ))
            } else {
                Refusal::Kill(format!("Option \"{}\" already registered", o.name))
            });
        }
    }
    for meth in &new.methods {
        if cfg.builtin_methods.iter().any(|b| b == &meth.name) {
            return Err(Refusal::Kill(format!(
                "Could not register method \"{}\", a builtin method with that name is already registered",
                meth.name
            )));
        }
        if let Some((p, _)) = manifests
            .iter()
            .find(|(_, m)| m.methods.iter().any(|x| x.name == meth.name))
        {
            return Err(Refusal::Kill(format!(
                "Could not register method \"{}\", a method with that name is already registered by plugin {}",
                meth.name, p.path
            )));
        }
    }
    Ok(())
}

/// `plugin_paths_match`: a name with `/` is compared as a path, else as a basename.
pub fn paths_match(spec: &str, path: &str) -> bool {
    if spec.contains('/') {
        let canon = |s: &str| std::fs::canonicalize(s).unwrap_or_else(|_| Path::new(s).into());
        canon(spec) == canon(path)
    } else {
        Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy() == spec)
            .unwrap_or(false)
    }
}

/// Orders the registrations of one hook. Returns (ordered, unorderable).
pub(crate) fn order_hook(
    log: &HostLog,
    hook: &str,
    regs: &[Arc<Plugin>],
) -> (Vec<Arc<Plugin>>, Vec<Arc<Plugin>>) {
    let n = regs.len();
    // edges[i] = nodes that must come after i.
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indeg = vec![0usize; n];
    let find = |name: &str| regs.iter().position(|p| paths_match(name, &p.path));
    for (i, p) in regs.iter().enumerate() {
        let Some(spec) = p
            .manifest()
            .and_then(|m| m.hooks.iter().find(|h| h.name == hook).cloned())
        else {
            continue;
        };
        for b in &spec.before {
            match find(b) {
                Some(j) if j != i => {
                    edges[i].push(j);
                    indeg[j] += 1;
                }
                Some(_) => {}
                None => log.log(
                    crate::log::Level::Debug,
                    &p.source(),
                    &format!("hook {hook} before unknown plugin {b}"),
                ),
            }
        }
        for a in &spec.after {
            match find(a) {
                Some(j) if j != i => {
                    edges[j].push(i);
                    indeg[i] += 1;
                }
                Some(_) => {}
                None => log.log(
                    crate::log::Level::Debug,
                    &p.source(),
                    &format!("hook {hook} after unknown plugin {a}"),
                ),
            }
        }
    }
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    loop {
        // Among ready nodes, the lowest registration index goes first.
        let next = (0..n)
            .filter(|&i| !done[i] && indeg[i] == 0)
            .min_by_key(|&i| regs[i].index);
        let Some(i) = next else { break };
        done[i] = true;
        order.push(regs[i].clone());
        for &j in &edges[i] {
            indeg[j] = indeg[j].saturating_sub(1);
        }
    }
    let stuck = (0..n)
        .filter(|&i| !done[i])
        .map(|i| regs[i].clone())
        .collect();
    (order, stuck)
}

impl PluginHost {
    /// Every method registered by a plugin.
    pub fn methods(&self) -> Vec<MethodInfo> {
        let mut out = Vec::new();
        for p in self.registered() {
            if let Some(m) = p.manifest() {
                for x in &m.methods {
                    out.push(MethodInfo {
                        name: x.name.clone(),
                        usage: x.usage.clone(),
                        deprecated: x.deprecated,
                        plugin_path: p.path.clone(),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Whether `method` is a plugin method and deprecated: [`method`](Self::method)
    /// without copying its strings (every RPC call that is not a builtin asks this).
    pub fn method_deprecated(&self, method: &str) -> Option<bool> {
        let st = lock(&self.inner.state);
        st.plugins.iter().find_map(|p| {
            p.manifest()?
                .methods
                .iter()
                .find(|x| x.name == method)
                .map(|x| x.deprecated)
        })
    }

    /// The plugin serving `method`, if any. Looked up on every plugin call: no list of
    /// every method is built for it.
    pub fn method(&self, method: &str) -> Option<MethodInfo> {
        let st = lock(&self.inner.state);
        st.plugins.iter().find_map(|p| {
            let x = p.manifest()?.methods.iter().find(|x| x.name == method)?;
            Some(MethodInfo {
                name: x.name.clone(),
                usage: x.usage.clone(),
                deprecated: x.deprecated,
                plugin_path: p.path.clone(),
            })
        })
    }

    pub(crate) fn method_owner(&self, method: &str) -> Option<Arc<Plugin>> {
        let st = lock(&self.inner.state);
        st.plugins
            .iter()
            .find(|p| {
                p.manifest()
                    .is_some_and(|m| m.methods.iter().any(|x| x.name == method))
            })
            .cloned()
    }

    /// Every option registered by a plugin (deprecated ones included; callers hide them).
    pub fn option_specs(&self) -> Vec<OptionSpec> {
        self.registered()
            .iter()
            .filter_map(|p| p.manifest().map(|m| m.options.clone()))
            .flatten()
            .collect()
    }

    pub fn option_spec(&self, name: &str) -> Option<OptionSpec> {
        self.option_specs().into_iter().find(|o| o.name == name)
    }

    /// Paths of the plugins registered for `hook`, in call order (for log lines).
    pub fn hook_plugins(&self, hook: &str) -> Vec<String> {
        self.hook_chain(hook)
            .iter()
            .map(|p| p.path.clone())
            .collect()
    }

    /// Plugins registered for `hook` in call order (unorderable ones left out).
    pub(crate) fn hook_chain(&self, hook: &str) -> Vec<Arc<Plugin>> {
        let regs: Vec<Arc<Plugin>> = self
            .registered()
            .into_iter()
            .filter(|p| {
                p.manifest()
                    .map(|m| m.hooks.iter().any(|h| h.name == hook))
                    .unwrap_or(false)
            })
            .collect();
        // Asked on every hook call: one registration with no ordering needs no sort.
        let unordered = |p: &Arc<Plugin>| {
            p.manifest()
                .and_then(|m| m.hooks.iter().find(|h| h.name == hook))
                .is_none_or(|h| h.before.is_empty() && h.after.is_empty())
        };
        if regs.len() <= 1 && regs.iter().all(unordered) {
            return regs;
        }
        order_hook(&self.inner.log, hook, &regs).0
    }

    /// Hook registrations that cannot be ordered, over every hook.
    pub(crate) fn unorderable(&self) -> Vec<Arc<Plugin>> {
        let mut names: Vec<String> = self
            .registered()
            .iter()
            .filter_map(|p| {
                p.manifest()
                    .map(|m| m.hooks.iter().map(|h| h.name.clone()).collect::<Vec<_>>())
            })
            .flatten()
            .collect();
        names.sort();
        names.dedup();
        let mut out: Vec<Arc<Plugin>> = Vec::new();
        for h in names {
            let regs: Vec<Arc<Plugin>> = self
                .registered()
                .into_iter()
                .filter(|p| {
                    p.manifest()
                        .map(|m| m.hooks.iter().any(|x| x.name == h))
                        .unwrap_or(false)
                })
                .collect();
            for p in order_hook(&self.inner.log, &h, &regs).1 {
                if !out.iter().any(|x| Arc::ptr_eq(x, &p)) {
                    out.push(p);
                }
            }
        }
        out
    }
}

/// The value a `listconfigs` entry shows for a typed value.
pub(crate) fn typed_key(o: &OptionSpec, multi: bool) -> &'static str {
    use crate::options::OptType::*;
    match (o.typ, multi) {
        (Int, false) => "value_int",
        (Int, true) => "values_int",
        (Bool, _) => "value_bool",
        (_, false) => "value_str",
        (_, true) => "values_str",
    }
}

/// Concealed options show this instead of their value.
pub(crate) fn shown(o: &OptionSpec, v: Value) -> Value {
    if o.typ == crate::options::OptType::StringConceal {
        Value::String("...".to_string())
    } else {
        v
    }
}

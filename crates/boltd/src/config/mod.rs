//! Options: one registry for builtin and plugin-registered options, parsed in two passes.
//!
//! 1. [`early_parse`] reads only what is needed before plugins start: `--lightning-dir`,
//!    `--network` (and `--regtest` style shorthands), `--conf`, the `--plugin*` family,
//!    `--help`, `--version`. It also reads the config files (whose location depends on the
//!    first two) into raw entries, without validating them.
//! 2. Plugins register their options into the [`Registry`] ([`Registry::register`]).
//! 3. [`full_parse`] validates every entry (config files first, then the command line, so
//!    the command line wins) against the complete registry and yields a [`Config`] that
//!    knows each value's source, for `listconfigs`.

mod builtin;
mod compat;
mod parse;
mod settings;

pub use builtin::{builtin_registry, NETWORKS};
pub use compat::accepted_lines;
pub use parse::{early_parse, full_parse, help_text, Early};
pub use settings::{log_levels, LogLevel, Settings};

use indexmap::IndexMap;
use plugins::{OptType, PluginHost};
use serde_json::{json, Map, Value};

/// How an option's value is interpreted (CLN's plugin option types, used for builtins too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptKind {
    Str,
    Int,
    Bool,
    /// No argument; present or absent.
    Flag,
}

/// Validates a string value beyond its type (e.g. `rgb` is 6 hex digits). Returns the
/// error text shown after `--name=value: `.
pub type Validator = fn(&str) -> Result<(), String>;

/// One option the daemon accepts.
#[derive(Debug, Clone)]
pub struct OptSpec {
    pub name: String,
    pub kind: OptKind,
    /// May be given several times; all values are kept in order.
    pub multi: bool,
    /// May be changed at run time (`setconfig`).
    pub dynamic: bool,
    /// Default value as text (parsed like a command-line value); `None` = no default.
    pub default: Option<String>,
    pub description: String,
    /// Read in the early pass (before plugins start).
    pub early: bool,
    /// Absolute path of the plugin that registered it; `None` for builtins.
    pub plugin: Option<String>,
    /// Shown as `"..."` in `listconfigs` (`string-conceal`).
    pub conceal: bool,
    /// Not listed by `listconfigs` (`--help`, `--version`).
    pub hidden: bool,
    pub validator: Option<Validator>,
    /// A Core Lightning option accepted with no effect (see `compat`); a plugin may take
    /// the name over.
    pub accepted_only: bool,
}

impl OptSpec {
    pub fn new(name: &str, kind: OptKind, description: &str) -> Self {
        OptSpec {
            name: name.to_string(),
            kind,
            multi: false,
            dynamic: false,
            default: None,
            description: description.to_string(),
            early: false,
            plugin: None,
            conceal: false,
            hidden: false,
            validator: None,
            accepted_only: false,
        }
    }
    pub fn default(mut self, d: &str) -> Self {
        self.default = Some(d.to_string());
        self
    }
    pub fn multi(mut self) -> Self {
        self.multi = true;
        self
    }
    pub fn early(mut self) -> Self {
        self.early = true;
        self
    }
    pub fn dynamic(mut self) -> Self {
        self.dynamic = true;
        self
    }
    pub fn validator(mut self, v: Validator) -> Self {
        self.validator = Some(v);
        self
    }

    /// A plugin's option as the registry (full parse, `--help`) and `setconfig` see it.
    pub fn from_plugin(o: &plugins::OptionSpec, allow_deprecated: bool) -> Self {
        let kind = match o.typ {
            OptType::Int => OptKind::Int,
            OptType::Bool => OptKind::Bool,
            OptType::Flag => OptKind::Flag,
            OptType::String | OptType::StringConceal => OptKind::Str,
        };
        let mut s = OptSpec::new(&o.name, kind, &o.description);
        s.default = o.default.clone();
        s.multi = o.multi;
        s.dynamic = o.dynamic;
        s.plugin = Some(o.plugin.clone());
        s.conceal = o.typ == OptType::StringConceal;
        s.hidden = o.deprecated && !allow_deprecated;
        s
    }

    /// Checks one value's syntax for this option; the error text follows CLN's
    /// (`'x' is not a number`, `Invalid argument 'x'`, `doesn't allow an argument`).
    pub fn check_value(&self, value: Option<&str>) -> Result<(), String> {
        let typ = match self.kind {
            OptKind::Str => OptType::String,
            OptKind::Int => OptType::Int,
            OptKind::Bool => OptType::Bool,
            OptKind::Flag => OptType::Flag,
        };
        // A bare boolean option means "true" (convenient in config files).
        if self.kind == OptKind::Bool && value.is_none() {
            return Ok(());
        }
        // The same parser (and words) as plugin options.
        plugins::options::parse_value(typ, value)?;
        match (self.validator, value) {
            (Some(f), Some(v)) => f(v),
            _ => Ok(()),
        }
    }
}

/// Option values are parsed by the plugin host's parsers, so builtin and plugin options
/// read `0x10` or `--5` alike.
pub use plugins::options::{parse_bool, parse_int};

/// Where a value came from, as `listconfigs` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    Cmdline,
    /// `<file>:<line>`
    File(String, usize),
    /// Anything else a later task sets (`pluginstart`, `setconfig transient`, `<file>:<line>`
    /// of config.setconfig).
    Other(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Cmdline => f.write_str("cmdline"),
            Source::File(p, l) => write!(f, "{p}:{l}"),
            Source::Other(s) => f.write_str(s),
        }
    }
}

/// Every option the daemon knows, builtin and plugin-registered, in registration order.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    specs: IndexMap<String, OptSpec>,
}

impl Registry {
    /// Adds an option. A name already taken (by a builtin or another plugin) is refused
    /// with CLN's wording; the caller decides whether that is fatal.
    pub fn register(&mut self, spec: OptSpec) -> Result<(), String> {
        let replaces_accepted_only =
            spec.plugin.is_some() && self.specs.get(&spec.name).is_some_and(|s| s.accepted_only);
        if self.specs.contains_key(&spec.name) && !replaces_accepted_only {
            return Err(format!("option name '{}' is already taken", spec.name));
        }
        self.specs.insert(spec.name.clone(), spec);
        Ok(())
    }

    /// Removes every option a plugin registered (when it stops).
    /// Drops every plugin-registered option (they are the plugin host's once parsed).
    fn unregister_plugins(&mut self) {
        self.specs.retain(|_, s| s.plugin.is_none());
    }

    pub fn get(&self, name: &str) -> Option<&OptSpec> {
        self.specs.get(name)
    }

    /// Changes an option's default (e.g. `alias`, derived from the node id once known).
    pub fn set_default(&mut self, name: &str, value: &str) {
        if let Some(s) = self.specs.get_mut(name) {
            s.default = Some(value.to_string());
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &OptSpec> {
        self.specs.values()
    }
}

/// The validated values of every option, with their sources.
///
/// Until [`hand_plugin_options_to`](Config::hand_plugin_options_to) this holds plugin
/// options too (the full parse validates them with the builtins); from then on their
/// specs and values have one owner, the plugin host, and `listconfigs`/`setconfig` read
/// them through it.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub registry: Registry,
    /// Values explicitly given (files, command line, later `setconfig`), in order. Options
    /// absent here use their default.
    values: IndexMap<String, Vec<(Option<String>, Source)>>,
    plugins: Option<PluginHost>,
}

impl Config {
    pub(crate) fn new(registry: Registry) -> Self {
        Config {
            registry,
            values: IndexMap::new(),
            plugins: None,
        }
    }

    /// Gives plugin options to the host, which has their values by now (start-up's
    /// `apply_values`): nothing of them stays here to go stale.
    pub fn hand_plugin_options_to(&mut self, host: PluginHost) {
        let names: Vec<String> = self
            .registry
            .iter()
            .filter(|s| s.plugin.is_some())
            .map(|s| s.name.clone())
            .collect();
        for n in names {
            self.values.shift_remove(&n);
        }
        self.registry.unregister_plugins();
        self.plugins = Some(host);
    }

    /// A visible option by name: a builtin, or a plugin's (as the host has it now).
    pub fn option_spec(&self, name: &str) -> Option<OptSpec> {
        if let Some(s) = self.registry.get(name) {
            return (!s.hidden).then(|| s.clone());
        }
        let host = self.plugins.as_ref()?;
        let o = host.visible_option(name)?;
        Some(OptSpec::from_plugin(&o, true))
    }

    /// Records a value (already validated). Single-valued options keep only the last one.
    pub fn set(&mut self, name: &str, value: Option<String>, source: Source) {
        let multi = self.registry.get(name).map(|s| s.multi).unwrap_or(false);
        let slot = self.values.entry(name.to_string()).or_default();
        if !multi {
            slot.clear();
        }
        slot.push((value, source));
    }

    /// Forgets explicitly set values (e.g. `--clear-plugins` or a plugin's `pluginstart`
    /// values on stop) so the default applies again.
    pub fn unset(&mut self, name: &str) {
        self.values.shift_remove(name);
    }

    /// The effective single value: last given, else the default.
    pub fn get(&self, name: &str) -> Option<String> {
        match self.values.get(name).and_then(|v| v.last()) {
            Some((v, _)) => v.clone(),
            None => self.registry.get(name).and_then(|s| s.default.clone()),
        }
    }

    pub fn get_str(&self, name: &str) -> Option<String> {
        self.get(name)
    }

    pub fn get_int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(|v| parse_int(&v))
    }

    /// Flags: set or not. Bools: their value (bare = true).
    pub fn get_bool(&self, name: &str) -> bool {
        match self.values.get(name).and_then(|v| v.last()) {
            Some((None, _)) => true,
            Some((Some(v), _)) => parse_bool(v).unwrap_or(false),
            None => self
                .registry
                .get(name)
                .and_then(|s| s.default.as_deref())
                .and_then(parse_bool)
                .unwrap_or(false),
        }
    }

    /// All values of a multi option, in order given (defaults not included, like CLN).
    pub fn get_multi(&self, name: &str) -> Vec<String> {
        self.values
            .get(name)
            .map(|v| v.iter().filter_map(|(v, _)| v.clone()).collect())
            .unwrap_or_default()
    }

    pub fn is_set(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// One option in CLN's `listconfigs` shape, or `None` when it would not be shown
    /// (not set and no default).
    pub fn listconfigs_entry(&self, name: &str) -> Option<Value> {
        let Some(spec) = self.registry.get(name) else {
            return self.plugins.as_ref()?.listconfigs_entry(name);
        };
        let given = self.values.get(name);
        let mut obj = Map::new();
        let typed_key = |multi: bool| match (spec.kind, multi) {
            (OptKind::Int, false) => "value_int",
            (OptKind::Bool, false) => "value_bool",
            (_, false) => "value_str",
            (OptKind::Int, true) => "values_int",
            (OptKind::Bool, true) => "values_bool",
            (_, true) => "values_str",
        };
        let typed = |v: &str| -> Value {
            if spec.conceal {
                return json!("...");
            }
            match spec.kind {
                OptKind::Int => parse_int(v).map(Value::from).unwrap_or(json!(v)),
                OptKind::Bool => json!(parse_bool(v).unwrap_or(true)),
                _ => json!(v),
            }
        };
        if spec.kind == OptKind::Flag {
            let (set, source) = match given.and_then(|g| g.last()) {
                Some((_, s)) => (true, s.to_string()),
                None => (false, Source::Default.to_string()),
            };
            obj.insert("set".into(), json!(set));
            obj.insert("source".into(), json!(source));
        } else if spec.multi {
            let given = given.filter(|g| !g.is_empty())?;
            let vals: Vec<Value> = given
                .iter()
                .map(|(v, _)| typed(v.as_deref().unwrap_or("true")))
                .collect();
            let sources: Vec<Value> = given.iter().map(|(_, s)| json!(s.to_string())).collect();
            obj.insert(typed_key(true).into(), Value::Array(vals));
            obj.insert("sources".into(), Value::Array(sources));
        } else {
            let (v, source) = match given.and_then(|g| g.last()) {
                Some((v, s)) => (v.clone().unwrap_or_else(|| "true".into()), s.to_string()),
                None => (spec.default.clone()?, Source::Default.to_string()),
            };
            obj.insert(typed_key(false).into(), typed(&v));
            obj.insert("source".into(), json!(source));
        }
        if let Some(p) = &spec.plugin {
            obj.insert("plugin".into(), json!(p));
        }
        if spec.dynamic {
            obj.insert("dynamic".into(), json!(true));
        }
        Some(Value::Object(obj))
    }

    /// `{"configs": {...}}` for every shown option, sorted by name like CLN.
    pub fn listconfigs(&self) -> Value {
        let mut entries: Vec<(String, Value)> = self
            .registry
            .iter()
            .filter(|s| !s.hidden)
            .filter_map(|s| Some((s.name.clone(), self.listconfigs_entry(&s.name)?)))
            .collect();
        if let Some(host) = &self.plugins {
            entries.extend(host.listconfigs());
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut configs = Map::new();
        for (n, e) in entries {
            // `dev-` options only show when asked for by name, as in CLN.
            if !n.starts_with("dev-") {
                configs.insert(n, e);
            }
        }
        json!({ "configs": configs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validators_of_int_options_run() {
        // `rpc-max-request` must be positive; its check once ran only for string options.
        let r = builtin_registry("/tmp/boltd-test");
        let spec = r.get("rpc-max-request").unwrap();
        assert_eq!(
            spec.check_value(Some("0")).unwrap_err(),
            "'0' is not a positive number"
        );
        assert!(spec.check_value(Some("1024")).is_ok());
        assert_eq!(
            spec.check_value(Some("x")).unwrap_err(),
            "'x' is not a number"
        );
    }

    #[test]
    fn value_errors_use_cln_wording() {
        let i = OptSpec::new("n", OptKind::Int, "");
        assert_eq!(i.check_value(Some("x")).unwrap_err(), "'x' is not a number");
        // strtol takes one sign: a second one is not a number (it once read as 5).
        assert_eq!(
            i.check_value(Some("--5")).unwrap_err(),
            "'--5' is not a number"
        );
        assert_eq!(
            i.check_value(Some("-+5")).unwrap_err(),
            "'-+5' is not a number"
        );
        let b = OptSpec::new("b", OptKind::Bool, "");
        assert_eq!(
            b.check_value(Some("!")).unwrap_err(),
            "Invalid argument '!'"
        );
        let f = OptSpec::new("f", OptKind::Flag, "");
        assert_eq!(
            f.check_value(Some("True")).unwrap_err(),
            "doesn't allow an argument"
        );
    }

    #[test]
    fn listconfigs_shapes() {
        let mut r = Registry::default();
        r.register(OptSpec::new("a", OptKind::Str, "").default("x"))
            .unwrap();
        r.register(OptSpec::new("m", OptKind::Int, "").multi())
            .unwrap();
        r.register(OptSpec::new("f", OptKind::Flag, "")).unwrap();
        r.register(OptSpec::new("n", OptKind::Str, "")).unwrap();
        assert!(r.register(OptSpec::new("a", OptKind::Str, "")).is_err());
        let mut c = Config::new(r);
        c.set("m", Some("1".into()), Source::File("/c".into(), 3));
        c.set("m", Some("0x2".into()), Source::Cmdline);
        let l = c.listconfigs();
        assert_eq!(
            l["configs"]["a"],
            json!({"value_str":"x","source":"default"})
        );
        assert_eq!(
            l["configs"]["m"],
            json!({"values_int":[1,2],"sources":["/c:3","cmdline"]})
        );
        assert_eq!(l["configs"]["f"], json!({"set":false,"source":"default"}));
        assert!(l["configs"].get("n").is_none());
    }
}

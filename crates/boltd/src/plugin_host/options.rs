//! Plugin options in the daemon's option registry: registered after getmanifest, their
//! parsed values handed to the host for `init`, and the registry kept in step with the
//! host when plugins start, stop or change values.

use plugins::{OptType, PluginHost};

use crate::config::{Config, OptKind, OptSpec, Registry, Source};
use crate::node::Node;

fn opt_spec(o: &plugins::OptionSpec, allow_deprecated: bool) -> OptSpec {
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

/// Adds every registered plugin option the registry does not know yet.
pub(super) fn register_options(host: &PluginHost, registry: &mut Registry, allow_deprecated: bool) {
    for o in host.option_specs() {
        if registry.get(&o.name).is_none() {
            let _ = registry.register(opt_spec(&o, allow_deprecated));
        }
    }
}

fn to_source(s: &str) -> Source {
    match s {
        "cmdline" => Source::Cmdline,
        "default" => Source::Default,
        other => Source::Other(other.to_string()),
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

/// Hands the parsed values of plugin options to the host (for `init`). Err is the
/// start-up error (`--name: deprecated option (will be removed!)`).
pub fn apply_values(host: &PluginHost, config: &Config) -> Result<(), String> {
    for o in host.option_specs() {
        for (v, source) in config_values(config, &o.name) {
            host.set_option_value(&o.name, v.clone(), &source)
                .map_err(|e| match &v {
                    Some(v) => format!("--{}={v}: {e}", o.name),
                    None => format!("--{}: {e}", o.name),
                })?;
        }
    }
    Ok(())
}

/// Makes the config registry match the host after plugins start, stop or change values:
/// options of gone plugins removed, new ones added, values copied from the host.
pub fn sync_options(node: &Node, host: &PluginHost) {
    let specs = host.option_specs();
    let Ok(mut config) = node.config.write() else {
        return;
    };
    let gone: Vec<String> = config
        .registry
        .iter()
        .filter_map(|s| s.plugin.clone())
        .filter(|p| !specs.iter().any(|o| &o.plugin == p))
        .collect();
    for p in gone {
        let names: Vec<String> = config
            .registry
            .iter()
            .filter(|s| s.plugin.as_deref() == Some(p.as_str()))
            .map(|s| s.name.clone())
            .collect();
        for n in names {
            config.unset(&n);
        }
        config.registry.unregister_plugin(&p);
    }
    let allow = node.settings.allow_deprecated_apis;
    for o in &specs {
        if config.registry.get(&o.name).is_none() {
            let _ = config.registry.register(opt_spec(o, allow));
        }
        config.unset(&o.name);
        for v in host.option_values(&o.name) {
            config.set(&o.name, v.text, to_source(&v.source));
        }
    }
}

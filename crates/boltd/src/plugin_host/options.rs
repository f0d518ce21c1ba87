//! Plugin options in the daemon's option registry: registered after getmanifest, their
//! parsed values handed to the host (which owns them from then on) for `init`.

use plugins::PluginHost;

use crate::config::{Config, OptKind, OptSpec, Registry};

/// Adds every registered plugin option the registry does not know yet.
pub(super) fn register_options(host: &PluginHost, registry: &mut Registry, allow_deprecated: bool) {
    for o in host.option_specs() {
        if registry.get(&o.name).is_none_or(|s| s.accepted_only) {
            let _ = registry.register(OptSpec::from_plugin(&o, allow_deprecated));
        }
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

/// Hands the parsed values of plugin options to the host (for `init`), which owns them
/// from then on. Err is the start-up error (`--name: deprecated option (will be
/// removed!)`).
pub fn apply_values(host: &PluginHost, config: &mut Config) -> Result<(), String> {
    for o in host.option_specs() {
        for (v, source) in config_values(config, &o.name) {
            host.set_option_value(&o.name, v.clone(), &source)
                .map_err(|e| match &v {
                    Some(v) => format!("--{}={v}: {e}", o.name),
                    None => format!("--{}: {e}", o.name),
                })?;
        }
    }
    config.hand_plugin_options_to(host.clone());
    Ok(())
}

//! Start-up plugins: the list from `--plugin*` options and the default directory, each
//! named path checked, every getmanifest run, their options registered.

use std::path::PathBuf;
use std::time::Duration;

use plugins::{HostConfig, HostEvent, PluginHost, PluginSpec};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::config::{Early, OptKind, OptSpec, Registry};

/// Our own option: getmanifest/init timeout in seconds (CLN: 120), for tests.
pub const TIMEOUT_OPT: &str = "dev-plugin-timeout";

/// The running host plus the events it reports.
pub struct Loaded {
    pub host: PluginHost,
    pub events: UnboundedReceiver<HostEvent>,
}

fn last_value(early: &Early, name: &str) -> Option<String> {
    early
        .entries_for(&[name])
        .into_iter()
        .filter_map(|e| e.value)
        .next_back()
}

/// The start-up plugin list, in CLN's order: `--plugin`, `--important-plugin` and
/// `--plugin-dir` as given (with `--clear-plugins` dropping what came before), then the
/// default dir `<lightning-dir>/plugins` and its immediate subdirectories.
fn startup_specs(early: &Early) -> (Vec<PluginSpec>, Vec<String>) {
    // The bundled Bitcoin backend comes first, important, like lightningd's builtin
    // plugins; `--disable-plugin=bcli` (then a replacement) or `--clear-plugins` drop it.
    let mut specs: Vec<PluginSpec> = builtin_bcli()
        .into_iter()
        .map(|path| PluginSpec {
            path,
            important: true,
        })
        .collect();
    let mut disabled = vec![];
    let names = [
        "plugin",
        "important-plugin",
        "plugin-dir",
        "clear-plugins",
        "disable-plugin",
    ];
    for e in early.entries_for(&names) {
        let v = e.value.clone().unwrap_or_default();
        match e.name.as_str() {
            "plugin" => specs.push(PluginSpec {
                path: v.into(),
                important: false,
            }),
            "important-plugin" => specs.push(PluginSpec {
                path: v.into(),
                important: true,
            }),
            "plugin-dir" => {
                // A missing directory is silently ignored, like lightningd.
                let dir = PathBuf::from(&v);
                for p in plugins::scan_dir(&dir).unwrap_or_default() {
                    specs.push(PluginSpec {
                        path: p,
                        important: false,
                    });
                }
            }
            "clear-plugins" => specs.clear(),
            "disable-plugin" => disabled.push(v),
            _ => {}
        }
    }
    let default_dir = early.lightning_dir.join("plugins");
    for p in plugins::scan_default_dir(&default_dir) {
        specs.push(PluginSpec {
            path: p,
            important: false,
        });
    }
    (specs, disabled)
}

/// `bcli` next to the boltd executable, if it is there.
fn builtin_bcli() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bcli = exe.with_file_name(crate::chain_wiring::BCLI);
    bcli.is_file().then_some(bcli)
}

/// Spawns the start-up plugins, waits for every getmanifest, and registers their options.
/// Err is the message boltd prints before exiting 1.
pub async fn load(early: &Early, registry: &mut Registry) -> Result<Loaded, String> {
    let (specs, disabled) = startup_specs(early);
    check_paths(&specs, &disabled)?;
    let allow_deprecated = last_value(early, "allow-deprecated-apis")
        .and_then(|v| crate::config::parse_bool(&v))
        .unwrap_or(true);
    let mut cfg = HostConfig::new(early.network_dir(), &early.network);
    cfg.version = crate::node::VERSION.to_string();
    if early.help && !cfg.network_dir.is_dir() {
        // `--help` creates no directories; the plugins only answer getmanifest.
        cfg.network_dir = std::env::current_dir().unwrap_or_else(|_| "/".into());
    }
    cfg.allow_deprecated_apis = allow_deprecated;
    if let Some(t) = last_value(early, TIMEOUT_OPT).and_then(|v| crate::config::parse_int(&v)) {
        cfg.startup_timeout = Duration::from_secs(t.max(1) as u64);
    }
    cfg.disabled = disabled;
    // Kept until `wire`: the logger needs the full parse, which needs the plugins.
    let early_log = plugins::log::HostLog::buffering();
    cfg.log = early_log.clone();
    // LDK's own bits: plugins may not offer them again, and `init` shows the full set.
    let base = net::base_features();
    cfg.feature_set_base
        .bits
        .insert("init".to_string(), base.init);
    cfg.feature_set_base
        .bits
        .insert("node".to_string(), base.node);
    cfg.default_plugin_dir = Some(early.lightning_dir.join("plugins"));
    // Accepted-only compatibility options are not taken: a plugin may provide them.
    cfg.builtin_options = registry
        .iter()
        .filter(|s| !s.accepted_only)
        .map(|s| s.name.clone())
        .collect();
    cfg.builtin_options.push(TIMEOUT_OPT.to_string());
    // The one builtin table: a plugin method can never shadow a builtin.
    cfg.builtin_methods = crate::commands::names().map(str::to_string).collect();
    let (host, events) = PluginHost::new(cfg);
    registry.register(
        OptSpec::new(
            TIMEOUT_OPT,
            OptKind::Int,
            "Seconds a plugin has to answer getmanifest and init",
        )
        .default("120"),
    )?;
    host.load_startup(specs).await.map_err(|e| {
        // No logger yet (it needs the full parse): what happened goes to stderr.
        for (level, source, msg) in early_log.take() {
            eprintln!("{:<7} {source}: {msg}", format!("{level:?}").to_uppercase());
        }
        e.to_string()
    })?;
    super::options::register_options(&host, registry, allow_deprecated);
    Ok(Loaded { host, events })
}

/// `--plugin=PATH` / `--important-plugin=PATH` naming something we cannot run stops
/// start-up, as lightningd's option handler does (`Failed to register <p>: <strerror>`).
/// Directory scans only ever list executables, so only named paths can fail here.
fn check_paths(specs: &[PluginSpec], disabled: &[String]) -> Result<(), String> {
    for s in specs {
        let name = s.path.file_name().map(|n| n.to_string_lossy().into_owned());
        let off = disabled.iter().any(|d| {
            if d.contains('/') {
                std::path::Path::new(d) == s.path
            } else {
                name.as_deref() == Some(d.as_str())
            }
        });
        if off {
            continue;
        }
        if let Err(e) = executable(&s.path) {
            return Err(format!("Failed to register {}: {e}", s.path.display()));
        }
    }
    Ok(())
}

/// Ok if `path` is a file we may execute; else the OS error (as `strerror` words).
fn executable(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| "Invalid argument".to_string())?;
    // SAFETY: access(2) reads a NUL-terminated path we own.
    if unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0 {
        return Err(strerror(std::io::Error::last_os_error()));
    }
    if std::fs::metadata(path).map(|m| m.is_dir()).unwrap_or(false) {
        return Err(strerror(std::io::Error::from_raw_os_error(libc::EISDIR)));
    }
    Ok(())
}

/// The C library's words for an error, without Rust's ` (os error N)` suffix.
fn strerror(e: std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_plugin_paths_must_be_executable_files() {
        let dir = std::env::temp_dir().join(format!("boltd-plugin-path-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plain = dir.join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        let spec = |p: &std::path::Path| PluginSpec {
            path: p.to_path_buf(),
            important: false,
        };
        let missing = dir.join("missing");
        assert_eq!(
            check_paths(&[spec(&missing)], &[]),
            Err(format!(
                "Failed to register {}: No such file or directory",
                missing.display()
            ))
        );
        // Even root needs some x bit to execute a file.
        assert_eq!(
            check_paths(&[spec(&plain)], &[]),
            Err(format!(
                "Failed to register {}: Permission denied",
                plain.display()
            ))
        );
        // A disabled plugin is never registered, so its path is not checked (lightningd
        // looks at disable-plugin first).
        assert_eq!(check_paths(&[spec(&missing)], &["missing".into()]), Ok(()));
        assert!(check_paths(&[spec(&dir)], &[]).is_err());
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(check_paths(&[spec(&plain)], &[]), Ok(()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

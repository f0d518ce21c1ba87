//! Command line and config file parsing, in the two passes described in `config/mod.rs`.

use std::path::{Path, PathBuf};

use super::builtin::NETWORK_FLAGS;
use super::{Config, OptKind, Registry, Source};

/// One `name[=value]` as written, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    pub name: String,
    pub value: Option<String>,
    pub source: Source,
}

impl RawEntry {
    /// The entry as a config line: `name=value` or `name`.
    fn line(&self) -> String {
        match &self.value {
            Some(v) => format!("{}={}", self.name, v),
            None => self.name.clone(),
        }
    }

    /// An error about this entry the way CLN words it: `Config file F line N: LINE:
    /// PROBLEM` for a file line, `--LINE: PROBLEM` for the command line.
    fn error(&self, problem: &str) -> String {
        match &self.source {
            Source::File(p, l) => format!("Config file {p} line {l}: {}: {problem}", self.line()),
            _ => format!("--{}: {problem}", self.line()),
        }
    }
}

/// Which config file an entry came from; CLN refuses some options by file kind.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FileKind {
    /// `--conf=FILE`.
    Explicit,
    /// `<lightning-dir>/config`.
    Base,
    /// `<lightning-dir>/<network>/config`.
    Network,
}

/// CLN's refusals of options by the kind of file they appear in (configdir.c): `conf`
/// anywhere in a file, `lightning-dir` in the implicit files, the network in the
/// network-specific file.
fn check_file_entries(entries: &[RawEntry], kind: FileKind) -> Result<(), String> {
    for e in entries {
        let is_network = e.name == "network" || NETWORK_FLAGS.iter().any(|(f, _)| *f == e.name);
        let problem = if e.name == "conf" {
            "not permitted in configuration files"
        } else if e.name == "lightning-dir" && kind != FileKind::Explicit {
            "not permitted in implicit configuration files"
        } else if is_network && kind == FileKind::Network {
            "not permitted in network-specific configuration files"
        } else {
            continue;
        };
        return Err(e.error(problem));
    }
    Ok(())
}

/// The result of the early pass.
#[derive(Debug, Clone)]
pub struct Early {
    /// Absolute base directory.
    pub lightning_dir: PathBuf,
    pub network: String,
    pub help: bool,
    pub version: bool,
    /// `--daemon` appears somewhere (the background fork happens before any thread exists).
    pub daemon: bool,
    /// Command-line arguments (without the program name), re-split in the full pass once
    /// plugin options are known.
    pub args: Vec<String>,
    /// Every line of every config file read, in reading order.
    pub file_entries: Vec<RawEntry>,
    /// Command-line entries as split in the early pass (unknown options kept, unvalidated).
    pub cmdline_entries: Vec<RawEntry>,
}

impl Early {
    /// Every entry (config files first, then the command line) for an early option such as
    /// `plugin`, `plugin-dir`, `important-plugin`, `disable-plugin`, `clear-plugins`, in
    /// the order they take effect. The plugin host walks this to apply `clear-plugins`.
    pub fn entries_for(&self, names: &[&str]) -> Vec<RawEntry> {
        self.file_entries
            .iter()
            .chain(&self.cmdline_entries)
            .filter(|e| names.contains(&e.name.as_str()))
            .cloned()
            .collect()
    }

    /// `<lightning-dir>/<network>`.
    pub fn network_dir(&self) -> PathBuf {
        self.lightning_dir.join(&self.network)
    }
}

/// Splits command-line arguments into entries. `lenient` (early pass): unknown options are
/// kept without consuming a following value, stray words are skipped.
fn split_args(args: &[String], reg: &Registry, lenient: bool) -> Result<Vec<RawEntry>, String> {
    let mut out = vec![];
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let name_val = if let Some(rest) = arg.strip_prefix("--") {
            if rest.is_empty() {
                break;
            }
            match rest.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (rest.to_string(), None),
            }
        } else if arg == "-h" {
            ("help".to_string(), None)
        } else if arg == "-V" {
            ("version".to_string(), None)
        } else if lenient {
            continue;
        } else if arg.starts_with('-') {
            return Err(format!("{arg}: unknown option"));
        } else {
            return Err(format!("unexpected argument '{arg}'"));
        };
        let (name, mut value) = name_val;
        match reg.get(&name) {
            Some(spec) => {
                if value.is_none() {
                    let next = args.get(i);
                    let take = match spec.kind {
                        OptKind::Str | OptKind::Int => true,
                        OptKind::Bool => next.and_then(|n| super::parse_bool(n)).is_some(),
                        OptKind::Flag => false,
                    };
                    if take {
                        match next {
                            Some(n) => {
                                value = Some(n.clone());
                                i += 1;
                            }
                            None if lenient => {}
                            None => return Err(format!("--{name}: requires an argument")),
                        }
                    }
                }
            }
            None if lenient => {}
            None => {
                let line = match &value {
                    Some(v) => format!("{name}={v}"),
                    None => name,
                };
                return Err(format!("--{line}: unknown option"));
            }
        }
        out.push(RawEntry {
            name,
            value,
            source: Source::Cmdline,
        });
    }
    Ok(out)
}

/// Reads `key=value` / bare `key` lines; `#` starts a comment line; `include FILE` reads
/// another file (relative to this one's directory).
fn read_config_file(path: &Path, depth: usize, out: &mut Vec<RawEntry>) -> Result<(), String> {
    if depth > 10 {
        return Err(format!("{}: include nesting too deep", path.display()));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("Opening and reading {}: {e}", path.display()))?;
    let shown = path.display().to_string();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(inc) = line.strip_prefix("include ") {
            let base = path.parent().unwrap_or(Path::new("."));
            read_config_file(&base.join(inc.trim()), depth + 1, out)?;
            continue;
        }
        let (name, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), Some(v.trim().to_string())),
            None => (line.to_string(), None),
        };
        // `--name=value` is tolerated in files too.
        let name = name.trim_start_matches("--").to_string();
        out.push(RawEntry {
            name,
            value,
            source: Source::File(shown.clone(), n + 1),
        });
    }
    Ok(())
}

fn absolute(p: &str) -> PathBuf {
    let expanded = match p.strip_prefix("~/") {
        Some(rest) => match std::env::var_os("HOME") {
            Some(h) => PathBuf::from(h).join(rest),
            None => PathBuf::from(p),
        },
        None => PathBuf::from(p),
    };
    if expanded.is_absolute() {
        expanded
    } else {
        std::env::current_dir()
            .map(|c| c.join(&expanded))
            .unwrap_or(expanded)
    }
}

/// The network selected by the last `network=` or shorthand flag among `entries`.
fn network_of<'a>(entries: impl Iterator<Item = &'a RawEntry>) -> Option<String> {
    let mut net = None;
    for e in entries {
        if e.name == "network" {
            net = e.value.clone();
        } else if let Some((_, n)) = NETWORK_FLAGS.iter().find(|(f, _)| *f == e.name) {
            net = Some(n.to_string());
        }
    }
    net
}

fn last_value(entries: &[RawEntry], name: &str) -> Option<String> {
    entries
        .iter()
        .rev()
        .find(|e| e.name == name)
        .and_then(|e| e.value.clone())
}

/// The early pass: where the files are, which network, and the raw entries.
pub fn early_parse(args: &[String], builtins: &Registry) -> Result<Early, String> {
    let cmd = split_args(args, builtins, true)?;
    let mut files = vec![];
    let conf = last_value(&cmd, "conf");
    if let Some(conf) = &conf {
        read_config_file(&absolute(conf), 0, &mut files)?;
        check_file_entries(&files, FileKind::Explicit)?;
    }
    let dir = last_value(&cmd, "lightning-dir")
        .or_else(|| last_value(&files, "lightning-dir"))
        .or_else(|| {
            builtins
                .get("lightning-dir")
                .and_then(|s| s.default.clone())
        })
        .unwrap_or_else(|| "~/.boltd".into());
    let lightning_dir = absolute(&dir);
    if conf.is_none() {
        let base = lightning_dir.join("config");
        if base.exists() {
            read_config_file(&base, 0, &mut files)?;
            check_file_entries(&files, FileKind::Base)?;
        }
        let net = network_of(files.iter().chain(&cmd)).unwrap_or_else(|| "bitcoin".into());
        let netconf = lightning_dir.join(&net).join("config");
        if netconf.exists() {
            let from = files.len();
            read_config_file(&netconf, 0, &mut files)?;
            check_file_entries(files.get(from..).unwrap_or_default(), FileKind::Network)?;
        }
    }
    let network = network_of(files.iter().chain(&cmd)).unwrap_or_else(|| "bitcoin".into());
    // The network names a directory we are about to create: an unknown one stops here,
    // before anything is made (`--network=../x` would escape the lightning-dir).
    if let Some(spec) = builtins.get("network") {
        spec.check_value(Some(&network))
            .map_err(|msg| format!("--network={network}: {msg}"))?;
    }
    // Values `setconfig` persisted (plugin_host / commands/setconfig.rs write it) come
    // after every other file, like CLN's `include config.setconfig`.
    let setconfig = lightning_dir.join(&network).join("config.setconfig");
    if setconfig.exists() {
        read_config_file(&setconfig, 0, &mut files)?;
    }
    let has = |n: &str| files.iter().chain(&cmd).any(|e| e.name == n);
    Ok(Early {
        help: cmd.iter().any(|e| e.name == "help"),
        version: cmd.iter().any(|e| e.name == "version"),
        daemon: has("daemon"),
        lightning_dir,
        network,
        args: args.to_vec(),
        file_entries: files,
        cmdline_entries: cmd,
    })
}

/// The full pass: validates every entry against the complete registry.
pub fn full_parse(registry: &Registry, early: &Early) -> Result<Config, String> {
    let cmd = split_args(&early.args, registry, false)?;
    let mut config = Config::new(registry.clone());
    for e in early.file_entries.iter().chain(&cmd) {
        let Some(spec) = registry.get(&e.name) else {
            return Err(e.error("unknown option"));
        };
        spec.check_value(e.value.as_deref())
            .map_err(|msg| e.error(&msg))?;
        if e.name == "clear-plugins" {
            // Drops every plugin given so far; later ones still apply (CLN semantics).
            for n in ["plugin", "plugin-dir", "important-plugin"] {
                config.unset(n);
            }
        }
        if let Some((_, net)) = NETWORK_FLAGS.iter().find(|(f, _)| *f == e.name) {
            config.set("network", Some(net.to_string()), e.source.clone());
        }
        config.set(&e.name, e.value.clone(), e.source.clone());
    }
    // The resolved directory is what everyone else sees (absolute).
    if config.is_set("lightning-dir") {
        let src = config_source(&config, "lightning-dir");
        config.set(
            "lightning-dir",
            Some(early.lightning_dir.display().to_string()),
            src,
        );
    }
    Ok(config)
}

fn config_source(c: &Config, name: &str) -> Source {
    c.listconfigs_entry(name)
        .and_then(|v| v.get("source").and_then(|s| s.as_str()).map(str::to_string))
        .map(|s| {
            if s == "cmdline" {
                Source::Cmdline
            } else {
                Source::Other(s)
            }
        })
        .unwrap_or(Source::Cmdline)
}

/// `--help` text: every option (builtin and plugin) with its default.
pub fn help_text(registry: &Registry) -> String {
    let mut out = String::from(
        "Usage: boltd [options]\nA Lightning node daemon with Core Lightning's plugin and RPC interface.\n\n",
    );
    for s in registry.iter() {
        // Deprecated plugin options are hidden while deprecated APIs are off.
        if s.hidden && s.plugin.is_some() {
            continue;
        }
        let arg = match s.kind {
            OptKind::Flag => format!("--{}", s.name),
            OptKind::Int => format!("--{} <arg>", s.name),
            OptKind::Bool => format!("--{} <arg>", s.name),
            OptKind::Str => format!("--{} <arg>", s.name),
        };
        let mut line = format!("{arg:<40} {}", s.description);
        if let Some(d) = &s.default {
            line.push_str(&format!(" (default: {d:?})"));
        }
        if let Some(p) = &s.plugin {
            line.push_str(&format!(" [plugin {p}]"));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::builtin_registry;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cmdline_beats_network_file_beats_base_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("config"),
            "# c\nnetwork=regtest\nalias=base\nrgb=010203\n",
        )
        .unwrap();
        std::fs::create_dir(d.path().join("regtest")).unwrap();
        std::fs::write(d.path().join("regtest/config"), "alias=net\nlog-file=a\n").unwrap();
        let reg = builtin_registry("~/.boltd");
        let dir = format!("--lightning-dir={}", d.path().display());
        let e = early_parse(&args(&[&dir, "--alias", "cmd", "--log-file=b"]), &reg).unwrap();
        assert_eq!(e.network, "regtest");
        let c = full_parse(&reg, &e).unwrap();
        assert_eq!(c.get_str("alias").unwrap(), "cmd");
        assert_eq!(c.get_str("rgb").unwrap(), "010203");
        assert_eq!(c.get_multi("log-file"), vec!["a", "b"]);
        let rgb = c.listconfigs_entry("rgb").unwrap();
        assert_eq!(
            rgb["source"],
            format!("{}:4", d.path().join("config").display())
        );
    }

    #[test]
    fn unknown_and_bad_values_are_errors() {
        let reg = builtin_registry("/nonexistent");
        let e = early_parse(&args(&["--lightning-dir=/nonexistent", "--bogus"]), &reg).unwrap();
        assert_eq!(full_parse(&reg, &e).unwrap_err(), "--bogus: unknown option");
        let e = early_parse(
            &args(&["--lightning-dir=/nonexistent", "--rpc-file-mode=777"]),
            &reg,
        )
        .unwrap();
        assert_eq!(
            full_parse(&reg, &e).unwrap_err(),
            "--rpc-file-mode=777: '777' is not a file mode"
        );
        let e = early_parse(
            &args(&["--lightning-dir=/nonexistent", "--daemon=yes"]),
            &reg,
        )
        .unwrap();
        assert_eq!(
            full_parse(&reg, &e).unwrap_err(),
            "--daemon=yes: doesn't allow an argument"
        );
    }

    #[test]
    fn plugin_options_registered_between_passes() {
        let mut reg = builtin_registry("/nonexistent");
        let e = early_parse(
            &args(&[
                "--lightning-dir=/x",
                "--regtest",
                "--plugin=/p",
                "--greeting",
                "hi",
            ]),
            &reg,
        )
        .unwrap();
        assert_eq!(e.network, "regtest");
        assert_eq!(e.entries_for(&["plugin"]).len(), 1);
        let mut spec = super::super::OptSpec::new("greeting", OptKind::Str, "say").default("hello");
        spec.plugin = Some("/p".into());
        reg.register(spec).unwrap();
        let c = full_parse(&reg, &e).unwrap();
        assert_eq!(c.get_str("greeting").unwrap(), "hi");
        assert_eq!(c.get_str("network").unwrap(), "regtest");
        assert!(help_text(&reg).contains("--greeting"));
    }
}

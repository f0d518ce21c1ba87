//! Typed view of the builtin options the daemon itself acts on.

use std::path::{Path, PathBuf};

use super::Config;

/// Core Lightning's log levels, most verbose first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Io,
    Trace,
    Debug,
    Info,
    Unusual,
    Broken,
}

impl LogLevel {
    /// Accepts CLN's names plus the aliases `warn` (= unusual) and `error` (= broken).
    pub fn parse(s: &str) -> Option<LogLevel> {
        Some(match s.to_ascii_lowercase().as_str() {
            "io" => LogLevel::Io,
            "trace" => LogLevel::Trace,
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "unusual" | "warn" => LogLevel::Unusual,
            "broken" | "error" => LogLevel::Broken,
            _ => return None,
        })
    }

    /// The name used in `log` notifications.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Io => "io",
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Unusual => "unusual",
            LogLevel::Broken => "broken",
        }
    }

    /// The column printed in log lines (CLN's spelling).
    pub fn label(self) -> &'static str {
        match self {
            LogLevel::Io => "IO",
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Unusual => "UNUSUAL",
            LogLevel::Broken => "**BROKEN**",
        }
    }
}

/// What the daemon needs from the configuration, resolved once at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Absolute `--lightning-dir`.
    pub lightning_dir: PathBuf,
    pub network: String,
    /// `<lightning-dir>/<network>`: the daemon's working directory.
    pub network_dir: PathBuf,
    /// `--rpc-file` as configured (relative to `network_dir` unless absolute).
    pub rpc_file: String,
    pub rpc_file_mode: u32,
    pub rpc_max_request: usize,
    pub alias: Option<String>,
    pub rgb: Option<[u8; 3]>,
    /// The default level: the last plain `--log-level` (info without one).
    pub log_level: LogLevel,
    /// Every `--log-level=LEVEL:PREFIX`, in the order given (files, then command line).
    pub log_filters: Vec<(String, LogLevel)>,
    pub log_files: Vec<String>,
    pub log_prefix: String,
    pub pid_file: PathBuf,
    pub daemon: bool,
    pub allow_deprecated_apis: bool,
    /// `--proxy`, resolved.
    pub proxy: Option<std::net::SocketAddr>,
    pub always_use_proxy: bool,
}

impl Settings {
    pub fn from_config(c: &Config, lightning_dir: &Path, network: &str) -> Settings {
        let network_dir = lightning_dir.join(network);
        let rgb = c.get_str("rgb").and_then(|s| {
            let b = hex::decode(s).ok()?;
            Some([*b.first()?, *b.get(1)?, *b.get(2)?])
        });
        let pid_file = c
            .get_str("pid-file")
            .map(|p| resolve(lightning_dir, &p))
            .unwrap_or_else(|| lightning_dir.join(format!("boltd-{network}.pid")));
        Settings {
            lightning_dir: lightning_dir.to_path_buf(),
            network: network.to_string(),
            network_dir,
            rpc_file: c
                .get_str("rpc-file")
                .unwrap_or_else(|| "lightning-rpc".into()),
            rpc_file_mode: c
                .get_str("rpc-file-mode")
                .and_then(|m| u32::from_str_radix(&m, 8).ok())
                .unwrap_or(0o600),
            rpc_max_request: c
                .get_int("rpc-max-request")
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(jsonrpc::DEFAULT_MAX_MESSAGE),
            alias: c.get_str("alias"),
            rgb,
            log_level: log_levels(c.get_str("log-level").as_slice()).0,
            log_filters: Vec::new(),
            log_files: c.get_multi("log-file"),
            log_prefix: c.get_str("log-prefix").unwrap_or_default(),
            pid_file,
            daemon: c.get_bool("daemon"),
            allow_deprecated_apis: c.get_bool("allow-deprecated-apis"),
            proxy: c
                .get_str("proxy")
                .and_then(|p| super::builtin::parse_proxy(&p).ok()),
            always_use_proxy: c.get_bool("always-use-proxy"),
        }
    }

    /// `configuration.proxy` for plugins' `init`: `{"type","address","port"}`.
    pub fn proxy_json(&self) -> Option<serde_json::Value> {
        self.proxy.map(|a| {
            let typ = if a.is_ipv4() { "ipv4" } else { "ipv6" };
            serde_json::json!({"type": typ, "address": a.ip().to_string(), "port": a.port()})
        })
    }

    /// The socket path: `--rpc-file` if absolute, else under the network directory.
    pub fn rpc_path(&self) -> PathBuf {
        resolve(&self.network_dir, &self.rpc_file)
    }
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// CLN's `--log-level` semantics over every value given, in order: `LEVEL` sets the
/// default level (the last one wins), `LEVEL:PREFIX` adds a filter for sources containing
/// PREFIX. Values were validated at parse time; unparsable ones are skipped.
pub fn log_levels<S: AsRef<str>>(values: &[S]) -> (LogLevel, Vec<(String, LogLevel)>) {
    let mut default = LogLevel::Info;
    let mut filters = Vec::new();
    for v in values {
        let v = v.as_ref();
        let (level, prefix) = match v.split_once(':') {
            Some((l, p)) => (l, Some(p)),
            None => (v, None),
        };
        let Some(level) = LogLevel::parse(level) else {
            continue;
        };
        match prefix {
            Some(p) => filters.push((p.to_string(), level)),
            None => default = level,
        }
    }
    (default, filters)
}

#[cfg(test)]
mod log_level_tests {
    use super::*;

    #[test]
    fn log_levels_keep_every_filter_and_the_last_default() {
        let (d, f) = log_levels(&["debug:plugin-foo", "unusual", "io:02ab", "broken"]);
        assert_eq!(d, LogLevel::Broken);
        assert_eq!(
            f,
            vec![
                ("plugin-foo".to_string(), LogLevel::Debug),
                ("02ab".to_string(), LogLevel::Io)
            ]
        );
        assert_eq!(log_levels::<&str>(&[]), (LogLevel::Info, vec![]));
    }
}

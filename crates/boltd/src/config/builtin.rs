//! The daemon's own options, their defaults and value checks.

use super::{OptKind, OptSpec, Registry};

/// Networks `--network` accepts (the shorthands `--mainnet`, `--testnet`... map onto these).
pub const NETWORKS: &[&str] = &["bitcoin", "testnet", "testnet4", "signet", "regtest"];

/// Shorthand flags and the network each selects.
pub(crate) const NETWORK_FLAGS: &[(&str, &str)] = &[
    ("mainnet", "bitcoin"),
    ("testnet", "testnet"),
    ("testnet4", "testnet4"),
    ("signet", "signet"),
    ("regtest", "regtest"),
];

fn check_network(v: &str) -> Result<(), String> {
    if NETWORKS.contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "Unknown network name '{v}' (expected one of {})",
            NETWORKS.join(", ")
        ))
    }
}

/// `--rpc-file-mode`: four octal digits starting with `0` (CLN's wording).
pub(crate) fn check_file_mode(v: &str) -> Result<(), String> {
    let ok = v.len() == 4 && v.starts_with('0') && v.chars().all(|c| ('0'..='7').contains(&c));
    if ok {
        Ok(())
    } else {
        Err(format!("'{v}' is not a file mode"))
    }
}

fn check_rgb(v: &str) -> Result<(), String> {
    if v.len() == 6 && v.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(format!("rgb '{v}' is not six hex digits"))
    }
}

fn check_alias(v: &str) -> Result<(), String> {
    if v.len() > 32 {
        Err(format!("Alias '{v}' is over 32 characters"))
    } else {
        Ok(())
    }
}

fn check_log_level(v: &str) -> Result<(), String> {
    // `level[:filter]` like CLN; the filter part is accepted and ignored for now.
    let level = v.split(':').next().unwrap_or("");
    if super::LogLevel::parse(level).is_some() {
        Ok(())
    } else {
        Err(format!("unknown log level {level}"))
    }
}

fn check_positive(v: &str) -> Result<(), String> {
    match super::parse_int(v) {
        Some(n) if n > 0 => Ok(()),
        _ => Err(format!("'{v}' is not a positive number")),
    }
}

fn check_addr(v: &str) -> Result<(), String> {
    if v.is_empty() {
        Err("empty address".into())
    } else {
        Ok(())
    }
}

/// `--proxy`: `IP[:PORT]` or `HOST[:PORT]`, port 9050 when omitted (CLN's default).
pub fn parse_proxy(v: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::{SocketAddr, ToSocketAddrs};
    if let Ok(a) = v.parse::<SocketAddr>() {
        return Ok(a);
    }
    // A bare address or host name: try it with the default port.
    let bare = v.trim_start_matches('[').trim_end_matches(']');
    let with_port = if bare.contains(':') && bare.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{bare}]:9050")
    } else if v
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        v.to_string()
    } else {
        format!("{v}:9050")
    };
    with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| format!("Unable to parse proxy address '{v}'"))
}

fn check_proxy(v: &str) -> Result<(), String> {
    parse_proxy(v).map(|_| ())
}

/// Every builtin option. Plugin options are added to this registry at run time.
pub fn builtin_registry(default_dir: &str) -> Registry {
    use OptKind::*;
    let specs = vec![
        OptSpec::new("lightning-dir", Str, "Set base directory: network-specific subdirectory is under here")
            .default(default_dir)
            .early(),
        OptSpec::new("network", Str, "Select the network parameters (bitcoin, testnet, testnet4, signet, or regtest)")
            .default("bitcoin")
            .validator(check_network)
            .early(),
        OptSpec::new("mainnet", Flag, "Alias for --network=bitcoin").early(),
        OptSpec::new("testnet", Flag, "Alias for --network=testnet").early(),
        OptSpec::new("testnet4", Flag, "Alias for --network=testnet4").early(),
        OptSpec::new("signet", Flag, "Alias for --network=signet").early(),
        OptSpec::new("regtest", Flag, "Alias for --network=regtest").early(),
        OptSpec::new("conf", Str, "Specify configuration file (disables the default config files)").early(),
        OptSpec::new("plugin", Str, "Add a plugin to be run (can be used multiple times)").multi().early(),
        OptSpec::new("plugin-dir", Str, "Add a directory to load plugins from (can be used multiple times)")
            .multi()
            .early(),
        OptSpec::new("important-plugin", Str, "Add an important plugin to be run (can be used multiple times). Die if the plugin dies.")
            .multi()
            .early(),
        OptSpec::new("disable-plugin", Str, "Disable a particular plugin by filename/name")
            .multi()
            .early(),
        OptSpec::new("clear-plugins", Flag, "Remove all plugins added before this option").early(),
        OptSpec::new("help", Flag, "Print this message.").early(),
        OptSpec::new("version", Flag, "Print version and exit").early(),
        OptSpec::new("rpc-file", Str, "Set JSON-RPC socket (or /dev/tty)").default("lightning-rpc"),
        OptSpec::new("rpc-file-mode", Str, "Set the file mode (permissions) for the JSON-RPC socket")
            .default("0600")
            .validator(check_file_mode),
        OptSpec::new("rpc-max-request", Int, "Largest JSON-RPC request accepted, in bytes")
            .default("16777216")
            .validator(check_positive),
        OptSpec::new("alias", Str, "Up to 32-byte alias for node").validator(check_alias),
        OptSpec::new("rgb", Str, "RRGGBB hex color for node").validator(check_rgb),
        OptSpec::new("log-level", Str, "log level (io, trace, debug, info, unusual, broken)")
            .default("info")
            .validator(check_log_level),
        OptSpec::new("log-file", Str, "Log to file (- for stdout/stderr), can be specified multiple times")
            .multi(),
        OptSpec::new("log-prefix", Str, "log prefix").default(""),
        OptSpec::new("log-timestamps", Bool, "prefix log messages with timestamp").default("true"),
        OptSpec::new("pid-file", Str, "Specify pid file"),
        OptSpec::new("daemon", Flag, "Run in the background, suppress stdout/stderr"),
        OptSpec::new("addr", Str, "Set an IP address (v4 or v6) to listen on and announce to the network")
            .multi()
            .validator(check_addr),
        OptSpec::new("bind-addr", Str, "Set an IP address (v4 or v6) to listen on, but not announce")
            .multi()
            .validator(check_addr),
        OptSpec::new("announce-addr", Str, "Set an IP address (v4 or v6) or .onion v3 to announce, but not listen on")
            .multi()
            .validator(check_addr),
        // Stored and handed to plugins in `init` (configuration.proxy); outgoing peer
        // connections do not go through it yet.
        OptSpec::new("proxy", Str, "Set a socks v5 proxy IP address and port").validator(check_proxy),
        OptSpec::new("always-use-proxy", Bool, "Use the proxy always").default("false"),
        OptSpec::new("wallet", Str, "Location of the wallet database (sqlite3://PATH)")
            .validator(crate::storage::check_wallet),
        OptSpec::new("allow-deprecated-apis", Bool, "Enable deprecated options, JSONRPC commands, fields, etc.")
            .default("true"),
    ];
    let mut r = Registry::default();
    for mut s in specs {
        if s.name == "help" || s.name == "version" {
            s.hidden = true;
        }
        // Names are unique by construction.
        let _ = r.register(s);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::parse_proxy;

    #[test]
    fn proxy_addresses_take_cln_default_port() {
        let p = |v: &str| parse_proxy(v).map(|a| a.to_string());
        assert_eq!(p("127.0.0.1:9999"), Ok("127.0.0.1:9999".into()));
        assert_eq!(p("127.0.0.1"), Ok("127.0.0.1:9050".into()));
        assert_eq!(p("::1"), Ok("[::1]:9050".into()));
        assert_eq!(p("[::1]"), Ok("[::1]:9050".into()));
        assert_eq!(p("[::1]:9100"), Ok("[::1]:9100".into()));
        assert_eq!(
            p("not an address"),
            Err("Unable to parse proxy address 'not an address'".into())
        );
    }
}

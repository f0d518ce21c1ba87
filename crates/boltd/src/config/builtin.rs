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
        OptSpec::new(
            "lightning-dir",
            Str,
            "Base directory; each network gets its own subdirectory inside it",
        )
        .default(default_dir)
        .early(),
        OptSpec::new(
            "network",
            Str,
            "Which chain to run on: bitcoin, testnet, testnet4, signet or regtest",
        )
        .default("bitcoin")
        .validator(check_network)
        .early(),
        OptSpec::new("mainnet", Flag, "Same as --network=bitcoin").early(),
        OptSpec::new("testnet", Flag, "Same as --network=testnet").early(),
        OptSpec::new("testnet4", Flag, "Same as --network=testnet4").early(),
        OptSpec::new("signet", Flag, "Same as --network=signet").early(),
        OptSpec::new("regtest", Flag, "Same as --network=regtest").early(),
        OptSpec::new(
            "conf",
            Str,
            "Read options from this file instead of the usual config files",
        )
        .early(),
        OptSpec::new("plugin", Str, "Start this plugin executable (repeatable)")
            .multi()
            .early(),
        OptSpec::new(
            "plugin-dir",
            Str,
            "Start every executable in this directory as a plugin (repeatable)",
        )
        .multi()
        .early(),
        OptSpec::new(
            "important-plugin",
            Str,
            "Start this plugin and shut down if it ever stops (repeatable)",
        )
        .multi()
        .early(),
        OptSpec::new(
            "disable-plugin",
            Str,
            "Do not start the plugin with this file name or path (repeatable)",
        )
        .multi()
        .early(),
        OptSpec::new(
            "clear-plugins",
            Flag,
            "Forget every plugin named before this option",
        )
        .early(),
        OptSpec::new("help", Flag, "Show the options and exit").early(),
        OptSpec::new("version", Flag, "Show the version and exit").early(),
        OptSpec::new(
            "rpc-file",
            Str,
            "Name (or absolute path) of the JSON-RPC unix socket",
        )
        .default("lightning-rpc"),
        OptSpec::new(
            "rpc-file-mode",
            Str,
            "Permissions of the JSON-RPC socket, four octal digits",
        )
        .default("0600")
        .validator(check_file_mode),
        OptSpec::new(
            "rpc-max-request",
            Int,
            "Largest JSON-RPC request accepted, in bytes",
        )
        .default("16777216")
        .validator(check_positive),
        OptSpec::new(
            "alias",
            Str,
            "Node name shown to the network, at most 32 bytes",
        )
        .validator(check_alias),
        OptSpec::new("rgb", Str, "Node color as six hex digits (RRGGBB)").validator(check_rgb),
        OptSpec::new(
            "log-level",
            Str,
            "Lowest level logged: io, trace, debug, info, unusual or broken",
        )
        .default("info")
        .validator(check_log_level),
        OptSpec::new(
            "log-file",
            Str,
            "Write the log to this file, - for standard error (repeatable)",
        )
        .multi(),
        OptSpec::new("log-prefix", Str, "Text put before every log line's source").default(""),
        OptSpec::new("log-timestamps", Bool, "Start every log line with its time").default("true"),
        OptSpec::new("pid-file", Str, "Where to write the process id"),
        OptSpec::new(
            "daemon",
            Flag,
            "Detach and run in the background once the socket is up",
        ),
        OptSpec::new(
            "addr",
            Str,
            "Listen for peers on this address and announce it (repeatable)",
        )
        .multi()
        .validator(check_addr),
        OptSpec::new(
            "bind-addr",
            Str,
            "Listen for peers on this address without announcing it (repeatable)",
        )
        .multi()
        .validator(check_addr),
        OptSpec::new(
            "announce-addr",
            Str,
            "Announce this address without listening on it (repeatable)",
        )
        .multi()
        .validator(check_addr),
        // Stored and handed to plugins in `init` (configuration.proxy); outgoing peer
        // connections do not go through it yet.
        OptSpec::new("proxy", Str, "SOCKS5 proxy address, HOST[:PORT]").validator(check_proxy),
        OptSpec::new(
            "always-use-proxy",
            Bool,
            "Send every outgoing connection through the proxy",
        )
        .default("false"),
        OptSpec::new("wallet", Str, "Database to use, as sqlite3://PATH")
            .validator(crate::storage::check_wallet),
        OptSpec::new(
            "developer",
            Flag,
            "Enable developer options (dev-*) and behaviour, as lightningd's --developer",
        ),
        OptSpec::new(
            "dev-bitcoind-poll",
            Int,
            "Seconds between polls of the Bitcoin backend (needs --developer)",
        )
        .validator(check_positive),
        OptSpec::new(
            "dev-openchannel-hook-timeout",
            Int,
            "Seconds the openchannel hook may take before the channel is refused (needs --developer; default 50)",
        )
        .validator(check_positive),
        OptSpec::new(
            "dev-no-reconnect",
            Flag,
            "Do not reconnect to channel peers (needs --developer)",
        ),
        OptSpec::new(
            "dev-chain-dir",
            Str,
            "Directory of the embedded regtest devchain (default ~/.boltd/devchain)",
        ),
        OptSpec::new(
            "allow-deprecated-apis",
            Bool,
            "Keep deprecated options, commands and fields working",
        )
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
    super::compat::register(&mut r);
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

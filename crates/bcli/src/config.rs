//! Where bitcoind is and how to log in, from bcli's options (bitcoin-cli's conventions)
//! and the network lightningd gives us in `init`.

use std::path::PathBuf;
use std::time::Duration;

/// The option values as lightningd passed them.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub datadir: Option<String>,
    pub rpcuser: Option<String>,
    pub rpcpassword: Option<String>,
    pub rpcconnect: Option<String>,
    pub rpcport: Option<i64>,
    /// Seconds; 0 = no limit.
    pub rpcclienttimeout: i64,
    /// Seconds.
    pub retry_timeout: i64,
    pub dev_no_fake_fees: bool,
    pub dev_ignore_ibd: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    UserPass {
        user: String,
        password: String,
    },
    /// Read on every connection: bitcoind writes a new one each time it starts.
    Cookie(PathBuf),
}

/// Everything needed to talk to bitcoind.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub auth: Auth,
    /// One HTTP request's limit.
    pub timeout: Duration,
    /// How long an unreachable bitcoind (or a block it cannot serve) is retried.
    pub retry: Duration,
    /// Regtest has no fee data: answer 1000 sat/kvB where bitcoind has no estimate.
    pub fake_fees: bool,
    pub ignore_ibd: bool,
}

/// bitcoind's RPC port and datadir subdirectory for lightningd's network names.
fn network_defaults(network: &str) -> Option<(u16, &'static str)> {
    Some(match network {
        "bitcoin" => (8332, ""),
        "testnet" => (18332, "testnet3"),
        "testnet4" => (48332, "testnet4"),
        "signet" => (38332, "signet"),
        "regtest" => (18443, "regtest"),
        _ => return None,
    })
}

fn default_datadir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    if cfg!(target_os = "macos") {
        home.join("Library/Application Support/Bitcoin")
    } else {
        home.join(".bitcoin")
    }
}

/// `host`, `host:port`, `[v6]:port` or a bare IPv6 address, as `-rpcconnect` takes them.
fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    let bad = || format!("bitcoin-rpcconnect: cannot parse '{s}'");
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host.to_string(), Some(p.parse().map_err(|_| bad())?))),
            None if after.is_empty() => Ok((host.to_string(), None)),
            None => Err(bad()),
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            Ok((host.to_string(), Some(port.parse().map_err(|_| bad())?)))
        }
        _ => Ok((s.to_string(), None)),
    }
}

impl Config {
    pub fn new(opts: &Options, network: &str) -> Result<Config, String> {
        let (default_port, subdir) = network_defaults(network)
            .ok_or_else(|| format!("bcli does not know the network '{network}'"))?;
        let (host, connect_port) = match opts.rpcconnect.as_deref() {
            Some(c) if !c.is_empty() => split_host_port(c)?,
            _ => ("127.0.0.1".to_string(), None),
        };
        let port = match opts.rpcport {
            Some(p) => u16::try_from(p)
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("bitcoin-rpcport: {p} is not a port"))?,
            None => connect_port.unwrap_or(default_port),
        };
        let auth = match &opts.rpcuser {
            Some(user) => Auth::UserPass {
                user: user.clone(),
                password: opts.rpcpassword.clone().unwrap_or_default(),
            },
            None => {
                let datadir = opts
                    .datadir
                    .as_deref()
                    .map(PathBuf::from)
                    .unwrap_or_else(default_datadir);
                Auth::Cookie(datadir.join(subdir).join(".cookie"))
            }
        };
        let secs = |name: &str, v: i64| {
            u64::try_from(v).map_err(|_| format!("{name}: {v} is not a number of seconds"))
        };
        let retry = secs("bitcoin-retry-timeout", opts.retry_timeout)?;
        let client = secs("bitcoin-rpcclienttimeout", opts.rpcclienttimeout)?;
        // As bcli: never give up on a request before the retry timeout would.
        let timeout = if client == 0 {
            Duration::from_secs(24 * 3600)
        } else {
            Duration::from_secs(client.max(retry))
        };
        Ok(Config {
            host,
            port,
            auth,
            timeout,
            retry: Duration::from_secs(retry),
            fake_fees: network == "regtest" && !opts.dev_no_fake_fees,
            ignore_ibd: opts.dev_ignore_ibd,
        })
    }

    /// `host:port` as error messages name it.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options {
            rpcclienttimeout: 60,
            retry_timeout: 60,
            ..Options::default()
        }
    }

    #[test]
    fn cookie_lives_in_the_networks_subdirectory() {
        let mut o = opts();
        o.datadir = Some("/data/btc".into());
        for (net, path, port) in [
            ("regtest", "/data/btc/regtest/.cookie", 18443),
            ("bitcoin", "/data/btc/.cookie", 8332),
            ("testnet", "/data/btc/testnet3/.cookie", 18332),
            ("signet", "/data/btc/signet/.cookie", 38332),
            ("testnet4", "/data/btc/testnet4/.cookie", 48332),
        ] {
            let c = Config::new(&o, net).unwrap();
            assert_eq!(c.auth, Auth::Cookie(path.into()), "{net}");
            assert_eq!(c.port, port);
            assert_eq!(c.addr(), format!("127.0.0.1:{port}"));
        }
        assert!(Config::new(&o, "liquid").is_err());
    }

    #[test]
    fn user_and_password_win_over_the_cookie() {
        let mut o = opts();
        o.rpcuser = Some("u".into());
        o.rpcpassword = Some("p".into());
        let c = Config::new(&o, "regtest").unwrap();
        assert_eq!(
            c.auth,
            Auth::UserPass {
                user: "u".into(),
                password: "p".into()
            }
        );
        assert!(c.fake_fees);
        o.dev_no_fake_fees = true;
        assert!(!Config::new(&o, "regtest").unwrap().fake_fees);
        assert!(!Config::new(&opts(), "bitcoin").unwrap().fake_fees);
    }

    #[test]
    fn rpcconnect_may_carry_a_port_and_rpcport_wins() {
        let mut o = opts();
        o.rpcconnect = Some("10.0.0.2:1234".into());
        let c = Config::new(&o, "regtest").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("10.0.0.2", 1234));
        o.rpcport = Some(5555);
        assert_eq!(Config::new(&o, "regtest").unwrap().port, 5555);
        o.rpcconnect = Some("[::1]:99".into());
        o.rpcport = None;
        let c = Config::new(&o, "regtest").unwrap();
        assert_eq!(c.addr(), "[::1]:99");
        o.rpcconnect = Some("::1".into());
        assert_eq!(Config::new(&o, "regtest").unwrap().addr(), "[::1]:18443");
        o.rpcconnect = Some("host:notaport".into());
        assert!(Config::new(&o, "regtest").is_err());
        o.rpcconnect = None;
        o.rpcport = Some(70000);
        assert!(Config::new(&o, "regtest").is_err());
    }

    #[test]
    fn client_timeout_is_at_least_the_retry_timeout() {
        let mut o = opts();
        o.rpcclienttimeout = 5;
        o.retry_timeout = 30;
        let c = Config::new(&o, "regtest").unwrap();
        assert_eq!(c.timeout, Duration::from_secs(30));
        o.retry_timeout = -1;
        assert!(Config::new(&o, "regtest").is_err());
    }
}

//! bitcoind-style command lines: `-name=value` options (also `--name`, `-noname`), the
//! `bitcoin.conf` in the data directory, and the `bitcoin-cli`-like client's argument
//! conversion (which positional arguments are JSON rather than strings).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Parsed `-name[=value]` options; the first value of a name wins (command line before file).
#[derive(Debug, Default, Clone)]
pub struct Options {
    values: HashMap<String, String>,
    /// Arguments that are not options (the client's method and its parameters).
    pub positional: Vec<String>,
}

impl Options {
    /// Parses `args` (without the program name). Options stop at the first non-option.
    pub fn parse(args: &[String]) -> Options {
        let mut o = Options::default();
        let mut in_options = true;
        for a in args {
            if in_options && a.starts_with('-') && a.len() > 1 && a.parse::<f64>().is_err() {
                let body = a.trim_start_matches('-');
                let (name, value) = match body.split_once('=') {
                    Some((n, v)) => (n.to_string(), v.to_string()),
                    None => (body.to_string(), "1".to_string()),
                };
                o.set(name, value);
            } else {
                in_options = false;
                o.positional.push(a.clone());
            }
        }
        o
    }

    fn set(&mut self, name: String, value: String) {
        // `-noX` is `-X=0`, as bitcoind reads it.
        let (name, value) = match name.strip_prefix("no") {
            Some(rest) if !rest.is_empty() && KNOWN_NEGATABLE.contains(&rest) => {
                (rest.to_string(), "0".to_string())
            }
            _ => (name, value),
        };
        self.values.entry(name).or_insert(value);
    }

    /// Adds the settings of a `bitcoin.conf` (top level and `[regtest]` section;
    /// `regtest.name=value` too) for names not already set.
    pub fn merge_conf(&mut self, text: &str) {
        let mut section = String::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if line.starts_with('[') && line.ends_with(']') {
                section = line[1..line.len() - 1].trim().to_string();
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            let k = match k.split_once('.') {
                Some(("regtest", name)) => name,
                Some(_) => continue,
                None => k,
            };
            if section.is_empty() || section == "regtest" {
                self.set(k.to_string(), v.to_string());
            }
        }
    }

    /// An option's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A boolean option (`-x`, `-x=1`: true; `-x=0`, `-nox`: false).
    pub fn flag(&self, name: &str) -> Option<bool> {
        self.get(name)
            .map(|v| v != "0" && !v.eq_ignore_ascii_case("false"))
    }

    /// `-datadir` (default `~/.bitcoin`, as bitcoind).
    pub fn datadir(&self) -> PathBuf {
        match self.get("datadir") {
            Some(d) => PathBuf::from(d),
            None => std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default()
                .join(".bitcoin"),
        }
    }

    /// Reads `-conf` (default `<datadir>/bitcoin.conf`) if it exists.
    pub fn load_conf(&mut self) {
        let path = match self.get("conf") {
            Some(c) if Path::new(c).is_absolute() => PathBuf::from(c),
            Some(c) => self.datadir().join(c),
            None => self.datadir().join("bitcoin.conf"),
        };
        if let Ok(text) = std::fs::read_to_string(path) {
            self.merge_conf(&text);
        }
    }

    /// Names set that devchain does not act on (logged once at start).
    pub fn ignored(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .values
            .keys()
            .map(String::as_str)
            .filter(|k| !USED.contains(k))
            .collect();
        v.sort_unstable();
        v
    }
}

/// Options devchain acts on.
const USED: &[&str] = &[
    "regtest",
    "datadir",
    "conf",
    "rpcport",
    "rpcbind",
    "rpcuser",
    "rpcpassword",
    "printtoconsole",
    "fallbackfee",
    "debug",
    "rpcconnect",
    "rpcwait",
    "rpcwaittimeout",
    "rpcclienttimeout",
    "stdin",
    "stdinrpcpass",
    "chain",
];

/// Names bitcoind lets you negate with `-no`.
const KNOWN_NEGATABLE: &[&str] = &[
    "wallet",
    "printtoconsole",
    "txindex",
    "listen",
    "connect",
    "daemon",
    "server",
];

/// Which positional parameters `bitcoin-cli` sends as JSON (its `vRPCConvertParams`).
const CONVERT: &[(&str, usize)] = &[
    ("getblockhash", 0),
    ("getblock", 1),
    ("getblockheader", 1),
    ("gettxout", 1),
    ("gettxout", 2),
    ("getrawtransaction", 1),
    ("sendrawtransaction", 1),
    ("sendrawtransaction", 2),
    ("testmempoolaccept", 0),
    ("testmempoolaccept", 1),
    ("getrawmempool", 0),
    ("getrawmempool", 1),
    ("estimatesmartfee", 0),
    ("generatetoaddress", 0),
    ("generatetoaddress", 2),
    ("generateblock", 1),
    ("generateblock", 2),
    ("sendtoaddress", 1),
    ("sendtoaddress", 4),
    ("sendtoaddress", 5),
    ("sendtoaddress", 6),
    ("sendtoaddress", 8),
    ("sendtoaddress", 9),
    ("sendtoaddress", 10),
    ("setfeerate", 0),
    ("setmocktime", 0),
    ("getbalance", 1),
    ("getbalance", 2),
    ("getbalance", 3),
    ("decoderawtransaction", 1),
    ("createwallet", 1),
    ("createwallet", 2),
    ("createwallet", 4),
    ("createwallet", 5),
    ("createwallet", 6),
    ("createwallet", 7),
    ("loadwallet", 1),
];

/// Turns the client's string arguments into JSON parameters for `method`.
pub fn convert_params(method: &str, args: &[String]) -> Vec<Value> {
    args.iter()
        .enumerate()
        .map(|(i, a)| {
            if CONVERT.contains(&(method, i)) {
                serde_json::from_str(a).unwrap_or_else(|_| Value::String(a.clone()))
            } else {
                Value::String(a.clone())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn bitcoind_options_and_conf() {
        let mut o = Options::parse(&args(&[
            "-regtest",
            "-datadir=/x",
            "--rpcport=1234",
            "-nowallet",
            "getblock",
            "-1",
        ]));
        assert_eq!(o.get("datadir"), Some("/x"));
        assert_eq!(o.get("rpcport"), Some("1234"));
        assert_eq!(o.flag("wallet"), Some(false));
        assert_eq!(o.positional, vec!["getblock", "-1"]);
        o.merge_conf("rpcuser=u\nrpcport=9\n[main]\nrpcpassword=no\n[regtest]\nrpcpassword=p\n");
        assert_eq!(o.get("rpcuser"), Some("u"));
        assert_eq!(o.get("rpcport"), Some("1234"));
        assert_eq!(o.get("rpcpassword"), Some("p"));
    }

    #[test]
    fn client_converts_numbers_only_where_bitcoin_cli_does() {
        let p = convert_params("generatetoaddress", &args(&["101", "bcrt1qxyz"]));
        assert_eq!(
            p,
            vec![serde_json::json!(101), serde_json::json!("bcrt1qxyz")]
        );
        let p = convert_params("getblock", &args(&["0011", "0"]));
        assert_eq!(p, vec![serde_json::json!("0011"), serde_json::json!(0)]);
    }
}

//! Where the socket is: `--lightning-dir` (default `~/.boltd`), `--network` (default
//! `bitcoin`) and `--rpc-file` (default `lightning-rpc`; an absolute path overrides the
//! directory), as lightning-cli resolves them. Like lightning-cli we also read the
//! `network`/`rpc-file` lines of `<lightning-dir>/config` (or `--conf`) and
//! `<lightning-dir>/<network>/config`, so a node configured for regtest is found by a
//! plain `bolt-cli getinfo`. The command line always wins.

use std::path::{Path, PathBuf};

pub const DEFAULT_DIR: &str = ".boltd";
pub const DEFAULT_NETWORK: &str = "bitcoin";
pub const DEFAULT_RPC_FILE: &str = "lightning-rpc";

/// What the command line said (all optional).
#[derive(Debug, Default, Clone)]
pub struct Given {
    pub lightning_dir: Option<PathBuf>,
    pub network: Option<String>,
    pub rpc_file: Option<String>,
    pub conf: Option<PathBuf>,
}

/// The directory to chdir into and the socket name inside it (kept apart so a long
/// temporary path never hits the 108-byte `sun_path` limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketPath {
    pub dir: PathBuf,
    pub file: String,
}

/// The `network` and `rpc-file` settings of one config file, if it exists.
fn read_conf(path: &Path) -> (Option<String>, Option<String>) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return (None, None);
    };
    let (mut network, mut rpc_file) = (None, None);
    for line in text.lines() {
        let line = line.trim();
        match line.split_once('=') {
            Some(("network", v)) => network = Some(v.trim().to_string()),
            Some(("rpc-file", v)) => rpc_file = Some(v.trim().to_string()),
            None if matches!(line, "mainnet" | "testnet" | "signet" | "regtest") => {
                network = Some(if line == "mainnet" { "bitcoin" } else { line }.to_string())
            }
            _ => {}
        }
    }
    (network, rpc_file)
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Resolves the socket location.
pub fn resolve(given: &Given) -> SocketPath {
    let base = given
        .lightning_dir
        .clone()
        .unwrap_or_else(|| home().join(DEFAULT_DIR));
    let (conf_net, conf_rpc) =
        read_conf(&given.conf.clone().unwrap_or_else(|| base.join("config")));
    let network = given
        .network
        .clone()
        .or(conf_net)
        .unwrap_or_else(|| DEFAULT_NETWORK.to_string());
    let net_dir = base.join(&network);
    let (_, net_rpc) = read_conf(&net_dir.join("config"));
    let rpc_file = given
        .rpc_file
        .clone()
        .or(net_rpc)
        .or(conf_rpc)
        .unwrap_or_else(|| DEFAULT_RPC_FILE.to_string());
    let rpc = Path::new(&rpc_file);
    if rpc.is_absolute() {
        let dir = rpc
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| "/".into());
        let file = rpc
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        return SocketPath { dir, file };
    }
    SocketPath {
        dir: net_dir,
        file: rpc_file,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_network_and_file_combine() {
        let g = Given {
            lightning_dir: Some("/nonexistent/ln".into()),
            network: Some("regtest".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve(&g),
            SocketPath {
                dir: "/nonexistent/ln/regtest".into(),
                file: "lightning-rpc".into()
            }
        );
    }

    #[test]
    fn absolute_rpc_file_overrides_the_directory() {
        let g = Given {
            lightning_dir: Some("/nonexistent/ln".into()),
            rpc_file: Some("/tmp/x/sock".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve(&g),
            SocketPath {
                dir: "/tmp/x".into(),
                file: "sock".into()
            }
        );
    }

    #[test]
    fn config_file_supplies_network_and_command_line_wins() {
        let dir = std::env::temp_dir().join(format!("bolt-cli-conf-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("regtest")).unwrap();
        std::fs::write(dir.join("config"), "# comment\nregtest\nalias=x\n").unwrap();
        std::fs::write(dir.join("regtest/config"), "rpc-file=my-rpc\n").unwrap();
        let mut g = Given {
            lightning_dir: Some(dir.clone()),
            ..Default::default()
        };
        assert_eq!(resolve(&g).dir, dir.join("regtest"));
        assert_eq!(resolve(&g).file, "my-rpc");
        g.network = Some("signet".into());
        assert_eq!(resolve(&g).dir, dir.join("signet"));
        assert_eq!(resolve(&g).file, "lightning-rpc");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Starting a devchain for a test or a daemon: in-process on its own thread and runtime, or
//! as a child process of the `devchain` binary. Both listen on a random loopback port and
//! are ready when `spawn` returns (the RPC answers).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::server::{Config, Server};

/// Why a devchain did not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The server failed to start.
    #[error("devchain did not start: {0}")]
    Start(String),
}

/// An in-process devchain; stopped when dropped.
#[derive(Debug)]
pub struct DevChain {
    /// `http://127.0.0.1:<port>/`.
    pub rpc_url: String,
    /// The RPC port.
    pub port: u16,
    /// RPC user (`__cookie__` with cookie auth).
    pub user: String,
    /// RPC password.
    pub password: String,
    /// `<datadir>/regtest/.cookie`.
    pub cookie_path: PathBuf,
    /// The `-datadir`.
    pub datadir: PathBuf,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DevChain {
    /// Starts a devchain with its chain in `datadir` (created if missing) on a random port.
    pub fn spawn(datadir: &Path) -> Result<DevChain, SpawnError> {
        let mut config = Config::new(datadir);
        config.rpc_port = 0;
        DevChain::spawn_with(config)
    }

    /// Starts one with explicit settings.
    pub fn spawn_with(config: Config) -> Result<DevChain, SpawnError> {
        let datadir = config.datadir.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("devchain".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                rt.block_on(async move {
                    match Server::bind(config).await {
                        Ok(server) => {
                            let info = (server.port, server.credentials.clone(), server.stopper());
                            let _ = ready_tx.send(Ok(info));
                            server.run().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                        }
                    }
                });
            })
            .map_err(|e| SpawnError::Start(e.to_string()))?;
        let (port, creds, stop) = ready_rx
            .recv()
            .map_err(|_| SpawnError::Start("server thread ended".into()))?
            .map_err(SpawnError::Start)?;
        Ok(DevChain {
            rpc_url: format!("http://127.0.0.1:{port}/"),
            port,
            user: creds.user,
            password: creds.password,
            cookie_path: datadir.join("regtest").join(".cookie"),
            datadir,
            stop,
            thread: Some(thread),
        })
    }

    /// The RPC address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// A new client.
    pub fn client(&self) -> Client {
        Client::new(self.addr(), &self.user, &self.password)
    }

    /// Mines `n` blocks to the faucet (101 makes its first coinbase spendable).
    pub fn mine(&self, n: u32) -> Result<Vec<bitcoin::BlockHash>, crate::ClientError> {
        let mut rpc = self.client();
        let addr = rpc.call("getnewaddress", serde_json::json!([]))?;
        let hashes = rpc.call("generatetoaddress", serde_json::json!([n, addr]))?;
        serde_json::from_value::<Vec<String>>(hashes)
            .ok()
            .and_then(|v| v.iter().map(|h| h.parse().ok()).collect())
            .ok_or_else(|| {
                crate::ClientError::Protocol("generatetoaddress: not a list of hashes".into())
            })
    }

    /// Pays `amount` to `address` from the faucet (unconfirmed until the next block).
    pub fn fund(
        &self,
        address: &str,
        amount: bitcoin::Amount,
    ) -> Result<bitcoin::Txid, crate::ClientError> {
        let txid = self.client().call(
            "sendtoaddress",
            serde_json::json!([address, amount.to_btc()]),
        )?;
        txid.as_str()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| crate::ClientError::Protocol("sendtoaddress: not a txid".into()))
    }
}

impl Drop for DevChain {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A devchain child process (the `devchain` binary); killed when dropped.
#[derive(Debug)]
pub struct DevChainProcess {
    /// The RPC port.
    pub port: u16,
    /// `http://127.0.0.1:<port>/`.
    pub rpc_url: String,
    /// `<datadir>/regtest/.cookie`.
    pub cookie_path: PathBuf,
    /// The `-datadir`.
    pub datadir: PathBuf,
    child: Child,
}

impl DevChainProcess {
    /// Runs `binary -regtest -datadir=<datadir> -rpcport=0` (plus `extra` arguments) and
    /// waits until its RPC answers (at most 30 s).
    pub fn spawn(
        binary: &Path,
        datadir: &Path,
        extra: &[&str],
    ) -> Result<DevChainProcess, SpawnError> {
        let netdir = datadir.join("regtest");
        let _ = std::fs::remove_file(netdir.join("rpcport"));
        let _ = std::fs::remove_file(netdir.join(".cookie"));
        let child = Command::new(binary)
            .arg("-regtest")
            .arg(format!("-datadir={}", datadir.display()))
            .arg("-rpcport=0")
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| SpawnError::Start(format!("{}: {e}", binary.display())))?;
        let mut p = DevChainProcess {
            port: 0,
            rpc_url: String::new(),
            cookie_path: netdir.join(".cookie"),
            datadir: datadir.to_path_buf(),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = p.child.try_wait() {
                return Err(SpawnError::Start(format!("exited with {status}")));
            }
            let port = std::fs::read_to_string(netdir.join("rpcport"))
                .ok()
                .and_then(|s| s.trim().parse::<u16>().ok());
            if let Some(port) = port {
                p.port = port;
                p.rpc_url = format!("http://127.0.0.1:{port}/");
                if let Ok(mut c) = p.client() {
                    if c.call("getblockcount", serde_json::json!([])).is_ok() {
                        return Ok(p);
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(SpawnError::Start("no RPC answer within 30 s".into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A client using the cookie.
    pub fn client(&self) -> Result<Client, crate::ClientError> {
        Client::with_cookie(
            SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)),
            &self.cookie_path,
        )
    }

    /// Waits for the process to exit (after `stop`).
    pub fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait()
    }
}

impl Drop for DevChainProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

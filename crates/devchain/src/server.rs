//! Starting and stopping the server: open the node, bind the RPC port, write the cookie,
//! accept connections (bounded) until `stop` or a signal, then remove the cookie.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::http::{self, Credentials};
use crate::node::{Node, NodeOptions, OpenError};
use crate::rpc::Shared;

/// Regtest's default RPC port.
pub const DEFAULT_RPC_PORT: u16 = 18443;
/// At most this many connections are served at once; more wait in the accept queue.
const MAX_CONNECTIONS: usize = 64;

/// Server settings (what the command line and `bitcoin.conf` decide).
#[derive(Debug, Clone)]
pub struct Config {
    /// `-datadir`; the chain lives in `<datadir>/regtest`.
    pub datadir: PathBuf,
    /// `-rpcbind` addresses (default loopback).
    pub rpc_bind: Vec<IpAddr>,
    /// `-rpcport`; 0 lets the OS pick (the port is then written to `<datadir>/regtest/rpcport`).
    pub rpc_port: u16,
    /// `-rpcuser`.
    pub rpc_user: Option<String>,
    /// `-rpcpassword`; without it a cookie is written.
    pub rpc_password: Option<String>,
    /// Node behaviour.
    pub node: NodeOptions,
}

impl Config {
    /// Defaults for `datadir`: loopback, port 18443, cookie auth.
    pub fn new(datadir: impl Into<PathBuf>) -> Config {
        Config {
            datadir: datadir.into(),
            rpc_bind: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            rpc_port: DEFAULT_RPC_PORT,
            rpc_user: None,
            rpc_password: None,
            node: NodeOptions::default(),
        }
    }

    /// `<datadir>/regtest`.
    pub fn net_dir(&self) -> PathBuf {
        self.datadir.join("regtest")
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The chain could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Binding or file trouble.
    #[error("{0}")]
    Io(String),
}

/// A bound, ready server.
#[derive(Debug)]
pub struct Server {
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
    creds: Arc<Credentials>,
    stopped: watch::Receiver<bool>,
    /// The port the RPC listens on.
    pub port: u16,
    /// The credentials a client must send.
    pub credentials: Credentials,
    /// The cookie file, when cookie auth is in use.
    pub cookie_path: Option<PathBuf>,
}

fn write_cookie(dir: &Path) -> Result<(PathBuf, Credentials), ServerError> {
    let secret: [u8; 32] = rand::random();
    let creds = Credentials {
        user: "__cookie__".into(),
        password: hex::encode(secret),
    };
    let path = dir.join(".cookie");
    let tmp = dir.join(".cookie.tmp");
    std::fs::write(&tmp, format!("{}:{}", creds.user, creds.password))
        .map_err(|e| ServerError::Io(format!("{}: {e}", tmp.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600));
    }
    std::fs::rename(&tmp, &path)
        .map_err(|e| ServerError::Io(format!("{}: {e}", path.display())))?;
    Ok((path, creds))
}

impl Server {
    /// Opens the chain and binds the RPC port. Must run inside a tokio runtime.
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let dir = config.net_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|e| ServerError::Io(format!("{}: {e}", dir.display())))?;
        let node_dir = dir.clone();
        let opts = config.node.clone();
        let node = tokio::task::spawn_blocking(move || Node::open(&node_dir, opts))
            .await
            .map_err(|e| ServerError::Io(e.to_string()))??;
        let (tx, rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            node: Mutex::new(node),
            shutdown: tx,
            wallets: Mutex::new(Vec::new()),
        });
        let mut listeners = Vec::new();
        let mut port = config.rpc_port;
        for ip in &config.rpc_bind {
            let listener = TcpListener::bind(SocketAddr::new(*ip, port))
                .await
                .map_err(|e| {
                    ServerError::Io(format!(
                        "Unable to bind to {ip}:{port} on this computer: {e}"
                    ))
                })?;
            port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
            tracing::info!("Binding RPC on address {ip} port {port}");
            listeners.push(listener);
        }
        std::fs::write(dir.join("rpcport"), format!("{port}\n"))
            .map_err(|e| ServerError::Io(e.to_string()))?;
        let (cookie_path, credentials) = match (&config.rpc_user, &config.rpc_password) {
            (Some(u), Some(p)) => (
                None,
                Credentials {
                    user: u.clone(),
                    password: p.clone(),
                },
            ),
            _ => {
                let (path, creds) = write_cookie(&dir)?;
                tracing::info!("Generated RPC authentication cookie {}", path.display());
                (Some(path), creds)
            }
        };
        Ok(Server {
            listeners,
            creds: Arc::new(credentials.clone()),
            shared,
            stopped: rx,
            port,
            credentials,
            cookie_path,
        })
    }

    /// A sender that stops the server (what the `stop` RPC uses).
    pub fn stopper(&self) -> watch::Sender<bool> {
        self.shared.shutdown.clone()
    }

    /// Serves until stopped, then removes the cookie.
    pub async fn run(self) {
        tracing::info!("Done loading");
        let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut tasks = Vec::new();
        for listener in self.listeners {
            let shared = self.shared.clone();
            let creds = self.creds.clone();
            let limit = limit.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok(permit) = limit.clone().acquire_owned().await else {
                        return;
                    };
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let (shared, creds) = (shared.clone(), creds.clone());
                    tokio::spawn(async move {
                        http::serve(stream, shared, creds).await;
                        drop(permit);
                    });
                }
            }));
        }
        let mut stopped = self.stopped;
        while !*stopped.borrow() {
            if stopped.changed().await.is_err() {
                break;
            }
        }
        tracing::info!("Shutdown: In progress...");
        // Let the `stop` reply (and any other in-flight reply) reach its caller.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        for t in tasks {
            t.abort();
        }
        let saved = self.shared.node().save_mempool();
        if let Err(e) = saved {
            tracing::warn!("mempool not saved: {e}");
        }
        if let Some(path) = &self.cookie_path {
            let _ = std::fs::remove_file(path);
        }
        tracing::info!("Shutdown: done");
    }
}

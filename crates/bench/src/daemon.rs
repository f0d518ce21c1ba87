//! A throw-away boltd for `bench all`: temporary lightning-dir, regtest, log to a file;
//! stopped with the `stop` RPC (killed if that fails) when dropped.

use crate::client::RpcClient;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    child: Child,
    /// Kept so the directory lives as long as the daemon.
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
}

/// `--boltd`, else `$BOLTD_BIN`, else `boltd` next to this executable.
pub fn default_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("BOLTD_BIN") {
        return p.into();
    }
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("boltd")))
        .unwrap_or_else(|| "boltd".into())
}

impl Daemon {
    pub async fn start(binary: &Path, extra: &[String]) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("bench-boltd-").tempdir()?;
        Self::start_in(binary, dir, extra).await
    }

    /// Starts boltd on an existing lightning-dir (a restart).
    pub async fn start_in(binary: &Path, dir: tempfile::TempDir, extra: &[String]) -> Result<Self> {
        let log = dir.path().join("log");
        let child = Command::new(binary)
            .arg(format!("--lightning-dir={}", dir.path().display()))
            .arg("--network=regtest")
            .arg(format!("--log-file={}", log.display()))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // Kept next to the log: a panic's message goes to stderr.
            .stderr(
                std::fs::File::create(dir.path().join("stderr"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let socket = dir.path().join("regtest").join("lightning-rpc");
        let mut d = Daemon { child, dir, socket };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = d.child.try_wait()? {
                bail!(
                    "boltd exited during start-up ({status}); log: {}",
                    log.display()
                );
            }
            if let Ok(mut c) = RpcClient::connect(&d.socket, "bench-start").await {
                if c.call("getinfo", json!([])).await.is_ok() {
                    return Ok(d);
                }
            }
            if Instant::now() > deadline {
                bail!("boltd socket did not answer within 30s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it and keeps its lightning-dir (for a restart).
    pub async fn stop_keep(mut self) -> Result<tempfile::TempDir> {
        self.stop_child().await;
        // Swap the real dir out before `self` drops (Drop only touches the child).
        let spare = tempfile::Builder::new().tempdir()?;
        Ok(std::mem::replace(&mut self.dir, spare))
    }

    pub async fn stop(mut self) {
        self.stop_child().await;
    }

    async fn stop_child(&mut self) {
        if let Ok(mut c) = RpcClient::connect(&self.socket, "bench-stop").await {
            let _ = tokio::time::timeout(Duration::from_secs(10), c.call("stop", json!([]))).await;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Only reached without `stop` on an error path: never leave a daemon behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

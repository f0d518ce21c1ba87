//! A throw-away boltd for `bench all`: temporary lightning-dir, regtest, log to a file;
//! stopped with the `stop` RPC (killed if that fails) when dropped.

use crate::client::RpcClient;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    child: Guard,
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
        Self::start_in(dir, binary, extra).await
    }

    /// Starts boltd on `dir` (a directory [`Daemon::stop_keeping_dir`] gave back: a
    /// restart of the same node).
    pub async fn start_in(dir: tempfile::TempDir, binary: &Path, extra: &[String]) -> Result<Self> {
        let log = dir.path().join("log");
        let child = Command::new(binary)
            .arg(format!("--lightning-dir={}", dir.path().display()))
            .arg("--network=regtest")
            .arg(format!("--log-file={}", log.display()))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let socket = dir.path().join("regtest").join("lightning-rpc");
        let mut d = Daemon {
            child: Guard(child),
            dir,
            socket,
        };
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

    /// CPU time and context switches of the daemon and of its plugins so far.
    pub fn cost(&self) -> crate::stats::Cost {
        crate::stats::Cost::of(self.pid())
    }

    pub async fn stop(self) {
        let dir = self.stop_keeping_dir().await;
        // BENCH_KEEP_DIRS=1 keeps each node's lightning-dir (its log) for a look afterwards.
        if std::env::var_os("BENCH_KEEP_DIRS").is_some() {
            eprintln!("# kept {}", dir.keep().display());
        }
    }

    /// The process id (RSS figures).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the daemon and hands its directory back (for [`Daemon::start_in`]).
    pub async fn stop_keeping_dir(mut self) -> tempfile::TempDir {
        if let Ok(mut c) = RpcClient::connect(&self.socket, "bench-stop").await {
            let _ = tokio::time::timeout(Duration::from_secs(10), c.call("stop", json!([]))).await;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.dir;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.dir
    }
}

/// The boltd process, killed if dropped while running (the daemon's fields can still be
/// moved out, e.g. its directory for a restart).
struct Guard(Child);

impl std::ops::Deref for Guard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Only reached without `stop` on an error path: never leave a daemon behind.
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

//! One boltd process in its own lightning-dir: start, RPC with a timeout, and what
//! `/proc` says about it (open fds, RSS, threads, child processes).

use anyhow::{anyhow, bail, Context, Result};
use bench::client::RpcClient;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Every RPC the soak makes is bounded by this: a daemon that does not answer within it
/// is a finding, not a hung soak.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Node {
    pub name: String,
    pub dir: PathBuf,
    child: std::sync::Mutex<Child>,
    pid: u32,
    pub socket: PathBuf,
    pub id: String,
    pub port: u16,
}

/// What `/proc/<pid>` says about a process at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcStats {
    pub fds: usize,
    pub rss_kb: u64,
    pub threads: u64,
    pub children: usize,
    pub zombies: usize,
}

impl Node {
    /// Starts boltd (regtest, peer port on a random loopback port, debug log to
    /// `<dir>/log`) with `plugins` as `--plugin`, and waits until `getinfo` answers.
    pub async fn start(
        binary: &Path,
        name: &str,
        dir: &Path,
        plugins: &[PathBuf],
        path_env: &str,
    ) -> Result<Node> {
        std::fs::create_dir_all(dir)?;
        let out = std::fs::File::create(dir.join("stdout"))?;
        let err = std::fs::File::create(dir.join("stderr"))?;
        let mut cmd = Command::new(binary);
        cmd.arg(format!("--lightning-dir={}", dir.display()))
            .arg("--network=regtest")
            .arg(format!("--log-file={}", dir.join("log").display()))
            .arg("--log-level=debug")
            .arg("--bind-addr=127.0.0.1:0")
            .arg(format!("--alias={name}"))
            .env("PATH", path_env)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for p in plugins {
            cmd.arg(format!("--plugin={}", p.display()));
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let socket = dir.join("regtest").join("lightning-rpc");
        let deadline = Instant::now() + Duration::from_secs(60);
        let info = loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "{name} exited during start-up ({status}); see {}",
                    dir.display()
                );
            }
            if let Ok(mut c) = RpcClient::connect(&socket, "soak-start").await {
                if let Ok(Ok(Ok(v))) =
                    tokio::time::timeout(RPC_TIMEOUT, c.call("getinfo", json!([]))).await
                {
                    break v;
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("{name} did not answer getinfo within 60s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let id = info["id"]
            .as_str()
            .ok_or_else(|| anyhow!("getinfo without id: {info}"))?
            .to_string();
        let port = info["binding"][0]["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| anyhow!("getinfo without binding port: {info}"))?;
        Ok(Node {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            pid: child.id(),
            child: std::sync::Mutex::new(child),
            socket,
            id,
            port,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn net_dir(&self) -> PathBuf {
        self.dir.join("regtest")
    }

    fn child(&self) -> std::sync::MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `None` while running, else how it exited.
    pub fn exited(&self) -> Option<std::process::ExitStatus> {
        self.child().try_wait().ok().flatten()
    }

    /// `stop` over RPC, then wait up to 30 s for the exit (SIGKILL after that).
    pub async fn stop(&self) -> Option<std::process::ExitStatus> {
        let _ = self.call("stop", json!([])).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut c = self.child();
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    pub async fn client(&self, tag: &str) -> Result<RpcClient> {
        RpcClient::connect(&self.socket, &format!("{}-{tag}", self.name)).await
    }

    /// One call on a fresh connection.
    pub async fn call(&self, method: &str, params: Value) -> Result<Result<Value, Value>> {
        let mut c = self.client("oneshot").await?;
        call(&mut c, method, params).await
    }

    pub fn stats(&self) -> ProcStats {
        proc_stats(self.pid())
    }

    /// Pids of the daemon's child processes whose command line mentions `fragment`.
    pub fn children_matching(&self, fragment: &str) -> Vec<u32> {
        children(self.pid())
            .into_iter()
            .filter(|c| {
                std::fs::read(format!("/proc/{c}/cmdline"))
                    .map(|b| String::from_utf8_lossy(&b).contains(fragment))
                    .unwrap_or(false)
            })
            .collect()
    }
}

/// A call bounded by [`RPC_TIMEOUT`]; a timeout is an `Err` like a transport failure.
pub async fn call(c: &mut RpcClient, method: &str, params: Value) -> Result<Result<Value, Value>> {
    tokio::time::timeout(RPC_TIMEOUT, c.call(method, params))
        .await
        .map_err(|_| anyhow!("{method}: no answer within {RPC_TIMEOUT:?}"))?
}

/// Direct children of `pid` (every thread's `children` list).
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(s.split_whitespace().filter_map(|x| x.parse::<u32>().ok()));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

pub fn proc_stats(pid: u32) -> ProcStats {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let kids = children(pid);
    let zombies = kids
        .iter()
        .filter(|c| {
            std::fs::read_to_string(format!("/proc/{c}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .map(|(_, r)| r.trim_start().starts_with('Z'))
                })
                .unwrap_or(false)
        })
        .count();
    ProcStats {
        fds,
        rss_kb: field("VmRSS:"),
        threads: field("Threads:"),
        children: kids.len(),
        zombies,
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Never leave a daemon behind, whatever path we left by.
        let mut c = self.child();
        if let Ok(None) = c.try_wait() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

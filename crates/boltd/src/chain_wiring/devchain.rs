//! The embedded regtest chain: with `--network=regtest` and no `--bitcoin-*` option, boltd
//! uses a `devchain` server in a per-user directory (or `--dev-chain-dir`), starting the
//! `devchain` binary found next to boltd if nothing answers there, and points bcli at it.
//!
//! The server outlives the boltd that started it (its own process group, like a bitcoind
//! the user started), so every node started the same way shares one chain and later
//! starts only connect. Concurrent starters take turns on `<dir>/starting.lock`: the
//! first starts the server, the others find it answering (and devchain's own datadir
//! lock still refuses a second server, whoever starts it).

use std::fs::OpenOptions;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a starter waits for a devchain to answer (its own or a racing starter's).
pub const START_WAIT: Duration = Duration::from_secs(30);

/// Why no dev chain could be used.
#[derive(Debug, thiserror::Error)]
pub enum DevChainError {
    #[error("dev chain directory {dir}: {err}")]
    Dir { dir: PathBuf, err: std::io::Error },
    #[error("cannot start {exe}: {err}")]
    Spawn { exe: PathBuf, err: std::io::Error },
    #[error("no devchain answered in {dir} within {after:?} (see {log})")]
    NoAnswer {
        dir: PathBuf,
        after: Duration,
        log: PathBuf,
    },
}

/// A dev chain that answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevChainRef {
    /// The `-datadir` (bcli's `--bitcoin-datadir`: the cookie is in `regtest/.cookie`).
    pub dir: PathBuf,
    pub port: u16,
    /// Whether this call started it.
    pub started: bool,
}

impl DevChainRef {
    /// The bcli options that point at it.
    pub fn bcli_options(&self) -> Vec<(&'static str, String)> {
        vec![
            ("bitcoin-datadir", self.dir.display().to_string()),
            ("bitcoin-rpcconnect", "127.0.0.1".to_string()),
            ("bitcoin-rpcport", self.port.to_string()),
        ]
    }
}

/// The per-user default: `$HOME/.boltd/devchain` (or `./.boltd/devchain` with no home).
pub fn default_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".boltd")
        .join("devchain")
}

/// The port of a devchain answering in `dir`, if one does.
pub fn probe(dir: &Path) -> Option<u16> {
    let netdir = dir.join("regtest");
    let port: u16 = std::fs::read_to_string(netdir.join("rpcport"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut client = devchain::Client::with_cookie(addr, &netdir.join(".cookie")).ok()?;
    client.set_timeout(Duration::from_secs(2));
    let info = client
        .call("getblockchaininfo", serde_json::json!([]))
        .ok()?;
    (info.get("chain").and_then(|c| c.as_str()) == Some("regtest")).then_some(port)
}

/// Uses the devchain answering in `dir`, or starts `exe` there and waits (at most `wait`)
/// until one answers. Blocking: call it from a blocking thread.
pub fn ensure(dir: &Path, exe: &Path, wait: Duration) -> Result<DevChainRef, DevChainError> {
    std::fs::create_dir_all(dir).map_err(|err| DevChainError::Dir {
        dir: dir.to_path_buf(),
        err,
    })?;
    let dir = dir.canonicalize().map_err(|err| DevChainError::Dir {
        dir: dir.to_path_buf(),
        err,
    })?;
    if let Some(port) = probe(&dir) {
        return Ok(DevChainRef {
            dir,
            port,
            started: false,
        });
    }
    // One starter at a time: the others wait here, then find the server answering (so
    // exactly one of them starts it, and says so). The kernel drops the lock if we die.
    let _starting =
        lock_exclusive(&dir.join("starting.lock")).map_err(|err| DevChainError::Dir {
            dir: dir.clone(),
            err,
        })?;
    if let Some(port) = probe(&dir) {
        return Ok(DevChainRef {
            dir,
            port,
            started: false,
        });
    }
    let log = dir.join("devchain.log");
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|err| DevChainError::Dir {
            dir: dir.clone(),
            err,
        })?;
    let err = out.try_clone().map_err(|err| DevChainError::Dir {
        dir: dir.clone(),
        err,
    })?;
    let mut child = Command::new(exe)
        .arg("-regtest")
        .arg(format!("-datadir={}", dir.display()))
        .arg("-rpcport=0")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Its own process group: a Ctrl-C aimed at this boltd must not stop the chain
        // other nodes share.
        .process_group(0)
        .spawn()
        .map_err(|err| DevChainError::Spawn {
            exe: exe.to_path_buf(),
            err,
        })?;
    let deadline = Instant::now() + wait;
    let mut exited = false;
    loop {
        if let Some(port) = probe(&dir) {
            // Reap it whenever it ends so it never lingers as a zombie of ours.
            if !exited {
                std::thread::spawn(move || {
                    let _ = child.wait();
                });
            }
            return Ok(DevChainRef {
                dir,
                port,
                started: !exited,
            });
        }
        // Exited: most likely another starter holds the datadir's lock; wait for its
        // server to answer.
        if !exited && matches!(child.try_wait(), Ok(Some(_))) {
            exited = true;
        }
        if Instant::now() >= deadline {
            if !exited {
                let _ = child.kill();
                let _ = child.wait();
            }
            return Err(DevChainError::NoAnswer {
                dir,
                after: wait,
                log,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Opens `path` and holds an exclusive `flock` on it (blocking) until the file is dropped.
fn lock_exclusive(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::io::AsRawFd;
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    loop {
        // SAFETY: flock on a descriptor we own; no memory involved.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(f);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

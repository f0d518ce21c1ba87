//! The unix socket: bind (replacing a stale file, refusing a live one), accept until
//! shutdown, remove the file.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::UnixListener;
use tokio::sync::{watch, Semaphore};
use tokio_util::task::TaskTracker;

use super::dispatch::Dispatcher;
use crate::node::Node;

/// Longest path a `sockaddr_un` holds (minus the terminating NUL).
const MAX_SUN_PATH: usize = 107;

/// Binds the socket with mode `mode`. `shown` is the name used in errors (the
/// configured `--rpc-file`).
pub fn bind(
    path: &Path,
    shown: &str,
    mode: u32,
) -> Result<std::os::unix::net::UnixListener, String> {
    if path.as_os_str().len() > MAX_SUN_PATH {
        return Err(format!("rpc filename '{shown}' too long"));
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!("rpc filename '{shown}' in use"));
        }
        if !meta.file_type().is_socket() {
            return Err(format!("rpc filename '{shown}' exists and is not a socket"));
        }
        std::fs::remove_file(path).map_err(|e| format!("removing stale {shown}: {e}"))?;
    }
    // The socket is created with the mode already right: no window where it is wider.
    // SAFETY: umask only changes the process file-creation mask.
    let old = unsafe { libc::umask((mode ^ 0o777) as libc::mode_t) };
    let res = std::os::unix::net::UnixListener::bind(path);
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(old) };
    let l = res.map_err(|e| format!("binding rpc filename '{shown}': {e}"))?;
    l.set_nonblocking(true)
        .map_err(|e| format!("rpc socket: {e}"))?;
    Ok(l)
}

/// Client connections served at once; one more waits in the listen backlog until one
/// ends. Far above what a node sees (tests run 500 concurrent clients), low enough that a
/// flood of connections cannot take every file descriptor the peers need.
pub const MAX_CONNECTIONS: usize = 4096;

/// How many client connections are open, for shutdown to wait on without polling.
#[derive(Clone)]
pub struct LiveConns(Arc<watch::Sender<usize>>);

impl Default for LiveConns {
    fn default() -> Self {
        LiveConns(Arc::new(watch::channel(0).0))
    }
}

impl LiveConns {
    /// Waits until at most `n()` connections remain (`n` is re-read at every change).
    pub async fn until_at_most(&self, n: impl Fn() -> usize) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|live| *live <= n()).await;
    }

    fn enter(&self) -> LiveGuard {
        self.0.send_modify(|n| *n += 1);
        LiveGuard(self.clone())
    }
}

/// Counts one connection as open until dropped.
struct LiveGuard(LiveConns);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0 .0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Accepts connections until shutdown starts, then removes the socket file. Every
/// connection task is tracked so the daemon can wait for them to finish. Start it only
/// once the dispatcher is complete: accepting is what lets a client's bytes in.
pub async fn serve(
    listener: std::os::unix::net::UnixListener,
    path: PathBuf,
    node: Arc<Node>,
    dispatcher: Arc<Dispatcher>,
    tracker: TaskTracker,
    live: LiveConns,
) {
    let listener = match UnixListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("rpc socket: {e}");
            node.shutdown.trigger("rpc socket failed", 1);
            return;
        }
    };
    let shutdown = node.shutdown.clone();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.recv() => break,
        };
        tokio::select! {
            res = listener.accept() => match res {
                Ok((stream, _)) => {
                    let guard = live.enter();
                    let conn = super::conn::serve(stream, node.clone(), dispatcher.clone());
                    tracker.spawn(async move {
                        conn.await;
                        drop((guard, permit));
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("rpc accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.recv() => break,
        }
    }
    drop(listener);
    let _ = std::fs::remove_file(&path);
}

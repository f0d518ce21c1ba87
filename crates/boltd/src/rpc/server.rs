//! The unix socket: bind (replacing a stale file, refusing a live one), accept until
//! shutdown, remove the file.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::UnixListener;
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

/// Accepts connections until shutdown starts, then removes the socket file. Every
/// connection task is tracked so the daemon can wait for them to finish.
pub async fn serve(
    listener: std::os::unix::net::UnixListener,
    path: PathBuf,
    node: Arc<Node>,
    dispatcher: Arc<Dispatcher>,
    tracker: TaskTracker,
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
    loop {
        tokio::select! {
            res = listener.accept() => match res {
                Ok((stream, _)) => {
                    tracker.spawn(super::conn::serve(stream, node.clone(), dispatcher.clone()));
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

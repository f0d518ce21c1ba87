//! Where LDK's `PeerManager` runs: a tokio runtime of the peer layer's own, and
//! [`off_worker`] for the calls the daemon's runtime makes into it.
//!
//! Why: every read and flush of a peer socket calls into LDK, which may wait on a lock
//! whose holder is writing a monitor through the store, and a store write may wait for a
//! `db_write` plugin whose reply is read by a task on the daemon's runtime. A daemon worker
//! parked on such a lock is a worker (and, if it held tokio's I/O driver, the driver)
//! the reply needs; with the sockets here, the daemon's workers never wait for a peer.
//! The peer runtime's own workers may wait: what they wait for never needs them.

use std::net::TcpListener as StdTcpListener;

use tokio::runtime::{Builder, Handle, Runtime, RuntimeFlavor};

/// Workers of the peer runtime: LDK serialises most of its work on its own locks, so
/// more would only wait; two keep peers moving while one waits on LDK.
const PEER_WORKERS: usize = 2;

/// The peer layer's runtime; stopped (without waiting for its tasks) when dropped.
pub(crate) struct PeerRuntime {
    rt: Option<Runtime>,
    handle: Handle,
}

impl PeerRuntime {
    pub fn new() -> std::io::Result<PeerRuntime> {
        let rt = Builder::new_multi_thread()
            .worker_threads(PEER_WORKERS)
            .thread_name("boltd-peer")
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        Ok(PeerRuntime {
            rt: Some(rt),
            handle,
        })
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for PeerRuntime {
    fn drop(&mut self) {
        // A plain drop waits for blocking work and panics inside an async context.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A listening socket bound now (so the caller learns its port) and accepted on the peer
/// runtime later.
pub(crate) fn bind(addr: std::net::SocketAddr) -> std::io::Result<StdTcpListener> {
    let l = StdTcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Runs `f`, which may wait on LDK's locks, without holding a worker of the calling
/// multi-thread runtime (its other tasks move to another thread first). On a
/// current-thread runtime, or outside one, `f` simply runs.
pub fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

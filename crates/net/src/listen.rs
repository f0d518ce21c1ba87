//! Inbound connections: the accept loop on each listening socket.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::custom::Shared;
use crate::node::Pm;
use crate::socket::serve_inbound;

/// Inbound peer connections served at once; more wait in the listen backlog until one
/// ends. Far above what tests or a small node see, low enough that a connection flood
/// cannot take every file descriptor (the RPC socket and the store need some too).
pub const MAX_INBOUND: usize = 2048;

/// Runs on the peer runtime (the listener is registered with the runtime it runs on).
pub(crate) async fn accept_loop(listener: std::net::TcpListener, pm: Arc<Pm>, shared: Arc<Shared>) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("cannot listen for peers: {e}");
            return;
        }
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_INBOUND));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, from)) => match nodelay(stream).into_std() {
                Ok(s) => {
                    tracing::trace!(%from, "inbound connection");
                    // The connection's end frees its slot.
                    let served = serve_inbound(pm.clone(), shared.clone(), s);
                    tokio::spawn(async move {
                        served.await;
                        drop(permit);
                    });
                }
                Err(e) => tracing::debug!(%from, "dropping inbound connection: {e}"),
            },
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Custom messages are small and latency matters: don't let Nagle hold them back for a
/// delayed ACK (that alone costs ~40 ms per round on Linux).
pub(crate) fn nodelay(s: TcpStream) -> TcpStream {
    let _ = s.set_nodelay(true);
    s
}

//! Inbound connections: the accept loop on each listening socket.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::node::Pm;

pub(crate) async fn accept_loop(listener: TcpListener, pm: Arc<Pm>) {
    loop {
        match listener.accept().await {
            Ok((stream, from)) => match nodelay(stream).into_std() {
                Ok(s) => {
                    tracing::trace!(%from, "inbound connection");
                    // The connection runs on its own spawned tasks; the returned future only
                    // reports its end, which we don't need.
                    drop(lightning_net_tokio::setup_inbound(pm.clone(), s));
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

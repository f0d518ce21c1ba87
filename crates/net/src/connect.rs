//! Outbound connections: [`PeerNode::connect`] and how its failures are told apart.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use bitcoin::secp256k1::PublicKey;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::error::ConnectError;
use crate::event::{Direction, PeerInfo};
use crate::listen::nodelay;
use crate::node::PeerNode;
use crate::runtime::off_worker;

impl PeerNode {
    /// Opens a connection and waits until the handshake and init exchange are done. If the
    /// peer is already connected this returns it at once. Gating is the daemon's business:
    /// with `auto_accept` off the peer returned here is not active yet.
    pub async fn connect(&self, id: PublicKey, addr: SocketAddr) -> Result<PeerInfo, ConnectError> {
        let mut lost = false;
        let r = self.dial(id, addr, &mut lost).await;
        if r.is_err() && lost {
            // Both dials of a race were closed (each side kept a different one): once
            // more, after a random pause so two racers do not meet again.
            let pause = std::hash::BuildHasher::hash_one(
                &std::collections::hash_map::RandomState::new(),
                std::time::Instant::now(),
            ) % 50;
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            return self.dial(id, addr, &mut lost).await;
        }
        r
    }

    async fn dial(
        &self,
        id: PublicKey,
        addr: SocketAddr,
        lost: &mut bool,
    ) -> Result<PeerInfo, ConnectError> {
        let inner = &self.inner;
        if inner.stopped.load(Ordering::Acquire) {
            return Err(ConnectError::Shutdown);
        }
        if id == inner.node_id {
            return Err(ConnectError::SelfConnect);
        }
        if let Some(p) = self.peer(&id) {
            return Ok(p);
        }
        let limit = inner.connect_timeout;
        let deadline = tokio::time::Instant::now() + limit;
        let timeout_err = ConnectError::Timeout {
            addr,
            secs: limit.as_secs(),
        };
        let stream = match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => return Err(timeout_err),
            Ok(Err(e)) => {
                return Err(ConnectError::Tcp {
                    addr,
                    reason: os_reason(&e),
                })
            }
            Ok(Ok(s)) => s,
        };
        let std_stream = nodelay(stream).into_std().map_err(|e| ConnectError::Tcp {
            addr,
            reason: os_reason(&e),
        })?;

        let (tx, mut rx) = oneshot::channel();
        if let Ok(mut w) = inner.shared.waiters.lock() {
            w.entry(id).or_default().push(tx);
        }
        let ticks_before = inner.ticks.load(Ordering::Acquire);
        // The connection is served on the peer runtime (its first LDK call too); its end
        // resolves `conn`.
        let mut conn = inner.rt.handle().spawn(crate::socket::serve_outbound(
            inner.pm.clone(),
            inner.shared.clone(),
            id,
            std_stream,
        ));
        // LDK drops a connection whose handshake and init are not done at the second tick
        // after it began; one that ends after that many ticks was ended by us, not by the
        // peer.
        let ended = || {
            if inner.ticks.load(Ordering::Acquire) - ticks_before >= 2 {
                ConnectError::HandshakeTimeout { addr }
            } else {
                ConnectError::Handshake { addr }
            }
        };
        let outcome = tokio::select! {
            biased;
            r = &mut rx => if r.is_ok() { Ok(()) } else { Err(ended()) },
            _ = &mut conn => Err(ended()),
            _ = tokio::time::sleep_until(deadline) => Err(timeout_err),
        };
        let outcome = match outcome {
            Err(ConnectError::Handshake { .. }) => {
                self.other_connection(&id, &mut rx, deadline, outcome, lost)
                    .await
            }
            o => o,
        };
        // Forget our waiter if it did not fire (its receiver is gone now).
        if let Ok(mut w) = inner.shared.waiters.lock() {
            if let Some(list) = w.get_mut(&id) {
                list.retain(|s| !s.is_closed());
                if list.is_empty() {
                    w.remove(&id);
                }
            }
        }
        match outcome {
            Ok(()) => Ok(self.peer(&id).unwrap_or(PeerInfo {
                id,
                addr: Some(addr),
                features: Vec::new(),
                direction: Direction::Out,
                active: false,
            })),
            Err(e) => {
                if matches!(e, ConnectError::Timeout { .. }) {
                    // Don't leave a stalled handshake for the timer to reap.
                    off_worker(|| inner.pm.disconnect_by_node_id(id));
                }
                Err(e)
            }
        }
    }
}

impl PeerNode {
    /// LDK closes a second connection to a node it already has one with (ours raced
    /// another dial to it, e.g. the reconnection of a channel peer at start-up): while that
    /// other connection is there, its init answers this connect, as Core Lightning's
    /// `connect` answers with a connection already under way.
    async fn other_connection(
        &self,
        id: &PublicKey,
        ours: &mut oneshot::Receiver<()>,
        deadline: tokio::time::Instant,
        failed: Result<(), ConnectError>,
        lost: &mut bool,
    ) -> Result<(), ConnectError> {
        while tokio::time::Instant::now() < deadline {
            if ours.try_recv().is_ok() || self.peer(id).is_some() {
                return Ok(());
            }
            // Another dial still waits for its init (ours is the one open waiter left
            // otherwise), or LDK has the other connection.
            let others = self
                .inner
                .shared
                .waiters
                .lock()
                .map(|w| {
                    w.get(id)
                        .map_or(0, |l| l.iter().filter(|s| !s.is_closed()).count())
                })
                .unwrap_or(0)
                > 1;
            if !others && off_worker(|| self.inner.pm.peer_by_node_id(id)).is_none() {
                return failed;
            }
            *lost = true;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        failed
    }
}

/// The OS error text without Rust's ` (os error N)` suffix, like `strerror`.
fn os_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

//! The driver loop: one task doing the node's periodic LDK work, the way
//! `lightning-background-processor` does for an LDK node. Today that is the peer layer's
//! timer tick (pings, ping timeouts, handshake timeouts); channels, gossip and onion
//! messages add their ticks and event processing here rather than starting timers of
//! their own.

use std::time::Duration;

use net::PeerNode;
use tokio::task::JoinHandle;

use crate::shutdown::Shutdown;

/// LDK's `PING_TIMER`: how often the peer layer ticks.
pub const PEER_TICK: Duration = Duration::from_secs(10);

/// Test knob: the peer tick in milliseconds (at least 10).
const PEER_TICK_ENV: &str = "BOLTD_DEV_PEER_TICK_MS";

/// The peer tick: [`PEER_TICK`] unless the test knob says otherwise.
pub fn peer_tick() -> Duration {
    std::env::var(PEER_TICK_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|ms| Duration::from_millis(ms.max(10)))
        .unwrap_or(PEER_TICK)
}

/// Starts the loop; it ends when shutdown starts.
pub fn spawn(peers: PeerNode, shutdown: Shutdown) -> JoinHandle<()> {
    let every = peer_tick();
    tokio::spawn(async move {
        let mut iv = tokio::time::interval(every);
        // A stalled runtime must not cause a burst of ticks: that would look to LDK like
        // peers missing several pongs in a row.
        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        iv.tick().await; // the first tick is immediate
        loop {
            tokio::select! {
                _ = shutdown.recv() => break,
                _ = iv.tick() => peers.timer_tick_occurred(),
            }
        }
    })
}

//! [`PeerConfig`]: how to run the peer layer.

use std::net::SocketAddr;
use std::time::Duration;

/// How to run the peer layer. Keys and message handlers are given to
/// [`PeerNode::start`](crate::PeerNode::start) separately; the timer is the caller's (see
/// [`PeerNode::timer_tick_occurred`](crate::PeerNode::timer_tick_occurred)).
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// Addresses to listen on (`127.0.0.1:0` picks a free port; see
    /// [`PeerNode::bound_addrs`](crate::PeerNode::bound_addrs)).
    pub listen: Vec<SocketAddr>,
    /// Limit for an outbound connect (TCP + handshake + init).
    pub connect_timeout: Duration,
    /// Accept inbound connections as soon as the listeners are bound. When false, the
    /// sockets are bound (so the ports are known) but nobody is accepted until
    /// [`PeerNode::activate`](crate::PeerNode::activate) (the daemon first wires up its
    /// hooks, like CLN's connectd).
    pub accept_at_start: bool,
    /// New peers start active. When false, a new peer stays "connecting" until the daemon
    /// calls [`PeerNode::accept`](crate::PeerNode::accept) (its `peer_connected` hook chain
    /// said continue).
    pub auto_accept: bool,
}

impl Default for PeerConfig {
    /// No listener, 30 s connect timeout, daemon gating on.
    fn default() -> Self {
        PeerConfig {
            listen: Vec::new(),
            connect_timeout: Duration::from_secs(30),
            auto_accept: false,
            accept_at_start: true,
        }
    }
}

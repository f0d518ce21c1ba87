//! Errors the peer layer reports. Texts are written to be shown to a user as they are; the
//! daemon wraps them in Core Lightning's codes.

use std::net::SocketAddr;

/// Why an outbound connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP connect failed; `reason` is the OS error text (e.g. `Connection refused`).
    #[error("{addr}: Connection establishment: {reason}")]
    Tcp { addr: SocketAddr, reason: String },
    /// The BOLT 8 handshake or init exchange failed, usually a wrong node id.
    #[error("{addr}: Cryptographic handshake: peer closed connection (wrong key?)")]
    Handshake { addr: SocketAddr },
    /// Our timer tick ended a handshake or init exchange that did not finish in time (LDK
    /// gives it one to two ticks); connectd says the same when its handshake timer fires.
    #[error("{addr}: Cryptographic handshake: Connection timed out")]
    HandshakeTimeout { addr: SocketAddr },
    /// Nothing happened within the connect timeout.
    #[error("{addr}: Connection timed out after {secs}s")]
    Timeout { addr: SocketAddr, secs: u64 },
    /// Connecting to ourselves is refused.
    #[error("Connecting to myself is not allowed")]
    SelfConnect,
    /// The node is shutting down.
    #[error("peer layer is shutting down")]
    Shutdown,
}

/// Why a custom message could not be queued.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// Fewer than the two bytes of the message type.
    #[error("message must be at least 2 bytes (the type)")]
    TooShort,
    /// More than 65535 bytes including the type.
    #[error("message is {0} bytes, more than 65535")]
    TooLong(usize),
    /// No connection (init exchanged) to that peer right now.
    #[error("Peer is not connected")]
    NotConnected,
}

/// Why the peer layer could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("Could not bind to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid node key: {0}")]
    Key(String),
    #[error("cannot start the peer runtime: {0}")]
    Runtime(std::io::Error),
}

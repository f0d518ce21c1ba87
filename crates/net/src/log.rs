//! LDK's log records, routed into `tracing` under the `net::ldk` target.

use std::fmt;

use bitcoin::secp256k1::PublicKey;
use lightning::util::logger::{Level, Logger, Record};

pub(crate) struct LdkTracing;

/// The record's peer, formatted only if the event is logged at all: LDK logs every message
/// sent and received at trace level, and hex-encoding the key each time showed up in
/// profiles of a custom-message flood.
struct Peer(Option<PublicKey>);

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(p) => write!(f, "{p}"),
            None => Ok(()),
        }
    }
}

impl Logger for LdkTracing {
    fn log(&self, record: Record) {
        let peer = Peer(record.peer_id);
        match record.level {
            Level::Gossip | Level::Trace => {
                tracing::trace!(target: "net::ldk", peer = %peer, "{}", record.args)
            }
            Level::Debug | Level::Info => {
                tracing::debug!(target: "net::ldk", peer = %peer, "{}", record.args)
            }
            Level::Warn => tracing::warn!(target: "net::ldk", peer = %peer, "{}", record.args),
            Level::Error => tracing::error!(target: "net::ldk", peer = %peer, "{}", record.args),
        }
    }
}

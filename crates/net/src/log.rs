//! LDK's log records, routed into `tracing` under the `net::ldk` target.

use lightning::util::logger::{Level, Logger, Record};

pub(crate) struct LdkTracing;

impl Logger for LdkTracing {
    fn log(&self, record: Record) {
        let peer = record.peer_id.map(|p| p.to_string()).unwrap_or_default();
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

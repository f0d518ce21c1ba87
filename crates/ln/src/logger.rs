//! LDK's log records, routed into `tracing` under the `ln::ldk` target.

use lightning::util::logger::{Level, Logger, Record};

/// The logger every LDK object of this crate shares.
pub struct LdkLogger;

impl Logger for LdkLogger {
    fn log(&self, record: Record) {
        let peer = record.peer_id.map(|p| p.to_string()).unwrap_or_default();
        let chan = record.channel_id.map(|c| c.to_string()).unwrap_or_default();
        match record.level {
            Level::Gossip | Level::Trace => {
                tracing::trace!(target: "ln::ldk", peer = %peer, chan = %chan, "{}", record.args)
            }
            Level::Debug => {
                tracing::debug!(target: "ln::ldk", peer = %peer, chan = %chan, "{}", record.args)
            }
            Level::Info => {
                tracing::debug!(target: "ln::ldk", peer = %peer, chan = %chan, "{}", record.args)
            }
            // LDK logs at Error what peers cause (a message out of order, a cooperative
            // close): UNUSUAL, not BROKEN, which test harnesses treat as our bug.
            Level::Warn | Level::Error => {
                tracing::warn!(target: "ln::ldk", peer = %peer, chan = %chan, "{}", record.args)
            }
        }
    }
}

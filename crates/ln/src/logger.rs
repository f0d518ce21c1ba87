//! LDK's log records, routed into `tracing` under the `ln::ldk` target.

use std::fmt;

use lightning::util::logger::{Level, Logger, Record};

/// The logger every LDK object of this crate shares.
pub struct LdkLogger;

/// An optional field, formatted only if its event is enabled: LDK logs at trace level
/// for every message and HTLC step, and formatting a node id (a point serialisation) and
/// a channel id for each record that the filter then drops cost more than the rest of
/// the logging.
struct Field<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for Field<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => Ok(()),
        }
    }
}

impl Logger for LdkLogger {
    fn log(&self, record: Record) {
        let peer = Field(record.peer_id);
        let chan = Field(record.channel_id);
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

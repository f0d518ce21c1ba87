//! The channel manager reaches the store before the channel monitor updates it knows of.
//!
//! LDK's `ChainMonitor` runs deferred (`ChainMonitor::new(.., deferred: true)`): every
//! new monitor and monitor update the manager hands it is queued and answered `InProgress`,
//! so LDK holds back whatever depends on it (our `commitment_signed`, `revoke_and_ack`,
//! `update_fulfill_htlc`, a funding broadcast). [`Ln::persist_manager`] counts the queue,
//! writes the manager, and only then flushes those operations: each monitor update is
//! applied and written (through `StopOnFailure<TowerPersister>`, so the watchtower queue
//! is written before it and a failed write still freezes the channel and stops the node),
//! and completed. One manager write completes every update queued before it.
//!
//! Why every kill point is recoverable without a force-close (LDK 0.3's
//! `ChannelManager::read`): the manager serialises each channel's in-flight monitor updates
//! (they are recorded in it before they reach the queue, under the lock the manager's
//! encoding also takes, so the count taken before encoding never covers an update the
//! written manager lacks).
//! * Killed before the manager write: store manager and monitors are both older than the
//!   queued updates, nothing depending on them left the node; the peer replays its side
//!   at reconnection.
//! * Killed after the manager write, before (or during) the flush: the manager's in-flight
//!   updates newer than a monitor are replayed into it at start-up
//!   (`MonitorUpdateRegeneratedOnStartup`), and flushed after the next manager write.
//! * Killed after the flush: both agree.
//!
//! A monitor can thus never be ahead of the manager, the case LDK force-closes ("A
//! ChannelManager is stale compared to the current ChannelMonitor").
//!
//! A new channel whose first monitor never reached the store is dropped at start-up. Its
//! opener had not broadcast the funding (LDK waits for that monitor). Its acceptor,
//! though, sent `funding_signed` before anything was written (LDK 0.3's
//! `internal_funding_created`: nothing of the acceptor's is at stake yet), so a kill there
//! loses that channel: the opener closes it at reconnection and gets its coins back
//! on-chain. That window (from `funding_signed` to the next manager write) is LDK's and
//! was there before; none of our money is in it unless the opener pushed some.
//!
//! Chain-sync writes of whole monitors (blocks) are not manager-driven: LDK writes them at
//! once, as before. Start-up hands the monitors read back to the chain monitor with
//! `load_existing_monitor` (a deferred `watch_channel` would queue them).
//!
//! Developer crash knob ([`CRASH_ENV`]): `update_written:N` dies right after the Nth
//! channel monitor update of this run is durable; `manager_written` dies right after the
//! first manager write that monitor updates wait for, before they are written.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lightning::util::persist::{
    CHANNEL_MANAGER_PERSISTENCE_KEY, CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
};
use lightning::util::ser::Writeable;

use crate::logger::LdkLogger;
use crate::node::Ln;

/// Developer crash knob: `update_written:N` or `manager_written`.
pub const CRASH_ENV: &str = "BOLTD_DEV_CRASH_MONITOR";

/// Monitor updates written durably by this run.
static UPDATES_WRITTEN: AtomicU64 = AtomicU64::new(0);

fn die(at: &str) {
    tracing::warn!("{CRASH_ENV}={at}: dying now");
    // SAFETY: ends the process at once, like kill -9 (no destructors, no flush).
    unsafe { libc::_exit(137) };
}

/// A channel monitor update has just been written durably.
pub(crate) fn monitor_update_written() {
    let n = UPDATES_WRITTEN.fetch_add(1, Ordering::SeqCst) + 1;
    let Ok(v) = std::env::var(CRASH_ENV) else {
        return;
    };
    if v.strip_prefix("update_written:")
        .and_then(|s| s.parse::<u64>().ok())
        == Some(n)
    {
        die(&v);
    }
}

fn manager_written(waiting: usize) {
    if waiting > 0 && std::env::var(CRASH_ENV).is_ok_and(|v| v == "manager_written") {
        die("manager_written");
    }
}

impl Ln {
    /// Writes the channel manager, then the monitor updates queued before it (see the
    /// module doc); durable when it returns `Ok`. On `Err` nothing is flushed: the updates
    /// wait for the next manager write. Safe from any thread.
    pub fn persist_manager(&self) -> lightning::io::Result<()> {
        // Held through the flush too: a flush must cover only updates its own manager
        // write knows, and snapshots must land in the order they were taken.
        let _order = self.persisting.lock().unwrap_or_else(|p| p.into_inner());
        let waiting = self.chain_monitor.pending_operation_count();
        self.kv.write(
            CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_KEY,
            self.manager.encode(),
        )?;
        manager_written(waiting);
        if waiting > 0 {
            self.chain_monitor.flush(waiting, &Arc::new(LdkLogger));
            // What the completed updates held back (a commitment_signed, a revoke_and_ack,
            // a fulfill) goes out now, not at the loop's next turn.
            self.flush_messages();
        }
        Ok(())
    }

    /// Writes the manager if it changed since it was last written, or if monitor updates
    /// wait for a manager write (one that failed is tried again here).
    pub(crate) fn persist_if_needed(&self) {
        if self.manager.get_and_clear_needs_persistence()
            || self.chain_monitor.pending_operation_count() > 0
        {
            if let Err(e) = self.persist_manager() {
                // The monitor updates wait (their channels frozen) until a write succeeds.
                tracing::error!("persisting the channel manager: {e}");
            }
        }
    }
}

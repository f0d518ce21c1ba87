//! The channel manager and the channel monitor updates it knows of reach the store
//! together: one transaction (group commit), completed only once it is durable.
//!
//! LDK's `ChainMonitor` runs deferred (`ChainMonitor::new(.., deferred: true)`): every
//! new monitor and monitor update the manager hands it is queued and answered `InProgress`,
//! so LDK holds back whatever depends on it (our `commitment_signed`, `revoke_and_ack`,
//! `update_fulfill_htlc`, a funding broadcast). [`Ln::persist_manager`] counts the queue,
//! encodes the manager, opens a store group ([`KvGroup`]) and queues the manager write
//! into it, flushes those operations (each is applied to its in-memory monitor and its
//! writes, through `StopOnFailure<TowerPersister>`, so the watchtower queue's too, are
//! queued into the same group, the persister answering `InProgress`), commits the group
//! as one transaction (one `db_write`, one fsync), and only then completes the operations
//! (`ChainMonitor::channel_monitor_updated`) and sends what they held back. One commit
//! per manager write, instead of one per monitor update plus the manager's; concurrent
//! payments on the channels share it. A manager write with nothing queued is a
//! transaction of its own. Either way only the manager's chunks that changed are written
//! (manager_chunks.rs).
//!
//! Why every kill point is recoverable without a force-close (LDK 0.3's
//! `ChannelManager::read`): the manager serialises each channel's in-flight monitor updates
//! (they are recorded in it before they reach the queue, under the lock the manager's
//! encoding also takes, so the count taken before encoding never covers an update the
//! written manager lacks).
//! * Killed before the commit (the updates applied in memory only): the store holds the
//!   previous manager and monitors, consistent with each other, and nothing depending on
//!   the updates left the node (they were never completed); the peer replays its side at
//!   reconnection. A new channel whose manager and first monitor were in that group is
//!   unknown after the restart; its opener had not broadcast the funding (LDK waits for
//!   that monitor).
//! * Killed after the commit, before (or while) completing: manager and monitors are
//!   durable together and agree. LDK replays the in-flight updates the manager lists; a
//!   new channel's first monitor is not one of them, so start-up completes every
//!   never-updated monitor itself (`node.rs`).
//!
//! A monitor is never ahead of the manager (the case LDK force-closes: "A ChannelManager
//! is stale compared to the current ChannelMonitor"). Chain-sync writes of a whole monitor
//! (blocks; not manager-driven) are the one way it could be: one made on another thread
//! between the flush and the commit would carry the flushed updates into the store ahead
//! of the manager that knows them. So while a group is open ([`Grouping`]) they join it
//! (their writes queued into it, answered `InProgress`, which LDK does not track for
//! chain sync), and the group is committed while no one can join; otherwise they are
//! written at once, as before.
//!
//! A manager change with no monitor operation waiting (the completion of the updates a
//! group just wrote, a payment ending) is written up to [`MANAGER_ALONE_DELAY`] late, so
//! it usually rides with the next group instead of costing a whole manager write (an
//! encoding of every channel and recent payment, a commit) of its own: under a stream of
//! payments most manager-only writes go. Nothing waits on such a write (no message LDK
//! sends depends on it; LDK's own background processor also writes it only after the
//! fact), and a kill before it
//! leaves the store as a kill just before any manager write does: the previous manager
//! and the monitors it knows, which LDK reads back as above. Every monitor operation is
//! still written with the manager at once.
//!
//! A commit that fails leaves updates applied in memory that are not durable: they are
//! never completed, and the node stops (`StopOnFailure`, as for any failed monitor write).
//!
//! Still LDK's: an acceptor sends `funding_signed` before anything is written (LDK 0.3's
//! `internal_funding_created`: nothing of the acceptor's is at stake yet), so a kill there
//! loses that channel: the opener closes it at reconnection and gets its coins back
//! on-chain. None of our money is in it unless the opener pushed some.
//!
//! Every manager write is a blocking job on the store thread's one queue (the commit of
//! its group), queued after its encoding. The daemon's event
//! handlers rely on that (boltd's `after_commit.rs`): a record they queue before answering
//! an event is committed no later than the manager write that consumes the event. A
//! manager write that bypassed the queue, or one queued before its encoding, would break
//! it.
//!
//! Start-up hands the monitors read back to the chain monitor with
//! `load_existing_monitor` (a deferred `watch_channel` would queue them).
//!
//! [`MANAGER_ALONE_DELAY`]: crate::unwritten::MANAGER_ALONE_DELAY
//!
//! Developer crash knob ([`CRASH_ENV`]): `update_written:N` dies right after the
//! transaction holding the Nth channel monitor update of this run committed, before any
//! update it holds is completed; `before_commit` dies right before the first commit that
//! holds monitor operations (they are applied in memory, nothing of them is durable);
//! `new_monitor_written` dies right after the commit holding a new channel's first
//! monitor, before it is completed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use lightning::chain::ChannelMonitorUpdateStatus;
use lightning::ln::types::ChannelId;

use crate::logger::LdkLogger;
use crate::node::Ln;
use crate::types::{KvGroup, OpenGroup};

/// Developer crash knob: `update_written:N`, `before_commit` or `new_monitor_written`.
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

/// A new channel's first monitor has just been written durably, before it is completed.
fn new_monitor_written() {
    if std::env::var(CRASH_ENV).is_ok_and(|v| v == "new_monitor_written") {
        die("new_monitor_written");
    }
}

fn before_commit() {
    if std::env::var(CRASH_ENV).is_ok_and(|v| v == "before_commit") {
        die("before_commit");
    }
}

/// A monitor operation whose writes are queued in the open group: (channel, update id,
/// whether it is an update rather than a new monitor).
type Completion = (ChannelId, u64, bool);

struct Open {
    group: Box<dyn KvGroup>,
    completions: Vec<Completion>,
}

/// The group commit in progress, if one is: shared by [`Ln::persist_manager`], which opens
/// and commits it, and the persister, whose calls (from the flush, or chain sync on
/// another thread) join it while it is open.
#[derive(Clone)]
pub struct Grouping {
    open_group: OpenGroup,
    open: Arc<Mutex<Option<Open>>>,
}

impl Grouping {
    pub(crate) fn new(open_group: OpenGroup) -> Grouping {
        Grouping {
            open_group,
            open: Arc::new(Mutex::new(None)),
        }
    }

    fn slot(&self) -> MutexGuard<'_, Option<Open>> {
        // Nothing panics while holding it but LDK's persister; the slot is sound anyway.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a persister call inside the open group: its writes are queued, and a
    /// completion it reports is kept for after the commit (`InProgress` is answered
    /// instead). `None` if no group is open: the caller writes at once.
    pub(crate) fn persist(
        &self,
        completes: Option<Completion>,
        call: impl FnOnce() -> ChannelMonitorUpdateStatus,
    ) -> Option<ChannelMonitorUpdateStatus> {
        let mut slot = self.slot();
        let open = slot.as_mut()?;
        let mut call = Some(call);
        let mut status = ChannelMonitorUpdateStatus::InProgress;
        open.group.enter(&mut || {
            if let Some(c) = call.take() {
                status = c();
            }
        });
        if status != ChannelMonitorUpdateStatus::Completed {
            return Some(status);
        }
        open.completions.extend(completes);
        Some(ChannelMonitorUpdateStatus::InProgress)
    }

    /// Opens a group and runs `f` in it (the manager write).
    fn open(&self, f: impl FnOnce()) {
        let group = (self.open_group)();
        let mut f = Some(f);
        group.enter(&mut || {
            if let Some(f) = f.take() {
                f()
            }
        });
        *self.slot() = Some(Open {
            group,
            completions: Vec::new(),
        });
    }

    /// Commits the open group, holding the slot so no persister call joins it or writes
    /// around it meanwhile; returns what it completes.
    fn commit(&self) -> lightning::io::Result<Vec<Completion>> {
        let mut slot = self.slot();
        let Some(open) = slot.take() else {
            return Ok(Vec::new());
        };
        open.group.commit()?;
        Ok(open.completions)
    }

    /// Drops the open group uncommitted (a panic unwinding through the flush).
    fn discard(&self) {
        self.slot().take();
    }
}

impl Ln {
    /// Writes the channel manager and, in the same transaction, the monitor operations
    /// queued before it, then completes them (see the module doc); durable when it
    /// returns `Ok`. On `Err` before anything was flushed, the operations wait for the
    /// next manager write; a failed commit stops the node. Safe from any thread.
    pub fn persist_manager(&self) -> lightning::io::Result<()> {
        // The encoding below covers every change made so far; if it is not written, they
        // are due again. LDK's flag too: the loop need not write again for them (a
        // claim's own write was followed by a second, identical one).
        self.manager.get_and_clear_needs_persistence();
        let covered = self.unwritten.take();
        let r = self.persist_manager_now();
        if r.is_err() {
            self.unwritten.restore(covered, Instant::now());
        }
        r
    }

    fn persist_manager_now(&self) -> lightning::io::Result<()> {
        // Held through the flush and the commit: a flush must cover only updates its own
        // manager write knows, and snapshots must land in the order they were taken.
        let _order = self.persisting.lock().unwrap_or_else(|p| p.into_inner());
        let waiting = self.chain_monitor.pending_operation_count();
        let started = Instant::now();
        let manager = self.manager_chunks.encode(&*self.manager);
        let encoded = started.elapsed();
        // Only the chunks that changed are written (manager_chunks.rs), always in one
        // transaction; what we know of the stored chunks changes once it is durable.
        let plan = self.manager_chunks.plan(&manager);
        tracing::debug!(
            "channel manager write: {} of {} bytes in new chunks (encoded in {} us, cut in {} us)",
            plan.new_bytes(),
            manager.len(),
            encoded.as_micros(),
            (started.elapsed() - encoded).as_micros()
        );
        let write = || self.manager_chunks.write(&*self.kv, &manager, &plan);
        if waiting == 0 {
            let group = (self.grouping.open_group)();
            let mut queued = Ok(());
            group.enter(&mut || queued = write());
            queued?;
            group.commit()?;
            self.manager_chunks.apply(&manager, plan);
            return Ok(());
        }
        struct Discard<'a>(&'a Grouping);
        impl Drop for Discard<'_> {
            fn drop(&mut self) {
                self.0.discard();
            }
        }
        let _discard = Discard(&self.grouping);
        let mut queued = Ok(());
        self.grouping.open(|| queued = write());
        // Only a name LDK's rules refuse fails here; nothing is flushed then.
        queued?;
        self.chain_monitor.flush(waiting, &Arc::new(LdkLogger));
        before_commit();
        let completions = match self.grouping.commit() {
            Ok(c) => c,
            Err(e) => {
                self.guard.fail(&format!("group commit: {e}"));
                return Err(e);
            }
        };
        self.manager_chunks.apply(&manager, plan);
        // Penalties the group queued are durable now: the daemon may deliver them.
        self.tower.announce();
        for (_, _, update) in &completions {
            if *update {
                monitor_update_written();
            }
        }
        if completions.iter().any(|(_, _, update)| !update) {
            new_monitor_written();
        }
        for (channel_id, update_id, _) in completions {
            if let Err(e) = self
                .chain_monitor
                .channel_monitor_updated(channel_id, update_id)
            {
                tracing::warn!("completing monitor update {update_id} of {channel_id}: {e:?}");
            }
        }
        // What the completed updates held back (a commitment_signed, a revoke_and_ack,
        // a fulfill) goes out now, not at the loop's next turn.
        self.flush_messages();
        Ok(())
    }

    /// Writes the manager if monitor updates wait for a manager write (one that failed is
    /// tried again here), or if it changed more than `unwritten::MANAGER_ALONE_DELAY` ago.
    pub(crate) fn persist_if_needed(&self) {
        let due = self.unwritten.note(
            self.manager.get_and_clear_needs_persistence(),
            Instant::now(),
        );
        if due || self.chain_monitor.pending_operation_count() > 0 {
            if let Err(e) = self.persist_manager() {
                // The monitor updates wait (their channels frozen) until a write succeeds.
                tracing::error!("persisting the channel manager: {e}");
            }
        }
    }
}

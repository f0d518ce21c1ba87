//! A monitor write that fails stops the node instead of panicking it.
//!
//! LDK panics on `ChannelMonitorUpdateStatus::UnrecoverableError` (the status
//! `MonitorUpdatingPersister` gives for any store error), and a store error is not ours to
//! panic on: a `db_write` plugin that refuses or dies, a full disk, or a shutdown that
//! closed the store while a block was still being connected. LDK's documented orderly way
//! out is `InProgress` for that update and every later one, never marking them complete,
//! and shutting down: nothing that depends on the unwritten state (a revocation, a claim)
//! leaves the node, and on restart the monitors are read back as they were last written.
//!
//! It is also where a persister call joins the group commit in progress, if one is
//! ([`Grouping`], write_order.rs): its writes are queued into the group, and an update it
//! would have completed is answered `InProgress` and completed after the commit.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lightning::chain::chainmonitor::Persist;
use lightning::chain::channelmonitor::{ChannelMonitor, ChannelMonitorUpdate};
use lightning::chain::ChannelMonitorUpdateStatus;
use lightning::sign::ecdsa::EcdsaChannelSigner;
use lightning::util::persist::MonitorName;

use crate::write_order::Grouping;

/// Called once, with a reason, when the first monitor write fails.
pub type OnFailure = Arc<dyn Fn(String) + Send + Sync>;

pub struct StopOnFailure<P> {
    inner: P,
    failed: AtomicBool,
    on_failure: OnFailure,
    grouping: Grouping,
}

impl<P> StopOnFailure<P> {
    pub fn new(inner: P, on_failure: OnFailure, grouping: Grouping) -> Self {
        StopOnFailure {
            inner,
            failed: AtomicBool::new(false),
            on_failure,
            grouping,
        }
    }

    /// Writing failed outside a persister call (a group commit): from now on every status
    /// is `InProgress`, and the node is told to stop (once).
    pub fn fail(&self, what: &str) {
        if !self.failed.swap(true, Ordering::SeqCst) {
            let reason = format!(
                "writing a channel monitor ({what}) failed: the channel is frozen and the node stops"
            );
            tracing::error!("{reason}");
            (self.on_failure)(reason);
        }
    }

    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// True once a write failed: every later status is `InProgress`.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    fn guard(&self, what: &str, status: ChannelMonitorUpdateStatus) -> ChannelMonitorUpdateStatus {
        if self.failed() {
            // LDK forbids going back from InProgress to Completed without a restart.
            return ChannelMonitorUpdateStatus::InProgress;
        }
        match status {
            ChannelMonitorUpdateStatus::UnrecoverableError => {
                self.fail(what);
                ChannelMonitorUpdateStatus::InProgress
            }
            s => s,
        }
    }
}

impl<S: EcdsaChannelSigner, P: Deref> Persist<S> for StopOnFailure<P>
where
    P::Target: Persist<S>,
{
    fn persist_new_channel(
        &self,
        monitor_name: MonitorName,
        monitor: &ChannelMonitor<S>,
    ) -> ChannelMonitorUpdateStatus {
        if self.failed() {
            return ChannelMonitorUpdateStatus::InProgress;
        }
        let completes = Some((monitor.channel_id(), monitor.get_latest_update_id(), false));
        let status = self
            .grouping
            .persist(completes, || {
                self.inner.persist_new_channel(monitor_name, monitor)
            })
            .unwrap_or_else(|| self.inner.persist_new_channel(monitor_name, monitor));
        self.guard("new channel", status)
    }

    fn update_persisted_channel(
        &self,
        monitor_name: MonitorName,
        monitor_update: Option<&ChannelMonitorUpdate>,
        monitor: &ChannelMonitor<S>,
    ) -> ChannelMonitorUpdateStatus {
        if self.failed() {
            return ChannelMonitorUpdateStatus::InProgress;
        }
        let completes = monitor_update.map(|u| (monitor.channel_id(), u.update_id, true));
        let grouped = self.grouping.persist(completes, || {
            self.inner
                .update_persisted_channel(monitor_name, monitor_update, monitor)
        });
        let status = match grouped {
            Some(s) => s,
            None => {
                let s = self
                    .inner
                    .update_persisted_channel(monitor_name, monitor_update, monitor);
                if monitor_update.is_some() && s == ChannelMonitorUpdateStatus::Completed {
                    crate::write_order::monitor_update_written();
                }
                s
            }
        };
        self.guard("update", status)
    }

    fn archive_persisted_channel(&self, monitor_name: MonitorName) {
        if !self.failed() {
            self.inner.archive_persisted_channel(monitor_name);
        }
    }

    fn get_and_clear_completed_updates(&self) -> Vec<(lightning::ln::types::ChannelId, u64)> {
        if self.failed() {
            return Vec::new();
        }
        self.inner.get_and_clear_completed_updates()
    }
}

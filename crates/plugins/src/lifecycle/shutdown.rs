//! Stopping plugins: one (`plugin stop`), or all of them when the daemon shuts down
//! (§6.4): `shutdown` to subscribers, a grace period, then SIGKILL and reaping.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use serde_json::json;

use crate::host::{PState, Plugin, PluginHost};
use crate::log::{Level, HOST};

/// How long daemon shutdown waits for killed plugin processes to be reaped.
const KILL_REAP_LIMIT: Duration = Duration::from_secs(2);

impl PluginHost {
    /// Sends `shutdown` to a subscribed plugin and waits for it to exit (up to the grace
    /// period), else kills it at once.
    pub(super) async fn stop_plugin(&self, p: &Arc<Plugin>, why: &str) {
        if p.state() == PState::InitComplete && p.subscribed("shutdown") {
            let frame = jsonrpc::notification_frame("shutdown", &json!({"shutdown": {}}));
            let frame = frame[..frame.len().saturating_sub(2)].to_vec();
            let _ = p.try_queue_request(frame);
            let mut exited = p.exited.clone();
            let grace = self.cfg().shutdown_grace;
            if tokio::time::timeout(grace, exited.wait_for(|e| *e))
                .await
                .is_err()
            {
                self.log(
                    Level::Info,
                    &p.source(),
                    "Timeout on shutdown: killing anyway",
                );
            }
        }
        self.kill(p, Level::Info, why);
    }

    /// Daemon shutdown: `shutdown` to subscribers, everyone else killed, survivors killed
    /// after the grace period (§6.4).
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        let plugins = self.plugins();
        let frame = jsonrpc::notification_frame("shutdown", &json!({"shutdown": {}}));
        let frame = frame[..frame.len().saturating_sub(2)].to_vec();
        let mut waiting = Vec::new();
        for p in plugins.iter().cloned() {
            p.important.store(false, Ordering::SeqCst);
            if p.state() == PState::InitComplete
                && p.subscribed("shutdown")
                && p.try_queue_request(frame.clone())
            {
                waiting.push(p);
            } else {
                self.kill(&p, Level::Debug, "shutting down");
            }
        }
        let grace = self.cfg().shutdown_grace;
        let waits = waiting.iter().map(|p| {
            let mut ex = p.exited.clone();
            async move {
                let _ = tokio::time::timeout(grace, ex.wait_for(|e| *e)).await;
            }
        });
        join_all(waits).await;
        for p in waiting {
            if !*p.exited.borrow() {
                self.log(
                    Level::Debug,
                    HOST,
                    &format!("{}: failed to self-terminate in time, killing.", p.name),
                );
            }
            self.kill(&p, Level::Debug, "shutting down");
        }
        // SIGKILL is not instant: reap every process before the daemon exits, so none
        // outlives it (bounded, a process stuck in the kernel must not hold us).
        let reaped = plugins.iter().map(|p| {
            let mut ex = p.exited.clone();
            async move {
                let _ = tokio::time::timeout(KILL_REAP_LIMIT, ex.wait_for(|e| *e)).await;
            }
        });
        join_all(reaped).await;
    }
}

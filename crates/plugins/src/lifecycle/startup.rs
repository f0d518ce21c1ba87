//! Daemon start-up: every plugin spawned, all getmanifests in parallel, then `init` to all
//! (§2).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::future::join_all;

use super::scan::absolute;
use crate::host::{PState, Plugin, PluginHost};
use crate::log::{Level, HOST};
use crate::registry::Refusal;

/// A plugin to load at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    pub path: PathBuf,
    pub important: bool,
}

/// Start-up cannot continue.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StartupError {
    /// An important plugin failed (CLN: `Could not initialize the plugins, see above...`).
    #[error("Could not initialize the plugins, see above for details.")]
    ImportantFailed { path: String, reason: String },
    /// An option name clash at start-up (CLN: fatal).
    #[error("{0}")]
    Fatal(String),
}

/// Why an init that timed out was killed (boltd checks for it after start-up's inits).
pub const INIT_TIMEOUT: &str = "timed out before replying to init";

/// lightningd's `fatal()` when a start-up plugin hangs in getmanifest or init
/// (plugin.c:1616-1625, reference §2.2): a node whose plugins never came up must not run.
pub const STARTUP_HANG_FATAL: &str = "Can't recover from plugin failure, terminating.";

impl PluginHost {
    /// Start-up: spawns every plugin, sends all getmanifests in parallel and waits until
    /// each answered or died; then refuses unorderable hook registrations.
    pub async fn load_startup(&self, specs: Vec<PluginSpec>) -> Result<(), StartupError> {
        let mut started = Vec::new();
        for s in specs {
            let path = absolute(&s.path);
            if self.is_disabled(&path) {
                self.log(
                    Level::Info,
                    HOST,
                    &format!("{path}: disabled via disable-plugin"),
                );
                continue;
            }
            if self.find_live(&path).is_some() {
                continue;
            }
            match self.spawn(&path, s.important, true).await {
                Ok(Some(p)) => started.push(p),
                Ok(None) => continue,
                Err(why) => {
                    self.log(Level::Broken, HOST, &format!("{path}: {why}"));
                    if s.important {
                        return Err(StartupError::ImportantFailed { path, reason: why });
                    }
                }
            }
        }
        let results = join_all(started.iter().map(|p| self.manifest(p, None, true))).await;
        let mut failure = None;
        for (p, r) in started.iter().zip(results) {
            match r {
                Err(Refusal::Fatal(msg)) => {
                    failure.get_or_insert(StartupError::Fatal(msg));
                }
                Err(Refusal::Kill(why)) if p.important.load(Ordering::SeqCst) => {
                    failure.get_or_insert(StartupError::ImportantFailed {
                        path: p.path.clone(),
                        reason: why,
                    });
                }
                _ => {}
            }
        }
        for p in self.unorderable() {
            self.kill(&p, Level::Unusual, "Cannot meet required hook dependencies");
            if p.important.load(Ordering::SeqCst) {
                failure.get_or_insert(StartupError::ImportantFailed {
                    path: p.path.clone(),
                    reason: "Cannot meet required hook dependencies".into(),
                });
            }
        }
        self.log_unknown_subscriptions();
        match failure {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }

    /// Sends `init` to every plugin waiting for it and waits for all. Returns the plugins
    /// that failed, with why ([`INIT_TIMEOUT`] for one that never answered: at start-up
    /// the caller treats that as [`STARTUP_HANG_FATAL`]).
    pub async fn init_all(&self) -> Vec<(String, String)> {
        let waiting: Vec<Arc<Plugin>> = self
            .registered()
            .into_iter()
            .filter(|p| p.state() == PState::NeedsInit)
            .collect();
        let res = join_all(waiting.iter().map(|p| self.init(p, None))).await;
        waiting
            .iter()
            .zip(res)
            .filter_map(|(p, r)| r.err().map(|e| (p.path.clone(), e)))
            .collect()
    }
}

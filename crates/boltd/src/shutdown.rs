//! Graceful shutdown, as one type every task holds (the mini-redis pattern).
//!
//! Stages, in order:
//! * `Running`
//! * `Stopping` — triggered by `stop`, SIGINT/SIGTERM or a fatal event: the RPC listener
//!   closes and its socket file is removed; "before exit" hooks run (plugin `shutdown`
//!   notification, peer disconnects) while existing RPC connections are still served.
//! * `Closing` — commands still in flight get an error, connections stop reading.
//! * `Done` — pending `stop` commands answer `Shutdown complete` (written last).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Running,
    Stopping,
    Closing,
    Done,
}

/// Work to do before the process exits, registered by later subsystems.
pub type ExitHook = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

struct Inner {
    stage: watch::Sender<Stage>,
    /// Why we stop (logged).
    reason: Mutex<String>,
    /// Exit code the process returns (0 for stop/signals; e.g. 1 when an important
    /// plugin died).
    exit_code: AtomicI32,
    /// `stop` commands waiting for `Done`: the daemon lets them be written before exit.
    pending_stops: AtomicUsize,
    hooks: Mutex<Vec<(String, ExitHook)>>,
}

/// Cheap to clone; every task that must react to shutdown holds one.
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
    rx: watch::Receiver<Stage>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(Stage::Running);
        Shutdown {
            inner: Arc::new(Inner {
                stage: tx,
                reason: Mutex::new(String::new()),
                exit_code: AtomicI32::new(0),
                pending_stops: AtomicUsize::new(0),
                hooks: Mutex::new(vec![]),
            }),
            rx,
        }
    }

    /// Starts shutting down (idempotent: the first reason and exit code win).
    pub fn trigger(&self, reason: &str, exit_code: i32) {
        // Reason and code are stored before the stage moves, so whoever wakes up on
        // `Stopping` reads them; the first trigger wins.
        let Ok(mut r) = self.inner.reason.lock() else {
            return;
        };
        if *self.rx.borrow() != Stage::Running {
            return;
        }
        *r = reason.to_string();
        self.inner.exit_code.store(exit_code, Ordering::SeqCst);
        self.inner.stage.send_if_modified(|s| {
            if *s == Stage::Running {
                *s = Stage::Stopping;
                true
            } else {
                false
            }
        });
    }

    pub fn reason(&self) -> String {
        self.inner
            .reason
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    pub fn exit_code(&self) -> i32 {
        self.inner.exit_code.load(Ordering::SeqCst)
    }

    pub fn stage(&self) -> Stage {
        *self.rx.borrow()
    }

    pub fn is_shutdown(&self) -> bool {
        self.stage() != Stage::Running
    }

    /// Moves to a later stage (the daemon's shutdown sequence calls this).
    pub(crate) fn advance(&self, to: Stage) {
        self.inner.stage.send_if_modified(|s| {
            if *s < to {
                *s = to;
                true
            } else {
                false
            }
        });
    }

    /// Resolves once the stage is at least `at`.
    pub async fn reached(&self, at: Stage) {
        let mut rx = self.rx.clone();
        // The sender lives in `inner`, which we hold, so this only ends by reaching it.
        let _ = rx.wait_for(|s| *s >= at).await;
    }

    /// Resolves when shutdown starts.
    pub async fn recv(&self) {
        self.reached(Stage::Stopping).await
    }

    /// Registers work to run at `Stopping`, in registration order, before connections
    /// close (e.g. the plugin host's `shutdown` notification, disconnecting peers).
    pub fn on_exit(&self, name: &str, hook: ExitHook) {
        if let Ok(mut h) = self.inner.hooks.lock() {
            h.push((name.to_string(), hook));
        }
    }

    pub(crate) fn take_hooks(&self) -> Vec<(String, ExitHook)> {
        self.inner
            .hooks
            .lock()
            .map(|mut h| std::mem::take(&mut *h))
            .unwrap_or_default()
    }

    pub(crate) fn stop_pending(&self, delta: isize) {
        if delta > 0 {
            self.inner.pending_stops.fetch_add(1, Ordering::SeqCst);
        } else {
            self.inner.pending_stops.fetch_sub(1, Ordering::SeqCst);
        }
    }

    pub(crate) fn pending_stops(&self) -> usize {
        self.inner.pending_stops.load(Ordering::SeqCst)
    }
}

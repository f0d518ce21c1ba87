//! The `db_write` seam: the daemon implements [`WriteHook`] with its plugin host.

use crate::error::StoreError;

/// Called once per commit that changed something, after its last statement and before
/// `COMMIT`. `data_version` is the value the commit sets (previous + 1, wrapping at
/// `u32::MAX`); `writes` are its statements in execution order with values expanded,
/// ending with the `data_version` update itself (as Core Lightning does). One commit may
/// hold the transactions of several jobs the store thread found queued together.
///
/// Returning `Ok` commits; returning `Err` rolls everything back. The call blocks the
/// store: no other transaction can start until it returns, which is the exclusivity the
/// plugin guide promises backup plugins.
pub trait WriteHook: Send + Sync {
    fn db_write(&self, data_version: u32, writes: &[String]) -> Result<(), HookRefusal>;

    /// Whether `writes` matter to this hook. When not, statements are not expanded and
    /// `db_write` gets an empty `writes` (expanding every monitor blob as hex cost about a
    /// tenth of a paying node's CPU with no `db_write` plugin to read it).
    fn wants_statements(&self) -> bool {
        true
    }

    /// Called once, when a fatal error (see [`StoreError::is_fatal`]) made the store stop
    /// writing; the daemon logs it and shuts down. Runs on the store's thread.
    fn store_stopped(&self, _error: &StoreError) {}
}

/// Why a write was refused, naming who refused it, for the daemon's broken log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRefusal {
    /// The plugin (path or name) that refused, died or timed out.
    pub plugin: String,
    /// What it answered, or how it failed.
    pub reason: String,
}

impl std::fmt::Display for HookRefusal {
    /// The reason, prefixed with the plugin unless the reason already names it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.reason.contains(&self.plugin) {
            f.write_str(&self.reason)
        } else {
            write!(f, "plugin {}: {}", self.plugin, self.reason)
        }
    }
}

impl std::error::Error for HookRefusal {}

/// No `db_write` plugins: every write commits.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHook;

impl WriteHook for NoHook {
    fn db_write(&self, _: u32, _: &[String]) -> Result<(), HookRefusal> {
        Ok(())
    }

    fn wants_statements(&self) -> bool {
        false
    }
}

impl<F> WriteHook for F
where
    F: Fn(u32, &[String]) -> Result<(), HookRefusal> + Send + Sync,
{
    fn db_write(&self, data_version: u32, writes: &[String]) -> Result<(), HookRefusal> {
        self(data_version, writes)
    }
}

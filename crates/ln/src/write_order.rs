//! The order in which the channel manager and the channel monitors reach the store.
//!
//! Developer crash knob ([`CRASH_ENV`]): `update_written:N` dies right after the Nth
//! channel monitor update of this run is durable, before the channel manager is written
//! again (the window a kill -9 could fall into).

use std::sync::atomic::{AtomicU64, Ordering};

/// Developer crash knob: `update_written:N`.
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

//! Keeping the process's resident memory near what it uses.
//!
//! With glibc's allocator every thread that allocates may get its own arena (up to eight
//! per core), and memory freed in an arena other than the main one is rarely handed back
//! to the kernel: a burst of load that touched all worker and blocking-pool threads left
//! RSS at its peak for good. Two arenas are plenty for a daemon whose work is I/O, and an
//! explicit trim once a burst is over returns the freed pages.

use std::time::Duration;

/// Caps glibc's malloc arenas. Call before the runtime starts its threads.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// How often the allocator is asked to give freed memory back.
const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Returns freed heap pages to the kernel now and then, for the life of the runtime.
pub async fn trim_periodically() {
    let mut tick = tokio::time::interval(TRIM_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // Walking the heaps takes well under a millisecond at our sizes; off the workers
        // all the same, since it holds each arena's lock while it walks.
        let _ = tokio::task::spawn_blocking(trim).await;
    }
}

fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

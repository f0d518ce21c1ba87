//! One daemon per directory: an exclusive `flock` on `<network-dir>/boltd.lock`, held for
//! the life of the process (the kernel drops it when we die, so no stale-lock problem).

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Holds the lock while alive.
pub struct DirLock {
    _file: File,
}

pub fn acquire(network_dir: &Path) -> Result<DirLock, String> {
    let path = network_dir.join("boltd.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("opening {}: {e}", path.display()))?;
    // SAFETY: flock on a file descriptor we own; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(format!(
            "{} is already in use by another boltd (lock {} is held). Is boltd already running?",
            network_dir.display(),
            path.display()
        ));
    }
    Ok(DirLock { _file: file })
}

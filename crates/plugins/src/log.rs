//! One place where the host writes log lines, so the daemon can route them (it turns
//! unusual/broken lines into `warning` notifications). Every line carries a `source`
//! field: `plugin-<name>` for a plugin, `plugins` for the host itself.

/// Core Lightning's log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Unusual,
    Broken,
}

impl Level {
    /// The `level` of a plugin `log` notification (case-insensitive; `warn`/`error` are
    /// aliases; `io` is not accepted).
    pub fn from_plugin(s: &str) -> Option<Level> {
        Some(match s.to_ascii_lowercase().as_str() {
            "trace" => Level::Trace,
            "debug" => Level::Debug,
            "info" => Level::Info,
            "unusual" | "warn" => Level::Unusual,
            "broken" | "error" => Level::Broken,
            _ => return None,
        })
    }
}

/// Lines logged before the daemon's logger exists (plugins start before the full option
/// parse, which configures logging). `None` = not buffering.
static EARLY: std::sync::Mutex<Option<Vec<(Level, String, String)>>> = std::sync::Mutex::new(None);

/// Starts keeping log lines until [`replay_early`].
pub fn buffer_early() {
    if let Ok(mut g) = EARLY.lock() {
        *g = Some(Vec::new());
    }
}

/// Stops buffering and returns the kept lines (for a daemon that exits before its
/// logger exists: it prints them itself).
pub fn take_early() -> Vec<(Level, String, String)> {
    EARLY
        .lock()
        .ok()
        .and_then(|mut g| g.take())
        .unwrap_or_default()
}

/// Stops buffering and logs the kept lines again, now that a logger listens.
pub fn replay_early() {
    let lines = EARLY
        .lock()
        .ok()
        .and_then(|mut g| g.take())
        .unwrap_or_default();
    for (level, source, msg) in lines {
        emit(level, &source, &msg);
    }
}

pub fn log(level: Level, source: &str, msg: &str) {
    if let Ok(mut g) = EARLY.lock() {
        if let Some(buf) = g.as_mut() {
            buf.push((level, source.to_string(), msg.to_string()));
            return;
        }
    }
    emit(level, source, msg);
}

fn emit(level: Level, source: &str, msg: &str) {
    match level {
        Level::Trace => tracing::trace!(source = %source, "{msg}"),
        Level::Debug => tracing::debug!(source = %source, "{msg}"),
        Level::Info => tracing::info!(source = %source, "{msg}"),
        Level::Unusual => tracing::warn!(source = %source, "{msg}"),
        Level::Broken => tracing::error!(source = %source, "{msg}"),
    }
}

/// The host's own lines.
pub const HOST: &str = "plugins";

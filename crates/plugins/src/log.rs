//! One place where the host writes log lines, so the daemon can route them (it turns
//! unusual/broken lines into `warning` notifications). Every line carries a `source`
//! field: `plugin-<name>` for a plugin, `plugins` for the host itself.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

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

/// Most lines buffered before the daemon's logger exists; older ones are dropped first.
pub const EARLY_MAX_LINES: usize = 10_000;
/// Most bytes (messages and sources) buffered before the daemon's logger exists.
pub const EARLY_MAX_BYTES: usize = 4 * 1024 * 1024;

/// A buffered log line: level, source, message.
pub type Line = (Level, String, String);

#[derive(Default)]
struct Early {
    lines: VecDeque<Line>,
    bytes: usize,
    dropped: u64,
}

/// Where one host's log lines go. Plugins start before the full option parse, which
/// configures logging, so until then lines are kept (bounded: a plugin spewing stderr
/// while it starts must not grow memory for the whole init timeout), then replayed or,
/// for a daemon that exits first, handed back to print. Cheap to clone; clones share.
#[derive(Clone, Default)]
pub struct HostLog {
    early: Arc<Mutex<Option<Early>>>,
}

impl std::fmt::Debug for HostLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (lines, bytes) = self.buffered();
        write!(f, "HostLog {{ buffered: {lines} lines, {bytes} bytes }}")
    }
}

impl HostLog {
    /// Lines go straight to `tracing`.
    pub fn direct() -> HostLog {
        HostLog::default()
    }

    /// Lines are kept until [`replay`](Self::replay) or [`take`](Self::take).
    pub fn buffering() -> HostLog {
        HostLog {
            early: Arc::new(Mutex::new(Some(Early::default()))),
        }
    }

    pub fn log(&self, level: Level, source: &str, msg: &str) {
        let mut g = self.early.lock().unwrap_or_else(|e| e.into_inner());
        let Some(buf) = g.as_mut() else {
            drop(g);
            return log(level, source, msg);
        };
        buf.bytes += source.len() + msg.len();
        buf.lines
            .push_back((level, source.to_string(), msg.to_string()));
        while buf.lines.len() > EARLY_MAX_LINES || buf.bytes > EARLY_MAX_BYTES {
            let Some((_, s, m)) = buf.lines.pop_front() else {
                break;
            };
            buf.bytes -= s.len() + m.len();
            buf.dropped += 1;
        }
    }

    /// Lines and bytes held now (0, 0 when not buffering).
    pub fn buffered(&self) -> (usize, usize) {
        let g = self.early.lock().unwrap_or_else(|e| e.into_inner());
        g.as_ref()
            .map(|b| (b.lines.len(), b.bytes))
            .unwrap_or((0, 0))
    }

    /// Stops buffering and returns the kept lines, a note of how many were dropped first.
    pub fn take(&self) -> Vec<Line> {
        let early = self.early.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(b) = early else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(b.lines.len() + 1);
        if b.dropped > 0 {
            out.push((
                Level::Unusual,
                HOST.to_string(),
                format!(
                    "{} log lines from start-up dropped (over {EARLY_MAX_LINES} lines or {EARLY_MAX_BYTES} bytes)",
                    b.dropped
                ),
            ));
        }
        out.extend(b.lines);
        out
    }

    /// Stops buffering and logs the kept lines, now that a logger listens.
    pub fn replay(&self) {
        for (level, source, msg) in self.take() {
            log(level, &source, &msg);
        }
    }
}

/// Logs straight to `tracing` (for code that runs only once the daemon's logger exists;
/// the host's own lines go through its [`HostLog`]).
pub fn log(level: Level, source: &str, msg: &str) {
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

//! Logging in Core Lightning's format, on `tracing`.
//!
//! Lines look like `[PREFIX]2026-11-22T10:00:00.000Z INFO    boltd: message`. Sinks are stderr
//! and/or files (`--log-file`, repeatable, `-` = stderr); SIGHUP reopens the files (log
//! rotation). Every event at or above `--log-level` is also sent to a broadcast channel
//! ([`LogHandle::subscribe`]) so the plugin host can emit `log`/`warning` notifications.
//!
//! The source column is the event's `source` field if present (e.g. `plugin-foo` for a
//! plugin's own log lines, see [`log`]), else the first segment of the tracing target.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

use crate::config::LogLevel;

/// One log line, as forwarded to in-process listeners.
#[derive(Debug, Clone)]
pub struct LogEvent {
    pub level: LogLevel,
    pub source: String,
    pub message: String,
    pub time: SystemTime,
}

impl LogEvent {
    /// `2026-11-22T10:00:00.000Z`
    pub fn timestamp(&self) -> String {
        chrono::DateTime::<chrono::Utc>::from(self.time)
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    }
    /// `secs.nanos` as CLN's notifications carry it.
    pub fn time_str(&self) -> String {
        let d = self
            .time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
    }
}

enum Sink {
    Stderr,
    File { path: PathBuf, file: File },
}

struct Shared {
    sinks: Mutex<Vec<Sink>>,
    /// Level for sources no filter matches (the last plain `--log-level`, else info).
    level: LogLevel,
    /// `--log-level=LEVEL:PREFIX` filters in the order given: the first whose prefix is
    /// part of a source sets that source's level (CLN's `filter_level`).
    filters: Vec<(String, LogLevel)>,
    prefix: String,
    timestamps: bool,
    events: broadcast::Sender<LogEvent>,
}

/// Handle kept by the daemon: reopen files, subscribe to events.
#[derive(Clone)]
pub struct LogHandle {
    shared: Arc<Shared>,
}

impl LogHandle {
    /// Reopens every log file (after logrotate moved them away).
    pub fn reopen(&self) {
        if let Ok(mut sinks) = self.shared.sinks.lock() {
            for s in sinks.iter_mut() {
                if let Sink::File { path, file } = s {
                    if let Ok(f) = open_append(path) {
                        *file = f;
                    }
                }
            }
        }
    }

    /// Every future log line at or above the configured level.
    pub fn subscribe(&self) -> broadcast::Receiver<LogEvent> {
        self.shared.events.subscribe()
    }

    pub fn level(&self) -> LogLevel {
        self.shared.level
    }

    /// Whether a line from `source` at `level` is printed (and forwarded).
    pub fn enabled(&self, level: LogLevel, source: &str) -> bool {
        self.shared.enabled(level, source)
    }
}

fn open_append(p: &PathBuf) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
}

/// Emits a log line with an explicit CLN level and source (e.g. a plugin's `log`
/// notification, or `io` level traffic).
pub fn log(level: LogLevel, source: &str, message: &str) {
    let l = level.name();
    match level {
        LogLevel::Io | LogLevel::Trace => {
            tracing::trace!(source = source, cln_level = l, "{}", message)
        }
        LogLevel::Debug => tracing::debug!(source = source, "{}", message),
        LogLevel::Info => tracing::info!(source = source, "{}", message),
        LogLevel::Unusual => tracing::warn!(source = source, "{}", message),
        LogLevel::Broken => tracing::error!(source = source, "{}", message),
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    source: Option<String>,
    cln_level: Option<String>,
    extra: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "source" => self.source = Some(value.to_string()),
            "cln_level" => self.cln_level = Some(value.to_string()),
            "message" => self.message.push_str(value),
            n => {
                let _ = write!(self.extra, " {n}={value}");
            }
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "source" => self.source = Some(format!("{value:?}")),
            n => {
                let _ = write!(self.extra, " {n}={value:?}");
            }
        }
    }
}

impl Shared {
    fn enabled(&self, level: LogLevel, source: &str) -> bool {
        let min = self
            .filters
            .iter()
            .find(|(prefix, _)| source.contains(prefix.as_str()))
            .map_or(self.level, |(_, l)| *l);
        level >= min
    }
}

struct ClnLayer {
    shared: Arc<Shared>,
}

fn level_of(l: &Level) -> LogLevel {
    match *l {
        Level::TRACE => LogLevel::Trace,
        Level::DEBUG => LogLevel::Debug,
        Level::INFO => LogLevel::Info,
        Level::WARN => LogLevel::Unusual,
        _ => LogLevel::Broken,
    }
}

impl<S: Subscriber> Layer<S> for ClnLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let mut level = level_of(event.metadata().level());
        if f.cln_level.as_deref() == Some("io") {
            level = LogLevel::Io;
        }
        let source = f.source.unwrap_or_else(|| {
            let t = event.metadata().target();
            t.split("::").next().unwrap_or(t).to_string()
        });
        if !self.shared.enabled(level, &source) {
            return;
        }
        let mut message = f.message;
        message.push_str(&f.extra);
        let message = sanitize(&message);
        let ev = LogEvent {
            level,
            source,
            message,
            time: SystemTime::now(),
        };
        // `--log-prefix` goes first, then the timestamp (Core Lightning's order).
        let mut line = self.shared.prefix.clone();
        if self.shared.timestamps {
            line.push_str(&ev.timestamp());
            line.push(' ');
        }
        let _ = writeln!(line, "{:<7} {}: {}", level.label(), ev.source, ev.message);
        if let Ok(mut sinks) = self.shared.sinks.lock() {
            for s in sinks.iter_mut() {
                // A full disk or closed stderr must not take the daemon down.
                let _ = match s {
                    Sink::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
                    Sink::File { file, .. } => file.write_all(line.as_bytes()),
                };
            }
        }
        // No receivers is fine.
        let _ = self.shared.events.send(ev);
    }
}

/// Every byte outside printable ASCII becomes `?`, as Core Lightning's `logv` does, so
/// one event is one line whatever a plugin or peer put in it.
fn sanitize(message: &str) -> String {
    message
        .bytes()
        .map(|b| {
            if (b' '..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

/// How logging is set up (from `--log-*` options).
pub struct LogOptions<'a> {
    /// The default level (plain `--log-level`).
    pub level: LogLevel,
    /// `--log-level=LEVEL:PREFIX` filters, in order.
    pub filters: Vec<(String, LogLevel)>,
    /// `--log-file` values; empty means stderr only. `-` is stderr.
    pub files: &'a [String],
    pub prefix: &'a str,
    pub timestamps: bool,
    /// Relative log file names are under this directory.
    pub base: &'a std::path::Path,
}

/// Installs the global subscriber.
pub fn init(o: LogOptions<'_>) -> Result<LogHandle, String> {
    let LogOptions {
        level,
        filters,
        files,
        prefix,
        timestamps,
        base,
    } = o;
    let mut sinks = vec![];
    for f in files {
        if f == "-" {
            sinks.push(Sink::Stderr);
        } else {
            let p = base.join(f);
            let file = open_append(&p).map_err(|e| format!("Failed to open log file {f}: {e}"))?;
            sinks.push(Sink::File { path: p, file });
        }
    }
    if files.is_empty() {
        sinks.push(Sink::Stderr);
    }
    let (events, _) = broadcast::channel(1024);
    let shared = Arc::new(Shared {
        sinks: Mutex::new(sinks),
        level,
        filters: filters.clone(),
        prefix: prefix.to_string(),
        timestamps,
        events,
    });
    // The tracing-level pre-filter must let through the most verbose level in use.
    let most = filters.iter().map(|(_, l)| *l).fold(level, LogLevel::min);
    let max = match most {
        LogLevel::Io | LogLevel::Trace => tracing::level_filters::LevelFilter::TRACE,
        LogLevel::Debug => tracing::level_filters::LevelFilter::DEBUG,
        LogLevel::Info => tracing::level_filters::LevelFilter::INFO,
        LogLevel::Unusual => tracing::level_filters::LevelFilter::WARN,
        LogLevel::Broken => tracing::level_filters::LevelFilter::ERROR,
    };
    let layer = ClnLayer {
        shared: shared.clone(),
    }
    .with_filter(max);
    let subscriber = tracing_subscriber::registry().with(layer);
    // A second init in one process (tests) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(LogHandle { shared })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(level: LogLevel, filters: &[(&str, LogLevel)]) -> Shared {
        Shared {
            sinks: Mutex::new(vec![]),
            level,
            filters: filters.iter().map(|(p, l)| (p.to_string(), *l)).collect(),
            prefix: String::new(),
            timestamps: true,
            events: broadcast::channel(16).0,
        }
    }

    #[test]
    fn lines_are_written_in_cln_format_and_broadcast() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut sh = shared(LogLevel::Debug, &[]);
        sh.prefix = "p-".into();
        sh.sinks = Mutex::new(vec![Sink::File {
            path: path.clone(),
            file: open_append(&path).unwrap(),
        }]);
        let sh = Arc::new(sh);
        let mut rx = sh.events.subscribe();
        let sub = tracing_subscriber::registry().with(ClnLayer { shared: sh.clone() });
        tracing::subscriber::with_default(sub, || {
            tracing::warn!(source = "plugin-x", "hello {}", 1);
            tracing::trace!("too verbose");
            log(LogLevel::Broken, "jsonrpc#3", "bad");
        });
        let text = std::fs::read_to_string(&path).unwrap();
        // The prefix comes first, before the timestamp (CLN's log.c), so merged logs of
        // several daemons can be told apart at the start of each line.
        assert!(text.lines().all(|l| l.starts_with("p-2")), "{text}");
        let lines: Vec<&str> = text.lines().map(|l| &l[27..]).collect();
        assert_eq!(
            lines,
            vec!["UNUSUAL plugin-x: hello 1", "**BROKEN** jsonrpc#3: bad"]
        );
        let ev = rx.try_recv().unwrap();
        assert_eq!(
            (ev.level, ev.source.as_str(), ev.message.as_str()),
            (LogLevel::Unusual, "plugin-x", "hello 1")
        );
        assert!(ev.time_str().contains('.'));
        assert_eq!(rx.try_recv().unwrap().level, LogLevel::Broken);
    }

    #[test]
    fn control_and_non_ascii_bytes_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut sh = shared(LogLevel::Debug, &[]);
        sh.timestamps = false;
        sh.sinks = Mutex::new(vec![Sink::File {
            path: path.clone(),
            file: open_append(&path).unwrap(),
        }]);
        let sh = Arc::new(sh);
        let mut rx = sh.events.subscribe();
        let sub = tracing_subscriber::registry().with(ClnLayer { shared: sh.clone() });
        tracing::subscriber::with_default(sub, || {
            log(LogLevel::Info, "plugin-x", "a\nb\tc\u{7f}é!");
        });
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "INFO    plugin-x: a?b?c???!\n");
        assert_eq!(rx.try_recv().unwrap().message, "a?b?c???!");
    }

    #[test]
    fn subsystem_filter_only_raises_matching_sources() {
        let s = shared(LogLevel::Info, &[("plugin-foo", LogLevel::Debug)]);
        assert!(s.enabled(LogLevel::Debug, "plugin-foo"));
        assert!(!s.enabled(LogLevel::Debug, "boltd"));
        assert!(s.enabled(LogLevel::Info, "boltd"));
        // Several filters: the first matching one wins; others use the default level,
        // which a plain --log-level sets even next to filters.
        let s = shared(
            LogLevel::Unusual,
            &[("plugin-foo", LogLevel::Io), ("plugin", LogLevel::Broken)],
        );
        assert!(s.enabled(LogLevel::Io, "plugin-foo"));
        assert!(!s.enabled(LogLevel::Unusual, "plugin-bar"));
        assert!(s.enabled(LogLevel::Broken, "plugin-bar"));
        assert!(!s.enabled(LogLevel::Info, "boltd"));
        assert!(s.enabled(LogLevel::Unusual, "boltd"));
        let s = shared(LogLevel::Unusual, &[]);
        assert!(!s.enabled(LogLevel::Info, "boltd"));
        assert!(s.enabled(LogLevel::Broken, "boltd"));
    }
}

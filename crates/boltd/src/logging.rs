//! Logging in Core Lightning's format, on `tracing`.
//!
//! Lines look like `[PREFIX]2026-11-22T10:00:00.000Z INFO    boltd: message`. Sinks are stderr
//! and/or files (`--log-file`, repeatable, `-` = stderr); SIGHUP reopens the files (log
//! rotation). Every event at or above `--log-level` is also sent to each subscriber
//! ([`LogHandle::subscribe`]) so the plugin host can emit `log`/`warning` notifications.
//! Nothing is skipped for a subscriber that is behind (a broadcast channel did that
//! silently): its queue holds what it has not read yet. The one subscriber, the plugin
//! host's forwarder, never waits on anything (it queues notifications within each
//! plugin's budget), so that queue is only as long as the lines logged before it runs
//! again; a logger can never block on it (a blocked logger could stall the runtime).
//!
//! The source column is the event's `source` field if present (e.g. `plugin-foo` for a
//! plugin's own log lines, see [`log`]), else the first segment of the tracing target.
//!
//! File work happens on one writer thread of its own, never on a runtime worker: events
//! queue their line (a bounded queue: a stuck disk slows loggers down instead of growing
//! memory), the thread writes through buffers and flushes whenever the queue is empty, so
//! the files are current as soon as logging pauses. [`LogHandle::flush`] waits for
//! everything queued (the daemon calls it before exiting).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;
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
    File {
        path: PathBuf,
        file: BufWriter<File>,
    },
}

impl Sink {
    fn file(path: PathBuf) -> std::io::Result<Sink> {
        let file = BufWriter::with_capacity(64 * 1024, open_append(&path)?);
        Ok(Sink::File { path, file })
    }
}

/// What the writer thread is asked to do, in order.
enum Msg {
    Line(String),
    /// Reopen every file (log rotation).
    Reopen,
    /// Flush everything before this, then answer.
    Flush(std::sync::mpsc::Sender<()>),
}

/// Lines queued for the writer thread before loggers wait.
const QUEUE: usize = 16 * 1024;

/// The sending side of the writer thread.
struct Writer {
    tx: SyncSender<Msg>,
}

impl Writer {
    /// Starts the writer thread over `sinks`.
    fn spawn(sinks: Vec<Sink>) -> Result<Writer, String> {
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("boltd-log".into())
            .spawn(move || write_loop(rx, sinks))
            .map_err(|e| format!("cannot start log writer: {e}"))?;
        Ok(Writer { tx })
    }

    fn send(&self, m: Msg) {
        // The thread only ends when every sender is gone; nothing to do if it did.
        let _ = self.tx.send(m);
    }

    /// Waits (at most 2 s) until every line queued before this call is written.
    fn flush(&self) {
        let (ack, done) = std::sync::mpsc::channel();
        self.send(Msg::Flush(ack));
        let _ = done.recv_timeout(std::time::Duration::from_secs(2));
    }
}

fn write_loop(rx: Receiver<Msg>, mut sinks: Vec<Sink>) {
    let mut acks = vec![];
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(m) = next.take() {
            match m {
                Msg::Line(line) => {
                    for s in sinks.iter_mut() {
                        // A full disk or closed stderr must not take the daemon down.
                        let _ = match s {
                            Sink::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
                            Sink::File { file, .. } => file.write_all(line.as_bytes()),
                        };
                    }
                }
                Msg::Reopen => {
                    for s in sinks.iter_mut() {
                        if let Sink::File { path, file } = s {
                            let _ = file.flush();
                            if let Ok(Sink::File { file: f, .. }) = Sink::file(path.clone()) {
                                *file = f;
                            }
                        }
                    }
                }
                Msg::Flush(ack) => acks.push(ack),
            }
            next = rx.try_recv().ok();
        }
        // Idle: everything so far goes out now.
        for s in sinks.iter_mut() {
            if let Sink::File { file, .. } = s {
                let _ = file.flush();
            }
        }
        for a in acks.drain(..) {
            let _ = a.send(());
        }
    }
}

struct Shared {
    writer: Writer,
    /// Level for sources no filter matches (the last plain `--log-level`, else info).
    level: LogLevel,
    /// `--log-level=LEVEL:PREFIX` filters in the order given: the first whose prefix is
    /// part of a source sets that source's level (CLN's `filter_level`).
    filters: Vec<(String, LogLevel)>,
    prefix: String,
    timestamps: bool,
    events: Listeners,
}

/// Where log events go besides the files: one unbounded queue per subscriber.
#[derive(Default)]
struct Listeners(std::sync::Mutex<Vec<mpsc::UnboundedSender<LogEvent>>>);

impl Listeners {
    fn subscribe(&self) -> mpsc::UnboundedReceiver<LogEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(tx);
        rx
    }

    /// Sends to every subscriber; one that went away is forgotten.
    fn send(&self, ev: LogEvent) {
        let mut subs = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if subs.is_empty() {
            return;
        }
        subs.retain(|s| !s.is_closed());
        if let Some((last, rest)) = subs.split_last() {
            for s in rest {
                let _ = s.send(ev.clone());
            }
            let _ = last.send(ev);
        }
    }
}

/// Handle kept by the daemon: reopen files, subscribe to events.
#[derive(Clone)]
pub struct LogHandle {
    shared: Arc<Shared>,
}

impl LogHandle {
    /// Reopens every log file (after logrotate moved them away).
    pub fn reopen(&self) {
        self.shared.writer.send(Msg::Reopen);
    }

    /// Waits until every line logged so far is in the files (bounded: 2 s).
    pub fn flush(&self) {
        self.shared.writer.flush();
    }

    /// Every future log line at or above the configured level, none skipped.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<LogEvent> {
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
        // An event that names no source of its own (most: its target says where it comes
        // from) and that the filters drop is dropped before its fields are formatted. A
        // `LEVEL:PREFIX` filter lowers tracing's pre-filter for every event, so otherwise
        // each of LDK's debug lines was formatted only to be thrown away.
        let meta = event.metadata();
        if meta.fields().field("source").is_none() && meta.fields().field("cln_level").is_none() {
            let t = meta.target();
            if !self
                .shared
                .enabled(level_of(meta.level()), t.split("::").next().unwrap_or(t))
            {
                return;
            }
        }
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
        self.shared.writer.send(Msg::Line(line));
        self.shared.events.send(ev);
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
            let sink = Sink::file(base.join(f))
                .map_err(|e| format!("Failed to open log file {f}: {e}"))?;
            sinks.push(sink);
        }
    }
    if files.is_empty() {
        sinks.push(Sink::Stderr);
    }
    let events = Listeners::default();
    let shared = Arc::new(Shared {
        writer: Writer::spawn(sinks)?,
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
            writer: Writer::spawn(vec![]).unwrap(),
            level,
            filters: filters.iter().map(|(p, l)| (p.to_string(), *l)).collect(),
            prefix: String::new(),
            timestamps: true,
            events: Listeners::default(),
        }
    }

    #[test]
    fn lines_are_written_in_cln_format_and_broadcast() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut sh = shared(LogLevel::Debug, &[]);
        sh.prefix = "p-".into();
        sh.writer = Writer::spawn(vec![Sink::file(path.clone()).unwrap()]).unwrap();
        let sh = Arc::new(sh);
        let mut rx = sh.events.subscribe();
        let sub = tracing_subscriber::registry().with(ClnLayer { shared: sh.clone() });
        tracing::subscriber::with_default(sub, || {
            tracing::warn!(source = "plugin-x", "hello {}", 1);
            tracing::trace!("too verbose");
            log(LogLevel::Broken, "jsonrpc#3", "bad");
        });
        sh.writer.flush();
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

    /// A burst of lines the forwarder has not read yet (it was not scheduled meanwhile)
    /// must all reach it, in order: `log`/`warning` notifications are native ones, and a
    /// broadcast channel skipped lines silently once it lagged.
    #[test]
    fn a_burst_of_lines_reaches_a_slow_subscriber_whole_and_in_order() {
        let sh = Arc::new(shared(LogLevel::Debug, &[]));
        let mut rx = sh.events.subscribe();
        let sub = tracing_subscriber::registry().with(ClnLayer { shared: sh.clone() });
        tracing::subscriber::with_default(sub, || {
            for i in 0..5000 {
                log(LogLevel::Info, "burst", &format!("line {i}"));
            }
        });
        for i in 0..5000 {
            let ev = rx.try_recv().expect("every line is delivered");
            assert_eq!(ev.message, format!("line {i}"));
        }
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn control_and_non_ascii_bytes_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut sh = shared(LogLevel::Debug, &[]);
        sh.timestamps = false;
        sh.writer = Writer::spawn(vec![Sink::file(path.clone()).unwrap()]).unwrap();
        let sh = Arc::new(sh);
        let mut rx = sh.events.subscribe();
        let sub = tracing_subscriber::registry().with(ClnLayer { shared: sh.clone() });
        tracing::subscriber::with_default(sub, || {
            log(LogLevel::Info, "plugin-x", "a\nb\tc\u{7f}é!");
        });
        sh.writer.flush();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "INFO    plugin-x: a?b?c???!\n");
        assert_eq!(rx.try_recv().unwrap().message, "a?b?c???!");
    }

    /// Counts how often it is formatted.
    struct Formatted<'a>(&'a std::sync::atomic::AtomicUsize);

    impl std::fmt::Display for Formatted<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            f.write_str("x")
        }
    }

    #[test]
    fn a_line_the_filters_drop_is_not_formatted() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let sh = Arc::new(shared(LogLevel::Info, &[("plugin-foo", LogLevel::Debug)]));
        let mut rx = sh.events.subscribe();
        let sub = tracing_subscriber::registry().with(
            ClnLayer { shared: sh.clone() }.with_filter(tracing::level_filters::LevelFilter::DEBUG),
        );
        let (dropped, kept) = (AtomicUsize::new(0), AtomicUsize::new(0));
        tracing::subscriber::with_default(sub, || {
            tracing::debug!(target: "ln::ldk", "{}", Formatted(&dropped));
            tracing::debug!(source = "plugin-foo", "{}", Formatted(&kept));
            tracing::info!(target: "ln::ldk", "{}", Formatted(&kept));
        });
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
        assert_eq!(kept.load(Ordering::SeqCst), 2);
        assert_eq!(rx.try_recv().unwrap().source, "plugin-foo");
        assert_eq!(rx.try_recv().unwrap().source, "ln");
        assert!(rx.try_recv().is_err());
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

//! Plugin processes: spawn with Core Lightning's cwd/env/argv (§0), then four tasks per
//! plugin — a writer draining what callers could not write to stdin at once (see
//! [`crate::outbound`]), a reader parsing stdout with
//! `jsonrpc::JsonCodec` (no delimiter needed; a broken stdin ends it too), a stderr
//! reader logging each line under `plugin-<name>`, and a reaper that owns the child and
//! kills it on request.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use futures::StreamExt;
use jsonrpc::{id_prefix, parse_incoming, strerror, FrameError, Incoming, JsonCodec};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::unix::pipe;
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use tokio::sync::{oneshot, watch};
use tokio_util::codec::FramedRead;

use crate::host::{lock, NoteQueue, PState, Plugin, PluginHost, Reply};
use crate::log::{HostLog, Level};
use crate::outbound::{writer, Outbound};

/// True if `path` is a regular file (symlinks followed) with an execute bit.
pub fn check_executable(path: &Path) -> Result<(), std::io::Error> {
    use std::os::unix::fs::PermissionsExt;
    let md = std::fs::metadata(path)?;
    if !md.is_file() || md.permissions().mode() & 0o111 == 0 {
        return Err(std::io::Error::from_raw_os_error(libc::EACCES));
    }
    Ok(())
}

impl PluginHost {
    /// Spawns `path` and registers it as a live (not yet manifested) plugin.
    /// Err carries the kill reason (`opening pipe: <strerror>`). `Ok(None)`: a live plugin
    /// already runs from `path`, or is being spawned (the path is reserved under the state
    /// lock, so concurrent `plugin start`s of one path cannot both pass).
    ///
    /// Reading the whole executable for its checksum and forking are done on the blocking
    /// pool, with no lock held: neither may stall a runtime worker or every other user of
    /// the host.
    pub(crate) async fn spawn(
        &self,
        path: &str,
        important: bool,
        startup: bool,
    ) -> Result<Option<Arc<Plugin>>, String> {
        let cfg = self.cfg();
        let mut cmd = Command::new(path);
        if cfg.developer {
            cmd.arg("--developer");
        }
        cmd.current_dir(&cfg.network_dir)
            .env("LIGHTNINGD_PLUGIN", "1")
            .env("LIGHTNINGD_VERSION", &cfg.version)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        {
            let mut st = lock(&self.inner.state);
            if st.plugins.iter().any(|p| p.path == path) || !st.spawning.insert(path.to_string()) {
                return Ok(None);
            }
        }
        let _reserved = Reserved { host: self, path };
        let owned = path.to_string();
        let (checksum, child) = tokio::task::spawn_blocking(move || {
            let checksum = file_checksum(&owned);
            // A file written just before (an installer, a test) can be held open for
            // writing for an instant by another thread's fork that has not exec'd yet:
            // the kernel refuses to run it (ETXTBSY). That passes; retry briefly.
            let mut child = cmd.spawn();
            for _ in 0..50 {
                match &child {
                    Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                        child = cmd.spawn();
                    }
                    _ => break,
                }
            }
            (checksum, child)
        })
        .await
        .map_err(|e| format!("opening pipe: {e}"))?;
        let mut child = child.map_err(|e| format!("opening pipe: {}", strerror(&e)))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err("opening pipe: missing stdio".to_string());
        };
        // As a tokio pipe, stdin also tells us when the plugin closed its end while we had
        // nothing to write (an error readiness on the write end).
        let stdin = stdin
            .into_owned_fd()
            .and_then(pipe::Sender::from_owned_fd)
            .map_err(|e| format!("opening pipe: {}", strerror(&e)))?;
        let note_queue = Arc::new(NoteQueue::new(cfg.queue_len));
        let out = Arc::new(Outbound::new(stdin, note_queue.clone()));
        let (kill_tx, kill_rx) = oneshot::channel();
        let (exit_tx, exit_rx) = watch::channel(false);
        let name = Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.to_string());
        let plugin = {
            let mut st = lock(&self.inner.state);
            let index = st.next_index;
            st.next_index += 1;
            let p = Arc::new(Plugin {
                index,
                path: path.to_string(),
                name,
                important: AtomicBool::new(important),
                startup,
                checksum,
                state: watch::channel(PState::AwaitingManifest).0,
                manifest: OnceLock::new(),
                out: out.clone(),
                note_queue,
                pending: Mutex::new(Default::default()),
                dead: AtomicBool::new(false),
                death: Mutex::new(None),
                gone: watch::channel(None).0,
                kill_tx: Mutex::new(Some(kill_tx)),
                exited: exit_rx,
            });
            st.plugins.push(p.clone());
            p
        };
        let (broken_tx, broken_rx) = watch::channel(false);
        tokio::spawn(writer(out, broken_tx, plugin.exited.clone()));
        tokio::spawn(reaper(child, kill_rx, exit_tx));
        tokio::spawn(stderr_logger(stderr, plugin.source(), self.host_log()));
        tokio::spawn(
            self.clone()
                .reader(plugin.clone(), stdout, cfg.max_message, broken_rx),
        );
        Ok(Some(plugin))
    }

    /// Reads and dispatches everything the plugin writes until EOF or a framing error.
    ///
    /// Once its stdin broke (`broken`), the plugin can never hear from us again, as if it
    /// had exited (lightningd drops a plugin when either pipe fails); and once the process
    /// exited, stdout may still never reach EOF (a child it forked holds the pipe). Either
    /// way what it already wrote is still read for [`DRAIN`], then it is killed with the
    /// "exited" reason and this task ends, letting go of the pipe.
    async fn reader(
        self,
        p: Arc<Plugin>,
        stdout: ChildStdout,
        max: usize,
        mut broken: watch::Receiver<bool>,
    ) {
        let mut frames = FramedRead::new(stdout, JsonCodec::new(max));
        let mut exited = p.exited.clone();
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let next = match deadline {
                None => tokio::select! {
                    n = frames.next() => n,
                    Ok(_) = broken.wait_for(|b| *b) => {
                        deadline = Some(tokio::time::Instant::now() + DRAIN);
                        continue;
                    }
                    Ok(_) = exited.wait_for(|e| *e) => {
                        deadline = Some(tokio::time::Instant::now() + DRAIN);
                        continue;
                    }
                },
                // Past the deadline: treated as the EOF that never came.
                Some(d) => tokio::time::timeout_at(d, frames.next())
                    .await
                    .unwrap_or_default(),
            };
            match next {
                None => {
                    let msg = format!("exited {}", p.state().exit_desc());
                    self.kill(&p, Level::Info, &msg);
                    return;
                }
                Some(Err(FrameError::Io(e))) => {
                    self.kill(&p, Level::Unusual, &format!("reading stdout: {e}"));
                    return;
                }
                Some(Err(e)) => {
                    self.kill(&p, Level::Unusual, &e.to_string());
                    return;
                }
                Some(Ok(bytes)) => match parse_incoming(&bytes) {
                    Err(msg) => {
                        self.kill(&p, Level::Unusual, &msg);
                        return;
                    }
                    Ok(msg) => {
                        if !self.dispatch(&p, msg).await {
                            return;
                        }
                    }
                },
            }
            if p.dead.load(Ordering::SeqCst) {
                return;
            }
        }
    }

    /// Routes one message. Returns false if the plugin was killed. A notification for
    /// subscribers waits here while one of their queues is full: that is the emitter's
    /// backpressure (we stop reading it).
    async fn dispatch(&self, p: &Arc<Plugin>, msg: Incoming) -> bool {
        let (id, reply) = match msg {
            Incoming::Notification { method, params } => {
                return self.plugin_notification(p, &method, params).await;
            }
            Incoming::Response(r) => (
                id_prefix(&r.id),
                match r.outcome {
                    Ok(v) => Reply::Result(v),
                    Err(e) => Reply::Error(e),
                },
            ),
            Incoming::Malformed { id, members } => (id_prefix(&id), Reply::Malformed(members)),
            // Anything with an id is a response to lightningd; a `method` does not change
            // that (plugin.c:733-778).
            Incoming::Request(r) => (id_prefix(&r.id), Reply::Malformed(r.members)),
        };
        // Unknown ids are ignored, like lightningd does.
        if let Some(w) = lock(&p.pending).remove(&id) {
            let _ = w.tx.send(reply);
        } else {
            self.log(
                Level::Debug,
                &p.source(),
                &format!("Ignoring response to unknown id {id}"),
            );
        }
        true
    }
}

/// How long the reader keeps reading a plugin that can no longer be written to before it
/// is declared exited (what it wrote before is in the pipe already: this is plenty).
const DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

async fn reaper(mut child: Child, kill_rx: oneshot::Receiver<()>, exited: watch::Sender<bool>) {
    tokio::select! {
        _ = child.wait() => {}
        _ = kill_rx => {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
    let _ = exited.send(true);
}

async fn stderr_logger(stderr: ChildStderr, source: String, log: HostLog) {
    // Lines are logged lossily (plugins may print anything) and cut at 64 KiB, and we
    // always keep draining so a chatty plugin never blocks on a full pipe.
    const MAX_LINE: usize = 64 * 1024;
    let mut r = BufReader::new(stderr);
    let mut line: Vec<u8> = Vec::new();
    loop {
        let (consumed, done) = match r.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(buf) => match buf.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    line.extend_from_slice(&buf[..i]);
                    (i + 1, true)
                }
                None => {
                    line.extend_from_slice(buf);
                    (buf.len(), false)
                }
            },
        };
        r.consume(consumed);
        if done || line.len() >= MAX_LINE {
            log.log(Level::Info, &source, &String::from_utf8_lossy(&line));
            line.clear();
        }
    }
    if !line.is_empty() {
        log.log(Level::Info, &source, &String::from_utf8_lossy(&line));
    }
}

/// A path being spawned: released when the spawn ends, registered or not.
struct Reserved<'a> {
    host: &'a PluginHost,
    path: &'a str,
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        lock(&self.host.inner.state).spawning.remove(self.path);
    }
}

/// A checksum of the plugin's executable (lightningd uses crc32c; any stable hash of the
/// content will do: it is only compared with itself). 0 if unreadable. Reads the file in
/// chunks, so a large executable costs no large allocation; call it off the runtime.
fn file_checksum(path: &str) -> u64 {
    use std::hash::Hasher;
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else {
        return 0;
    };
    // DefaultHasher::new() has fixed keys: stable within the process.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return h.finish(),
            Ok(n) => h.write(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return 0,
        }
    }
}

/// [`file_checksum`] on the blocking pool.
pub(crate) async fn checksum_off_runtime(path: &str) -> u64 {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || file_checksum(&path))
        .await
        .unwrap_or(0)
}

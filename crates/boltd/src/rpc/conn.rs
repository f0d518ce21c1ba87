//! One client connection, served by one task: it frames and validates requests, drives
//! the ones that do not finish at once (answers are written as each completes) and writes
//! replies and queued notifications. A client that never reads only stalls itself: once its unwritten replies pass a byte
//! limit its reader stops taking new requests (as lightningd does not read while output
//! is pending), so what it costs us is bounded by bytes, not by a count of replies.

use std::collections::VecDeque;
use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use jsonrpc::{
    error_frame, null_id, parse_request, request_error_frame, FrameError, JsonCodec, RpcError,
};
use tokio::io::AsyncWriteExt;
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;

use super::dispatch::{shutting_down, Context, Dispatcher};
use crate::node::Node;
use crate::shutdown::Stage;

/// Requests one connection may have running at once before we stop reading from it.
const MAX_IN_FLIGHT: usize = 128;
/// Response frames queued for one connection before its request tasks wait.
const OUT_QUEUE: usize = 256;
/// Reply bytes of one connection queued or being written above which we read no more of
/// its requests (and drop best-effort notifications to it).
const MAX_UNWRITTEN: usize = 16 << 20;
/// The reply size assumed for a connection before its replies show otherwise: a fresh
/// connection starts at most `MAX_UNWRITTEN / FIRST_GUESS` (8) requests at once, and
/// its window opens to `MAX_IN_FLIGHT` as small replies come back.
const FIRST_GUESS: usize = 2 << 20;

/// Bytes gathered into one socket write.
const WRITE_BATCH: usize = 64 * 1024;

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// What one connection's replies cost us: bytes not yet written to the client, requests
/// started and not yet answered, and a recent reply size to plan the next ones with.
#[derive(Debug)]
struct Budget {
    unwritten: AtomicUsize,
    in_flight: AtomicUsize,
    /// The largest recent reply, decaying by 1/8 per reply.
    reply_guess: AtomicUsize,
}

impl Budget {
    fn new() -> Self {
        Budget {
            unwritten: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            reply_guess: AtomicUsize::new(FIRST_GUESS),
        }
    }

    /// Whether the reader may start one more request: nothing over the byte limit, and
    /// the replies of what is running would fit under it too (one request always may
    /// run once the client has read enough).
    fn may_start(&self) -> bool {
        let unwritten = self.unwritten.load(Ordering::Acquire);
        let running = self.in_flight.load(Ordering::Acquire);
        let guess = self.reply_guess.load(Ordering::Relaxed);
        running < MAX_IN_FLIGHT
            && unwritten <= MAX_UNWRITTEN
            && (running == 0
                || unwritten.saturating_add((running + 1).saturating_mul(guess)) <= MAX_UNWRITTEN)
    }

    /// Counts a request as running until the returned guard is dropped.
    fn start(self: &Arc<Self>) -> Running {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Running {
            budget: self.clone(),
            reply_len: 0,
        }
    }

    /// A request's reply (of `len` bytes) was queued, or it ended without one.
    fn answered(&self, len: usize) {
        let g = self.reply_guess.load(Ordering::Relaxed);
        self.reply_guess
            .store(len.max(g - g / 8), Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    fn queued(&self, len: usize) {
        self.unwritten.fetch_add(len, Ordering::AcqRel);
    }

    fn written(&self, len: usize) {
        self.unwritten.fetch_sub(len, Ordering::AcqRel);
    }

    fn over_limit(&self) -> bool {
        self.unwritten.load(Ordering::Acquire) > MAX_UNWRITTEN
    }
}

/// A handle on a client connection, given to every request handler.
#[derive(Clone, Debug)]
pub struct ConnHandle {
    /// Unique per connection (log lines, routing notifications).
    pub id: u64,
    out: mpsc::Sender<Vec<u8>>,
    budget: Arc<Budget>,
    /// Set by the `notifications` command; `message`/`progress` notifications from
    /// plugins are forwarded only when true.
    notifications: Arc<AtomicBool>,
    /// Set by the `deprecations` command: `None` follows `--allow-deprecated-apis`.
    deprecations: Arc<std::sync::Mutex<Option<bool>>>,
}

/// One running request of a connection (see [`Budget::start`]); dropping it, also when
/// the request task ends early, counts the request as answered.
struct Running {
    budget: Arc<Budget>,
    reply_len: usize,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.budget.answered(self.reply_len);
    }
}

impl ConnHandle {
    /// A connection with no client behind it, for requests the daemon runs on someone's
    /// behalf (commando): frames sent to it are dropped.
    pub fn detached() -> ConnHandle {
        let (tx, _) = mpsc::channel(1);
        ConnHandle {
            id: NEXT_CONN.fetch_add(1, Ordering::Relaxed),
            out: tx,
            budget: Arc::new(Budget::new()),
            notifications: Arc::new(AtomicBool::new(false)),
            deprecations: Arc::new(std::sync::Mutex::new(None)),
        }
    }

    pub fn notifications_enabled(&self) -> bool {
        self.notifications.load(Ordering::Relaxed)
    }

    pub fn set_notifications(&self, on: bool) {
        self.notifications.store(on, Ordering::Relaxed);
    }

    /// Whether deprecated APIs are allowed on this connection: its `deprecations`
    /// setting, else the global one.
    pub fn deprecated_apis(&self, global: bool) -> bool {
        self.deprecations
            .lock()
            .ok()
            .and_then(|d| *d)
            .unwrap_or(global)
    }

    /// The `deprecations` setting, if this connection made one (plugins compare it with
    /// the global setting to send `deprecated_oneshot`).
    pub fn deprecations_override(&self) -> Option<bool> {
        self.deprecations.lock().ok().and_then(|d| *d)
    }

    pub fn set_deprecations(&self, on: bool) {
        if let Ok(mut d) = self.deprecations.lock() {
            *d = Some(on);
        }
    }

    /// Queues a complete frame (e.g. a notification) to this client. Returns false if
    /// the client is gone. Waits if the client is slow to read.
    pub async fn send_frame(&self, frame: Vec<u8>) -> bool {
        let len = frame.len();
        self.budget.queued(len);
        let ok = self.out.send(frame).await.is_ok();
        if !ok {
            self.budget.written(len);
        }
        ok
    }

    /// Like [`send_frame`](Self::send_frame) but never waits: drops the frame if the
    /// queue is full or the client has too many unread bytes (best-effort notifications).
    pub fn try_send_frame(&self, frame: Vec<u8>) -> bool {
        if self.budget.over_limit() {
            return false;
        }
        let len = frame.len();
        self.budget.queued(len);
        let ok = self.out.try_send(frame).is_ok();
        if !ok {
            self.budget.written(len);
        }
        ok
    }

    /// Queues a notification only if this client enabled notifications.
    pub fn notify(&self, method: &str, params: &serde_json::Value) -> bool {
        self.notifications_enabled()
            && self.try_send_frame(jsonrpc::notification_frame(method, params))
    }
}
/// A request that did not finish at once: its reply frame (or the shutdown error) and
/// its place in the budget.
type InFlight = Pin<Box<dyn Future<Output = (Vec<u8>, Running)> + Send>>;

/// Reply bytes waiting for the client's socket, written with one vectored write per
/// wake-up; every byte is counted in the budget until written (or dropped with a client
/// that is gone).
struct Outbox {
    frames: VecDeque<Vec<u8>>,
    /// Bytes of the front frame already written.
    front_sent: usize,
    bytes: usize,
    budget: Arc<Budget>,
    /// The client can no longer be written to: frames are dropped as they come.
    gone: bool,
}

/// Frames handed to one `writev`.
const MAX_IOV: usize = 64;

impl Outbox {
    fn new(budget: Arc<Budget>) -> Self {
        Outbox {
            frames: VecDeque::new(),
            front_sent: 0,
            bytes: 0,
            budget,
            gone: false,
        }
    }

    fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// A frame the connection's own task produced (not yet counted in the budget).
    fn push(&mut self, frame: Vec<u8>) {
        self.budget.queued(frame.len());
        self.push_counted(frame);
    }

    /// A frame from the queue ([`ConnHandle::send_frame`] counted it already).
    fn push_counted(&mut self, frame: Vec<u8>) {
        if self.gone {
            self.budget.written(frame.len());
            return;
        }
        if frame.is_empty() {
            return;
        }
        self.bytes += frame.len();
        self.frames.push_back(frame);
    }

    /// Writes what the socket takes now without waiting. Err: the client is gone.
    fn flush(&mut self, wr: &OwnedWriteHalf) -> std::io::Result<()> {
        while !self.is_empty() {
            let n = {
                let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity(self.frames.len().min(MAX_IOV));
                for (i, f) in self.frames.iter().take(MAX_IOV).enumerate() {
                    let skip = if i == 0 { self.front_sent } else { 0 };
                    iov.push(IoSlice::new(f.get(skip..).unwrap_or_default()));
                }
                match wr.try_write_vectored(&iov) {
                    Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            self.consumed(n);
        }
        Ok(())
    }

    fn consumed(&mut self, mut n: usize) {
        self.bytes -= n;
        self.budget.written(n);
        while n > 0 {
            let Some(front) = self.frames.front() else {
                return;
            };
            let left = front.len() - self.front_sent;
            if n < left {
                self.front_sent += n;
                return;
            }
            n -= left;
            self.front_sent = 0;
            self.frames.pop_front();
        }
    }

    /// The client is gone: drop what is queued and everything that comes later.
    fn close(&mut self) {
        self.gone = true;
        self.budget.written(self.bytes);
        self.bytes = 0;
        self.front_sent = 0;
        self.frames.clear();
    }
}

/// Serves one connection until the client hangs up, sends something fatal, or the daemon
/// closes connections; then answers what is still running and returns.
///
/// One task does everything: reads requests, drives the ones that did not finish at
/// once, writes replies. A passthrough call then wakes this task once (its reply comes
/// back) instead of waking a task per request and a writer task too; each of those hops
/// was a wake-up, often on another worker thread (most of the daemon's time at 16
/// connections went to context switches).
pub async fn serve(stream: UnixStream, node: Arc<Node>, dispatcher: Arc<Dispatcher>) {
    let conn_id = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
    let (rd, wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(OUT_QUEUE);
    let budget = Arc::new(Budget::new());
    // Ours is dropped once we stop reading, so the queue closes when the last request
    // (and anyone else holding a handle) is done.
    let mut conn = Some(ConnHandle {
        id: conn_id,
        out: tx,
        budget: budget.clone(),
        notifications: Arc::new(AtomicBool::new(false)),
        deprecations: Arc::new(std::sync::Mutex::new(None)),
    });
    let mut out = Outbox::new(budget.clone());
    let mut running: FuturesUnordered<InFlight> = FuturesUnordered::new();
    let max = node.settings.rpc_max_request;
    let mut frames = FramedRead::new(rd, JsonCodec::new(max));
    let shutdown = node.shutdown.clone();
    let mut reading = true;
    let mut queue_open = true;
    // One wait for the whole connection: a fresh one per wake-up registered with (and
    // left) the shutdown signal's waiter list on every pass, shared by all connections.
    let closing = shutdown.reached(Stage::Closing);
    tokio::pin!(closing);
    loop {
        // Everything that is ready now goes out in one write.
        drain(&mut rx, &mut out, &mut queue_open, WRITE_BATCH);
        while let Some(Some((frame, mut done))) = running.next().now_or_never() {
            // A plugin's `message`/`progress` notifications were queued before its reply
            // came back: they go out first.
            drain(&mut rx, &mut out, &mut queue_open, usize::MAX);
            done.reply_len = frame.len();
            out.push(frame);
            drop(done);
        }
        if let Err(e) = out.flush(&wr) {
            // Client gone: stop reading its requests (nobody hears the answers); what
            // runs still runs to its end, its replies dropped.
            tracing::debug!("jsonrpc#{conn_id}: write error: {e}");
            out.close();
            reading = false;
        }
        if !reading {
            conn = None;
            if running.is_empty() && !queue_open && out.is_empty() {
                break;
            }
        }
        tokio::select! {
            w = wr.writable(), if !out.is_empty() => {
                if w.is_err() {
                    out.close();
                    reading = false;
                }
            }
            f = rx.recv(), if queue_open && out.bytes < WRITE_BATCH => match f {
                Some(f) => out.push_counted(f),
                None => queue_open = false,
            },
            Some((frame, mut done)) = running.next(), if !running.is_empty() => {
                drain(&mut rx, &mut out, &mut queue_open, usize::MAX);
                done.reply_len = frame.len();
                out.push(frame);
                drop(done);
            }
            // Read nothing more while this client's replies pile up unread.
            next = frames.next(), if reading && budget.may_start() => {
                let Some(conn) = conn.as_ref() else { continue };
                match read_one(conn_id, next, max, &dispatcher, &node, conn, &mut out) {
                    Read::Stop => reading = false,
                    Read::Answered => {}
                    Read::Started(mut fut, mut done, survives, id) => {
                        // Start each command in arrival order, as lightningd's single
                        // thread does: the synchronous part (validation, queuing a custom
                        // message to a peer) runs before the next request is read, so
                        // pipelined `sendcustommsg` calls reach the wire in order. Only
                        // what is still pending waits among the running ones.
                        if let std::task::Poll::Ready(frame) = futures::poll!(&mut fut) {
                            drain(&mut rx, &mut out, &mut queue_open, usize::MAX);
                            done.reply_len = frame.len();
                            out.push(frame);
                        } else {
                            let sd = shutdown.clone();
                            running.push(Box::pin(async move {
                                // Checked when connections close, not before: the
                                // `rpc_command` hook may have turned this command into
                                // `stop` meanwhile.
                                let frame = tokio::select! {
                                    f = &mut fut => f,
                                    _ = sd.reached(Stage::Closing) => {
                                        if survives.load(Ordering::SeqCst) {
                                            fut.await
                                        } else {
                                            error_frame(&id, &shutting_down())
                                        }
                                    }
                                };
                                (frame, done)
                            }));
                        }
                    }
                }
            }
            // Polled only until it fires: `reading` never turns true again.
            _ = &mut closing, if reading => reading = false,
        }
    }
    let mut wr = wr;
    let _ = wr.shutdown().await;
}

/// Moves queued frames (notifications) to the outbox, while it holds less than `limit`.
fn drain(rx: &mut mpsc::Receiver<Vec<u8>>, out: &mut Outbox, queue_open: &mut bool, limit: usize) {
    while *queue_open && out.bytes < limit {
        match rx.try_recv() {
            Ok(f) => out.push_counted(f),
            Err(mpsc::error::TryRecvError::Empty) => break,
            Err(mpsc::error::TryRecvError::Disconnected) => *queue_open = false,
        }
    }
}

/// What became of one read from the client.
enum Read {
    /// EOF, a read error or something fatal (answered already): read no more.
    Stop,
    /// A request error answered at once; keep reading.
    Answered,
    /// A request to run: its future, its budget entry, whether it answers after
    /// connections close, and its id.
    Started(
        Pin<Box<dyn Future<Output = Vec<u8>> + Send>>,
        Running,
        Arc<AtomicBool>,
        Box<jsonrpc::RawValue>,
    ),
}

fn read_one(
    conn_id: u64,
    next: Option<Result<impl AsRef<[u8]>, FrameError>>,
    max: usize,
    dispatcher: &Arc<Dispatcher>,
    node: &Arc<Node>,
    conn: &ConnHandle,
    out: &mut Outbox,
) -> Read {
    let bytes = match &next {
        None => return Read::Stop,
        Some(Ok(b)) => b.as_ref(),
        Some(Err(FrameError::Io(e))) => {
            tracing::debug!("jsonrpc#{conn_id}: read error: {e}");
            return Read::Stop;
        }
        Some(Err(e)) => {
            // Not JSON, or too large: answer once with id null and stop reading.
            tracing::info!("jsonrpc#{conn_id}: {e}");
            let err = RpcError::invalid_request(e.to_string());
            out.push(error_frame(&null_id(), &err));
            return Read::Stop;
        }
    };
    // The codec refuses a message that outgrows the limit while incomplete; one that
    // arrived whole in a single read is checked here.
    if bytes.len() > max {
        let e = FrameError::TooLarge { limit: max };
        tracing::info!("jsonrpc#{conn_id}: {e}");
        let err = RpcError::invalid_request(e.to_string());
        out.push(error_frame(&null_id(), &err));
        return Read::Stop;
    }
    let request = match parse_request(bytes) {
        Ok(r) => r,
        Err(e) => {
            let (frame, fatal) = request_error_frame(&e);
            out.push(frame);
            return if fatal { Read::Stop } else { Read::Answered };
        }
    };
    let survives = Arc::new(AtomicBool::new(dispatcher.survives_close(&request.method)));
    let id = request.id.clone();
    let ctx = Context {
        request,
        node: node.clone(),
        conn: conn.clone(),
        dispatcher: dispatcher.clone(),
        survives_close: survives.clone(),
    };
    let fut = Box::pin(dispatcher.clone().dispatch(ctx));
    Read::Started(fut, conn.budget.start(), survives, id)
}

//! One client connection: a reader that frames and validates requests, one task per
//! request (answers are written as each completes), and a writer draining a queue. A
//! client that never reads only stalls itself: once its unwritten replies pass a byte
//! limit its reader stops taking new requests (as lightningd does not read while output
//! is pending), so what it costs us is bounded by bytes, not by a count of replies.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use jsonrpc::{
    error_frame, null_id, parse_request, request_error_frame, FrameError, JsonCodec, RpcError,
};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, Notify};
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
    changed: Notify,
}

impl Budget {
    fn new() -> Self {
        Budget {
            unwritten: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            reply_guess: AtomicUsize::new(FIRST_GUESS),
            changed: Notify::new(),
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
        self.changed.notify_waiters();
    }

    fn queued(&self, len: usize) {
        self.unwritten.fetch_add(len, Ordering::AcqRel);
    }

    fn written(&self, len: usize) {
        self.unwritten.fetch_sub(len, Ordering::AcqRel);
        self.changed.notify_waiters();
    }

    fn over_limit(&self) -> bool {
        self.unwritten.load(Ordering::Acquire) > MAX_UNWRITTEN
    }

    /// Waits until [`may_start`](Self::may_start).
    async fn room(&self) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.may_start() {
                return;
            }
            changed.await;
        }
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

/// Serves one connection until the client hangs up, sends something fatal, or the daemon
/// closes connections.
pub async fn serve(stream: UnixStream, node: Arc<Node>, dispatcher: Arc<Dispatcher>) {
    let conn_id = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
    let (rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(OUT_QUEUE);
    // Set by the writer when the client can no longer be written to.
    let (gone_tx, mut gone) = tokio::sync::watch::channel(false);
    let budget = Arc::new(Budget::new());
    let conn = ConnHandle {
        id: conn_id,
        out: tx,
        budget: budget.clone(),
        notifications: Arc::new(AtomicBool::new(false)),
        deprecations: Arc::new(std::sync::Mutex::new(None)),
    };
    let written = budget.clone();
    let writer = tokio::spawn(async move {
        // Frames that are ready together go out in one write (pipelined clients); a big
        // one goes out as it is.
        let mut batch = Vec::with_capacity(8192);
        while let Some(frame) = rx.recv().await {
            let (len, res) = if frame.len() >= WRITE_BATCH {
                (frame.len(), wr.write_all(&frame).await)
            } else {
                batch.clear();
                batch.extend_from_slice(&frame);
                drop(frame);
                while batch.len() < WRITE_BATCH {
                    match rx.try_recv() {
                        Ok(more) => batch.extend_from_slice(&more),
                        Err(_) => break,
                    }
                }
                let res = wr.write_all(&batch).await;
                if batch.capacity() > 4 * WRITE_BATCH {
                    batch = Vec::with_capacity(8192);
                }
                (batch.len(), res)
            };
            written.written(len);
            if res.is_err() {
                // Client gone: stop reading its requests (nobody hears the answers),
                // drain so senders never block, drop everything.
                let _ = gone_tx.send(true);
                rx.close();
                while rx.recv().await.is_some() {}
                return;
            }
        }
        let _ = wr.shutdown().await;
    });

    let max = node.settings.rpc_max_request;
    let mut frames = FramedRead::new(rd, JsonCodec::new(max));
    let shutdown = node.shutdown.clone();
    loop {
        // Read nothing more while this client's replies pile up unread.
        tokio::select! {
            _ = budget.room() => {}
            _ = shutdown.reached(Stage::Closing) => break,
            Ok(_) = gone.wait_for(|g| *g) => break,
        }
        let next = tokio::select! {
            f = frames.next() => f,
            _ = shutdown.reached(Stage::Closing) => break,
            Ok(_) = gone.wait_for(|g| *g) => {
                tracing::debug!("jsonrpc#{conn_id}: client gone, not reading its requests");
                break;
            }
        };
        let bytes = match next {
            None => break,
            Some(Ok(b)) => b,
            Some(Err(FrameError::Io(e))) => {
                tracing::debug!("jsonrpc#{conn_id}: read error: {e}");
                break;
            }
            Some(Err(e)) => {
                // Not JSON, or too large: answer once with id null and stop reading.
                tracing::info!("jsonrpc#{conn_id}: {e}");
                let err = RpcError::invalid_request(e.to_string());
                let _ = conn.send_frame(error_frame(&null_id(), &err)).await;
                break;
            }
        };
        // The codec refuses a message that outgrows the limit while incomplete; one that
        // arrived whole in a single read is checked here.
        if bytes.len() > max {
            let e = FrameError::TooLarge { limit: max };
            tracing::info!("jsonrpc#{conn_id}: {e}");
            let err = RpcError::invalid_request(e.to_string());
            let _ = conn.send_frame(error_frame(&null_id(), &err)).await;
            break;
        }
        let request = match parse_request(&bytes) {
            Ok(r) => r,
            Err(e) => {
                let (frame, fatal) = request_error_frame(&e);
                let _ = conn.send_frame(frame).await;
                if fatal {
                    break;
                }
                continue;
            }
        };
        let survives = Arc::new(AtomicBool::new(dispatcher.survives_close(&request.method)));
        let ctx = Context {
            request,
            node: node.clone(),
            conn: conn.clone(),
            dispatcher: dispatcher.clone(),
            survives_close: survives.clone(),
        };
        let id = ctx.request.id.clone();
        let reply_to = ctx.conn.clone();
        let mut fut = Box::pin(dispatcher.clone().dispatch(ctx));
        // Start each command in arrival order, as lightningd's single thread does: the
        // synchronous part (validation, queuing a custom message to a peer) runs before the
        // next request is read, so pipelined `sendcustommsg` calls reach the wire in order.
        // Only what is still pending moves to its own task.
        let mut running = budget.start();
        if let std::task::Poll::Ready(frame) = futures::poll!(&mut fut) {
            running.reply_len = frame.len();
            let _ = reply_to.send_frame(frame).await;
            continue;
        }
        let sd = shutdown.clone();
        tokio::spawn(async move {
            // Checked when connections close, not before: the `rpc_command` hook may have
            // turned this command into `stop` meanwhile.
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
            running.reply_len = frame.len();
            let _ = reply_to.send_frame(frame).await;
            drop(running);
        });
    }
    // Stop reading; the writer ends once every request task has answered.
    drop(frames);
    drop(conn);
    let _ = writer.await;
}

//! One client connection: a reader that frames and validates requests, one task per
//! request (answers are written as each completes), and a writer draining a bounded
//! queue. A client that never reads only stalls itself: its queue fills, its request
//! tasks wait, its reader stops taking new requests (bounded in-flight count).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use jsonrpc::{
    error_frame, null_id, parse_request, request_error_frame, FrameError, JsonCodec, RpcError,
};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::codec::FramedRead;

use super::dispatch::{shutting_down, Context, Dispatcher};
use crate::node::Node;
use crate::shutdown::Stage;

/// Requests one connection may have running at once before we stop reading from it.
const MAX_IN_FLIGHT: usize = 128;
/// Response frames queued for one connection before its request tasks wait.
const OUT_QUEUE: usize = 256;

/// Bytes gathered into one socket write.
const WRITE_BATCH: usize = 64 * 1024;

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// A handle on a client connection, given to every request handler.
#[derive(Clone, Debug)]
pub struct ConnHandle {
    /// Unique per connection (log lines, routing notifications).
    pub id: u64,
    out: mpsc::Sender<Vec<u8>>,
    /// Set by the `notifications` command; `message`/`progress` notifications from
    /// plugins are forwarded only when true.
    notifications: Arc<AtomicBool>,
    /// Set by the `deprecations` command: `None` follows `--allow-deprecated-apis`.
    deprecations: Arc<std::sync::Mutex<Option<bool>>>,
}

impl ConnHandle {
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

    /// The raw outbound queue (complete frames, `\n\n`-terminated), for subsystems that
    /// forward frames themselves (plugin passthrough `message`/`progress`).
    pub fn frames(&self) -> mpsc::Sender<Vec<u8>> {
        self.out.clone()
    }

    /// Queues a complete frame (e.g. a notification) to this client. Returns false if
    /// the client is gone. Waits if the client is slow to read.
    pub async fn send_frame(&self, frame: Vec<u8>) -> bool {
        self.out.send(frame).await.is_ok()
    }

    /// Like [`send_frame`](Self::send_frame) but never waits: drops the frame if the
    /// queue is full (for best-effort notifications).
    pub fn try_send_frame(&self, frame: Vec<u8>) -> bool {
        self.out.try_send(frame).is_ok()
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
    let conn = ConnHandle {
        id: conn_id,
        out: tx,
        notifications: Arc::new(AtomicBool::new(false)),
        deprecations: Arc::new(std::sync::Mutex::new(None)),
    };
    let writer = tokio::spawn(async move {
        // Frames that are ready together go out in one write (pipelined clients).
        let mut batch = Vec::with_capacity(8192);
        while let Some(frame) = rx.recv().await {
            batch.clear();
            batch.extend_from_slice(&frame);
            while batch.len() < WRITE_BATCH {
                match rx.try_recv() {
                    Ok(more) => batch.extend_from_slice(&more),
                    Err(_) => break,
                }
            }
            if wr.write_all(&batch).await.is_err() {
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
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let shutdown = node.shutdown.clone();
    loop {
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
        let permit = tokio::select! {
            p = in_flight.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.reached(Stage::Closing) => break,
            Ok(_) = gone.wait_for(|g| *g) => break,
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
        if let std::task::Poll::Ready(frame) = futures::poll!(&mut fut) {
            let _ = reply_to.send_frame(frame).await;
            drop(permit);
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
            let _ = reply_to.send_frame(frame).await;
            drop(permit);
        });
    }
    // Stop reading; the writer ends once every request task has answered.
    drop(frames);
    drop(conn);
    let _ = writer.await;
}

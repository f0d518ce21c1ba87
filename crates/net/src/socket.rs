//! Our socket driver for LDK's `PeerManager`, in place of `lightning-net-tokio`: the same
//! `SocketDescriptor` contract (`send_data` with its `continue_read` pause, `read_event`,
//! `write_buffer_space_avail`, `socket_disconnected`, one `process_events` after each
//! read), plus one input of ours: a connection whose custom messages wait for our plugins
//! beyond its budget is not read until they drain (see `flow.rs`).
//!
//! One task per connection runs on the peer runtime: it reads up to 4 KiB at a time and
//! hands it to LDK, and it is woken (through [`Flow::wake`]) when the socket has room for
//! LDK's pending writes, when LDK resumes reads, when LDK asks for a disconnect and when
//! the custom backlog drains.

use std::hash::{Hash, Hasher};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::SocketAddress;
use lightning::ln::peer_handler::SocketDescriptor;
use tokio::net::TcpStream;

use crate::custom::Shared;
use crate::flow::{self, Flow};
use crate::node::Pm;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// LDK's bytes per `read_event`: big enough to batch, small enough to let other peers in.
const READ_CHUNK: usize = 4096;

struct Conn {
    id: u64,
    stream: TcpStream,
    state: Mutex<State>,
    /// Set by the write-readiness waker, taken by the driver.
    write_space: AtomicBool,
    flow: Arc<Flow>,
}

#[derive(Default)]
struct State {
    /// LDK asked us to stop reading (its outbound buffer for this peer is full).
    read_paused: bool,
    /// LDK asked us to drop the connection.
    disconnect: bool,
    /// The driver has stopped: writes go nowhere.
    closed: bool,
}

/// Wakes the driver when the socket can take more of LDK's writes. Holds the connection
/// weakly: tokio keeps the waker inside the socket the connection owns.
struct WriteWaker(Weak<Conn>);

impl Wake for WriteWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(c) = self.0.upgrade() {
            c.write_space.store(true, Ordering::Release);
            c.flow.wake.notify_one();
        }
    }
}

/// The `PeerManager`'s handle on one connection.
#[derive(Clone)]
pub struct Descriptor {
    conn: Arc<Conn>,
    waker: Waker,
}

impl Descriptor {
    fn new(conn: Arc<Conn>) -> Descriptor {
        let waker = Waker::from(Arc::new(WriteWaker(Arc::downgrade(&conn))));
        Descriptor { conn, waker }
    }
}

impl PartialEq for Descriptor {
    fn eq(&self, o: &Self) -> bool {
        self.conn.id == o.conn.id
    }
}
impl Eq for Descriptor {}
impl Hash for Descriptor {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.conn.id.hash(state)
    }
}

impl SocketDescriptor for Descriptor {
    fn send_data(&mut self, data: &[u8], continue_read: bool) -> usize {
        let c = &self.conn;
        // Held across the write, so LDK's writes from two threads never interleave.
        let Ok(mut st) = c.state.lock() else { return 0 };
        if st.closed {
            return 0;
        }
        let was_paused = st.read_paused;
        st.read_paused = !continue_read;
        if was_paused && continue_read {
            c.flow.wake.notify_one();
        }
        if data.is_empty() {
            return 0;
        }
        let mut cx = Context::from_waker(&self.waker);
        let mut written = 0;
        while written < data.len() {
            match c.stream.poll_write_ready(&mut cx) {
                Poll::Ready(Ok(())) => match c.stream.try_write(&data[written..]) {
                    Ok(0) => break,
                    Ok(n) => written += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                    Err(_) => break,
                },
                Poll::Ready(Err(_)) | Poll::Pending => break,
            }
        }
        c.flow
            .write_blocked
            .store(written < data.len(), Ordering::Release);
        written
    }

    fn disconnect_socket(&mut self) {
        if let Ok(mut st) = self.conn.state.lock() {
            st.disconnect = true;
        }
        self.conn.flow.wake.notify_one();
    }
}

fn remote_addr(s: &std::net::TcpStream) -> Option<SocketAddress> {
    match s.peer_addr().ok()? {
        SocketAddr::V4(a) => Some(SocketAddress::TcpIpV4 {
            addr: a.ip().octets(),
            port: a.port(),
        }),
        SocketAddr::V6(a) => Some(SocketAddress::TcpIpV6 {
            addr: a.ip().octets(),
            port: a.port(),
        }),
    }
}

/// Registers `stream` with the runtime this runs on (the peer runtime).
fn open(shared: &Shared, stream: std::net::TcpStream) -> Option<(Arc<Conn>, Descriptor)> {
    stream.set_nonblocking(true).ok()?;
    let stream = TcpStream::from_std(stream).ok()?;
    let conn = Arc::new(Conn {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        stream,
        state: Mutex::new(State::default()),
        write_space: AtomicBool::new(false),
        flow: Arc::new(Flow::new(shared.budget.clone())),
    });
    let d = Descriptor::new(conn.clone());
    Some((conn, d))
}

/// Serves an accepted connection until it ends. Run it on the peer runtime.
pub(crate) async fn serve_inbound(pm: Arc<Pm>, shared: Arc<Shared>, stream: std::net::TcpStream) {
    let addr = remote_addr(&stream);
    let Some((conn, d)) = open(&shared, stream) else {
        return;
    };
    // Refused: LDK wants no `socket_disconnected` for it.
    if pm.new_inbound_connection(d.clone(), addr).is_err() {
        return;
    }
    drive(pm, shared, conn, d).await
}

/// Serves a connection we opened to `their_id` until it ends. Run it on the peer runtime.
pub(crate) async fn serve_outbound(
    pm: Arc<Pm>,
    shared: Arc<Shared>,
    their_id: PublicKey,
    stream: std::net::TcpStream,
) {
    let addr = remote_addr(&stream);
    let Some((conn, mut d)) = open(&shared, stream) else {
        return;
    };
    let Ok(first) = pm.new_outbound_connection(their_id, d.clone(), addr) else {
        return;
    };
    // Act one is 50 bytes: it fits an empty socket; a short wait covers a busy runtime.
    let sent = tokio::time::timeout(Duration::from_millis(100), async {
        let mut off = 0;
        loop {
            let woken = conn.flow.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            off += d.send_data(&first[off..], true);
            if off == first.len() {
                return true;
            }
            if conn.state.lock().map(|s| s.closed).unwrap_or(true) {
                return false;
            }
            woken.await;
        }
    })
    .await;
    if sent != Ok(true) {
        pm.socket_disconnected(&d);
        return;
    }
    drive(pm, shared, conn, d).await
}

/// The connection's read loop (lightning-net-tokio's `schedule_read`, plus the custom gate).
async fn drive(pm: Arc<Pm>, shared: Arc<Shared>, conn: Arc<Conn>, mut d: Descriptor) {
    let mut buf = vec![0u8; READ_CHUNK];
    // Whether the socket ended by itself (LDK must be told) or LDK ended it.
    let peer_gone = loop {
        // `wake` keeps a permit when nobody waits: a wake-up between here and the await
        // is not lost.
        let woken = conn.flow.wake.notified();
        tokio::pin!(woken);
        let paused = match conn.state.lock() {
            Ok(st) if st.disconnect => break false,
            Ok(st) => st.read_paused,
            Err(_) => break false,
        };
        if conn.write_space.swap(false, Ordering::AcqRel) {
            if pm.write_buffer_space_avail(&mut d).is_err() {
                break false;
            }
            // LDK's buffer drained: our queued custom messages may go now (and whatever
            // else LDK has queued, as after every event).
            if shared.request_flush() {
                tokio::spawn(crate::custom::flush(pm.clone(), shared.clone()));
            }
            continue;
        }
        if paused {
            woken.await;
            continue;
        }
        if conn.flow.over_budget() {
            // All peers' backlog is announced to every waiter at once: listen before
            // checking again.
            let released = conn.flow.total_released();
            tokio::pin!(released);
            released.as_mut().enable();
            if conn.flow.over_budget() {
                tokio::select! {
                    _ = &mut woken => {}
                    _ = &mut released => {}
                }
            }
            continue;
        }
        tokio::select! {
            biased;
            _ = &mut woken => continue,
            r = conn.stream.readable() => if r.is_err() { break true },
        }
        match conn.stream.try_read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => {
                let data = buf.get(..n).unwrap_or_default();
                if flow::reading(&conn.flow, || pm.read_event(&mut d, data)).is_err() {
                    break false;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(_) => break true,
        }
        pm.process_events();
        // One peer flat out must not starve the others (nor their pings).
        tokio::task::yield_now().await;
    };
    if let Ok(mut st) = conn.state.lock() {
        st.closed = true;
    }
    if peer_gone {
        pm.socket_disconnected(&d);
        pm.process_events();
    }
    shared.forget_flow(&conn.flow);
}

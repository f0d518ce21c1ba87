//! One plugin's stdin: frames are written by whoever queues them while nothing is waiting
//! ahead of them, and only what the pipe does not take at once is left to the plugin's
//! writer task.
//!
//! A passthrough call used to hand its request to the writer task, which woke (often on
//! another runtime thread) just to make one `write`: a wake-up per call on the hot path.
//! Now the caller writes its own request; the writer task only drains a backlog (a
//! plugin slower than its callers, a burst of notifications), batching what is queued
//! into one vectored write.
//!
//! Frames go out in the order they were queued: a frame is written directly only when
//! the queue is empty, and the queue is drained only under the same lock.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{ErrorKind, IoSlice};
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::io::Interest;
use tokio::net::unix::pipe;
use tokio::sync::{watch, Notify};

use crate::host::{lock, Frame, NoteQueue};

/// Frames handed to one `writev` (each frame is two slices: its JSON and `\n\n`).
const MAX_FRAMES: usize = 64;

const END: &[u8] = b"\n\n";

struct Queue {
    frames: VecDeque<Frame>,
    /// Bytes of the front frame (its JSON and `\n\n`) already written.
    front_sent: usize,
    /// No more frames are taken (the plugin is going away).
    closed: bool,
    /// A write failed (the plugin closed its stdin): the writer task ends.
    failed: bool,
}

/// The write end of one plugin's stdin and the frames waiting for it.
pub(crate) struct Outbound {
    pipe: pipe::Sender,
    queue: Mutex<Queue>,
    /// Wakes the writer task when frames are left queued or a write failed.
    wake: Notify,
    accounts: Arc<NoteQueue>,
}

fn bytes(f: &Frame) -> &[u8] {
    match f {
        Frame::Request(r) => r,
        Frame::Note(n) => n,
    }
}

/// What frames fully written give back: request slots, notification backlog.
#[derive(Default)]
struct Done {
    requests: usize,
    notes: usize,
    note_bytes: usize,
}

impl Done {
    fn add(&mut self, f: &Frame) {
        match f {
            Frame::Request(_) => self.requests += 1,
            Frame::Note(n) => {
                self.notes += 1;
                self.note_bytes += n.len() + END.len();
            }
        }
    }

    /// Called with the queue's lock released (waking waiters takes other locks).
    fn settle(self, q: &NoteQueue) {
        if self.requests > 0 {
            q.request_slots.add_permits(self.requests);
        }
        if self.notes > 0 {
            q.backlog.fetch_sub(self.note_bytes, Ordering::SeqCst);
            q.count.fetch_sub(self.notes, Ordering::SeqCst);
            q.room.notify_waiters();
        }
    }
}

impl Outbound {
    pub(crate) fn new(pipe: pipe::Sender, accounts: Arc<NoteQueue>) -> Outbound {
        Outbound {
            pipe,
            queue: Mutex::new(Queue {
                frames: VecDeque::new(),
                front_sent: 0,
                closed: false,
                failed: false,
            }),
            wake: Notify::new(),
            accounts,
        }
    }

    /// Queues `f` (its request slot or backlog already counted) and writes it now if
    /// nothing waits ahead of it (and this thread holds no [`Cork`]). False if the plugin
    /// takes no more frames.
    pub(crate) fn push(self: &Arc<Self>, f: Frame) -> bool {
        let mut q = lock(&self.queue);
        if q.closed {
            return false;
        }
        if !q.frames.is_empty() || q.failed {
            q.frames.push_back(f);
            return true;
        }
        if hold_back(self) {
            q.frames.push_back(f);
            return true;
        }
        let body = bytes(&f);
        let total = body.len() + END.len();
        let written = loop {
            match self
                .pipe
                .try_write_vectored(&[IoSlice::new(body), IoSlice::new(END)])
            {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break 0,
                Err(_) => {
                    q.failed = true;
                    break 0;
                }
            }
        };
        if written == total {
            drop(q);
            let mut done = Done::default();
            done.add(&f);
            done.settle(&self.accounts);
            return true;
        }
        q.front_sent = written;
        q.frames.push_back(f);
        drop(q);
        self.wake.notify_one();
        true
    }

    /// Writes queued frames until the pipe is full or the queue is empty. Err: the
    /// plugin can no longer be written to.
    fn flush(&self) -> std::io::Result<()> {
        let mut done = Done::default();
        let r = {
            let mut q = lock(&self.queue);
            flush_locked(&self.pipe, &mut q, &mut done)
        };
        done.settle(&self.accounts);
        r
    }

    fn pending(&self) -> bool {
        let q = lock(&self.queue);
        !q.frames.is_empty() || q.failed
    }

    /// Takes no more frames; what is queued is dropped (its plugin is going away).
    fn close(&self) {
        let mut q = lock(&self.queue);
        q.closed = true;
        q.frames.clear();
        q.front_sent = 0;
    }
}

thread_local! {
    /// The plugins whose frames this thread holds back while it holds a [`Cork`].
    static CORKED: RefCell<Option<Vec<Arc<Outbound>>>> = const { RefCell::new(None) };
}

/// Whether this thread holds a cork; if so, remembers `out` for the cork's write.
fn hold_back(out: &Arc<Outbound>) -> bool {
    CORKED.with(|c| match c.borrow_mut().as_mut() {
        Some(list) => {
            if !list.iter().any(|o| Arc::ptr_eq(o, out)) {
                list.push(out.clone());
            }
            true
        }
        None => false,
    })
}

/// While held, frames this thread queues for a plugin are not written one by one but
/// together when the cork drops: a batch of hook calls started at once (custom messages
/// from one socket read) reaches each plugin in one write, so the plugin wakes once per
/// batch instead of once per call. Frames stay in queue order, and other threads' frames
/// queued meanwhile go out in the same write. Not `Send`: it must not be held across an
/// await (the thread could change under it).
pub struct Cork {
    outer: bool,
    _not_send: PhantomData<*const ()>,
}

/// Holds this thread's frames back until the returned cork drops (nested corks write
/// when the outermost drops).
pub fn cork() -> Cork {
    let outer = CORKED.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_some() {
            return false;
        }
        *c = Some(Vec::new());
        true
    });
    Cork {
        outer,
        _not_send: PhantomData,
    }
}

impl Drop for Cork {
    fn drop(&mut self) {
        if !self.outer {
            return;
        }
        let held = CORKED.with(|c| c.borrow_mut().take()).unwrap_or_default();
        for out in held {
            // What the pipe does not take now (or a failed write) is the writer task's.
            if out.flush().is_err() || out.pending() {
                out.wake.notify_one();
            }
        }
    }
}

fn flush_locked(pipe: &pipe::Sender, q: &mut Queue, done: &mut Done) -> std::io::Result<()> {
    if q.failed {
        return Err(ErrorKind::BrokenPipe.into());
    }
    while !q.frames.is_empty() {
        let n = {
            let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity(2 * MAX_FRAMES);
            for (i, f) in q.frames.iter().take(MAX_FRAMES).enumerate() {
                let body = bytes(f);
                let skip = if i == 0 { q.front_sent } else { 0 };
                if skip < body.len() {
                    iov.push(IoSlice::new(body.get(skip..).unwrap_or_default()));
                    iov.push(IoSlice::new(END));
                } else {
                    iov.push(IoSlice::new(
                        END.get(skip - body.len()..).unwrap_or_default(),
                    ));
                }
            }
            match pipe.try_write_vectored(&iov) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) => {
                    q.failed = true;
                    return Err(e);
                }
            }
        };
        consume(q, n, done);
    }
    Ok(())
}

/// Counts `n` written bytes off the front of the queue.
fn consume(q: &mut Queue, mut n: usize, done: &mut Done) {
    while n > 0 {
        let Some(front) = q.frames.front() else {
            return;
        };
        let left = bytes(front).len() + END.len() - q.front_sent;
        if n < left {
            q.front_sent += n;
            return;
        }
        n -= left;
        q.front_sent = 0;
        if let Some(f) = q.frames.pop_front() {
            done.add(&f);
        }
    }
}

/// Drains what [`Outbound::push`] could not write at once, until the plugin closes its
/// stdin or exits; then closes the queue (every later push fails, and every waiter for
/// a request slot or for room is let go) and tells the reader (`broken`).
pub(crate) async fn writer(
    out: Arc<Outbound>,
    broken: watch::Sender<bool>,
    mut exited: watch::Receiver<bool>,
) {
    loop {
        if !out.pending() {
            tokio::select! {
                _ = out.wake.notified() => continue,
                // The plugin closed its stdin while we were idle. What we wrote last may
                // have been lost with it, so we cannot wait for the next write to fail.
                _ = out.pipe.ready(Interest::ERROR) => break,
                // The process is gone; a child it forked may hold stdin open without
                // ever reading it, and a write blocked on that would hold every sender.
                Ok(_) = exited.wait_for(|e| *e) => break,
            }
        }
        if out.flush().is_err() {
            break;
        }
        if out.pending() {
            tokio::select! {
                w = out.pipe.writable() => {
                    if w.is_err() {
                        break;
                    }
                }
                Ok(_) = exited.wait_for(|e| *e) => break,
            }
        }
    }
    out.close();
    let _ = broken.send(true);
    out.accounts.request_slots.close();
    out.accounts.room.notify_waiters();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Requests and notifications pushed while a slow reader drains the pipe (so it fills,
    /// frames queue behind one written in part, and room comes back while some are still
    /// queued) arrive whole and in push order, and every request slot and backlog byte
    /// is given back once written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn frames_written_at_once_or_queued_arrive_in_order_and_are_accounted() {
        let (tx, mut rx) = pipe::pipe().unwrap();
        const N: usize = 20_000;
        let accounts = Arc::new(NoteQueue::new(N));
        let out = Arc::new(Outbound::new(tx, accounts.clone()));
        let (broken, _broken_rx) = watch::channel(false);
        let (_exit_tx, exited) = watch::channel(false);
        tokio::spawn(writer(out.clone(), broken, exited));
        let pad = "x".repeat(100);
        let bodies: Vec<String> = (0..N)
            .map(|i| format!("{{\"n\":{i},\"pad\":\"{pad}\"}}"))
            .collect();
        let expected: Vec<u8> = bodies
            .iter()
            .flat_map(|b| [b.as_bytes(), b"\n\n"].concat())
            .collect();
        let total = expected.len();
        let reader = tokio::spawn(async move {
            let mut got = Vec::with_capacity(total);
            let mut buf = vec![0u8; 4096];
            let mut reads = 0u64;
            while got.len() < total {
                let n = rx.read(&mut buf).await.unwrap();
                assert!(n > 0, "pipe closed early");
                got.extend_from_slice(&buf[..n]);
                reads += 1;
                if reads.is_multiple_of(8) {
                    tokio::time::sleep(std::time::Duration::from_micros(200)).await;
                }
            }
            got
        });
        for (i, body) in bodies.into_iter().enumerate() {
            let frame = if i.is_multiple_of(3) {
                let n: Arc<[u8]> = body.into_bytes().into();
                accounts.backlog.fetch_add(n.len() + 2, Ordering::SeqCst);
                accounts.count.fetch_add(1, Ordering::SeqCst);
                Frame::Note(n)
            } else {
                accounts.request_slots.try_acquire().unwrap().forget();
                Frame::Request(body.into_bytes())
            };
            assert!(out.push(frame));
            if i.is_multiple_of(16) {
                tokio::task::yield_now().await;
            }
        }
        let got = reader.await.unwrap();
        assert!(got == expected, "frames out of order or torn");
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while out.pending() || accounts.request_slots.available_permits() != N {
            assert!(
                tokio::time::Instant::now() < deadline,
                "slots never returned"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(accounts.backlog.load(Ordering::SeqCst), 0);
        assert_eq!(accounts.count.load(Ordering::SeqCst), 0);
    }

    /// Frames pushed under a cork are not written until it drops, then all in one write,
    /// in push order; without a cork, a frame to an idle plugin is written at once.
    #[tokio::test]
    async fn corked_frames_go_out_together_when_the_cork_drops() {
        let (tx, mut rx) = pipe::pipe().unwrap();
        let accounts = Arc::new(NoteQueue::new(8));
        let out = Arc::new(Outbound::new(tx, accounts.clone()));
        let mut buf = vec![0u8; 4096];
        let soon = std::time::Duration::from_millis(50);
        let cork = cork();
        for b in ["{\"n\":1}", "{\"n\":2}", "{\"n\":3}"] {
            accounts.request_slots.try_acquire().unwrap().forget();
            assert!(out.push(Frame::Request(b.as_bytes().to_vec())));
        }
        let early = tokio::time::timeout(soon, rx.read(&mut buf)).await;
        assert!(early.is_err(), "written before the cork dropped: {early:?}");
        drop(cork);
        let n = tokio::time::timeout(soon, rx.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"{\"n\":1}\n\n{\"n\":2}\n\n{\"n\":3}\n\n");
        assert_eq!(accounts.request_slots.available_permits(), 8);
        accounts.request_slots.try_acquire().unwrap().forget();
        assert!(out.push(Frame::Request(b"{}".to_vec())));
        let n = tokio::time::timeout(soon, rx.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"{}\n\n");
    }
}

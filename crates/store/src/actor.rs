//! The store actor: ONE thread owns the [`Store`] (and so the connection); everyone else
//! holds a cheap [`StoreHandle`] and sends it jobs through a bounded queue.
//!
//! Why a thread of its own: a `db_write` hook may take up to a minute, and everything
//! queued behind it must wait without holding a thread each. Async callers await a
//! oneshot reply (a full queue is awaited too, without blocking); blocking callers (LDK's
//! `KVStoreSync`) block on std channels and never on a tokio runtime, so they work from
//! any thread, including a runtime worker (there the worker's other tasks are first
//! handed to another thread, so the runtime keeps running; see [`blocking_section`]).
//!
//! Group commit across callers: the jobs the thread finds queued together run as one
//! batch (up to [`BATCH_JOBS`], or until their statements reach the store's byte budget),
//! their transactions sharing one commit (see `tx.rs`): one fsync and one `db_write`
//! instead of one each. A job's result reaches its caller only once that commit is
//! durable, so an `Ok` is never something a crash could still lose (LDK's persistence
//! contract, and "an acknowledged payment survives kill -9", rest on that). If the
//! commit fails, every caller of the batch gets the error, and the store stops as before.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use tokio::sync::{oneshot, Notify};

use crate::error::StoreError;
use crate::tx::Store;

/// Jobs that may wait in the queue; callers beyond this wait for room.
pub const QUEUE_CAPACITY: usize = 256;

/// Jobs run together before their shared commit.
pub const BATCH_JOBS: usize = 64;

/// Hands a job's result to its caller, or the batch's failure instead.
type Deliver = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// Runs on the store thread; what it returns is called after the batch's commit.
type Job = Box<dyn FnOnce(&mut Store) -> Deliver + Send>;

/// A job answering on `send` once its batch is durable.
fn job<T: Send + 'static>(
    f: impl FnOnce(&mut Store) -> T + Send + 'static,
    send: impl FnOnce(Result<T, StoreError>) + Send + 'static,
) -> Job {
    Box::new(move |s| {
        let v = f(s);
        Box::new(move |committed: Result<(), StoreError>| send(committed.map(|()| v)))
    })
}

/// Cheap to clone; each clone sends to the same store thread. When the last one is
/// dropped the thread finishes its queue and closes the database.
#[derive(Clone)]
pub struct StoreHandle {
    jobs: SyncSender<Job>,
    /// Signalled each time the thread takes a job, so async callers waiting for room in
    /// a full queue try again (blocking callers wait inside `SyncSender::send`).
    room: Arc<Notify>,
    /// Where the database is, for log lines.
    describe: Arc<str>,
}

fn gone() -> StoreError {
    StoreError::Stopped("the store thread is gone".into())
}

impl StoreHandle {
    /// Starts the store thread, which runs `open` and then serves jobs; returns once the
    /// store is open. Blocking: call it from a plain thread or `spawn_blocking`.
    pub fn open_blocking(
        open: impl FnOnce() -> Result<Store, StoreError> + Send + 'static,
    ) -> Result<StoreHandle, StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let handle = Self::launch(open, Box::new(move |r| drop(tx.send(r))))?;
        let describe = blocking_section(|| rx.recv()).map_err(|_| gone())??;
        Ok(handle.described(describe))
    }

    /// [`Self::open_blocking`] for async callers: waiting for the open holds no thread.
    pub async fn open(
        open: impl FnOnce() -> Result<Store, StoreError> + Send + 'static,
    ) -> Result<StoreHandle, StoreError> {
        let (tx, rx) = oneshot::channel();
        let handle = Self::launch(open, Box::new(move |r| drop(tx.send(r))))?;
        let describe = rx.await.map_err(|_| gone())??;
        Ok(handle.described(describe))
    }

    fn described(mut self, describe: String) -> StoreHandle {
        self.describe = describe.into();
        self
    }

    /// The same for every clone of one handle (one store thread), different otherwise.
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.room) as usize
    }

    /// Where the database is (`sqlite3:///path/lightningd.sqlite3`), for log lines.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    #[allow(clippy::type_complexity)]
    fn launch(
        open: impl FnOnce() -> Result<Store, StoreError> + Send + 'static,
        opened: Box<dyn FnOnce(Result<String, StoreError>) + Send>,
    ) -> Result<StoreHandle, StoreError> {
        let (jobs, rx) = mpsc::sync_channel::<Job>(QUEUE_CAPACITY);
        let room = Arc::new(Notify::new());
        let r = room.clone();
        std::thread::Builder::new()
            .name("store".into())
            .spawn(move || {
                let store = match open() {
                    Ok(s) => s,
                    Err(e) => return opened(Err(e)),
                };
                opened(Ok(store.describe()));
                serve(store, rx, r);
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the store thread: {e}")))?;
        Ok(StoreHandle {
            jobs,
            room,
            describe: "".into(),
        })
    }

    /// Runs `f` on the store thread and awaits its result, which comes once what `f`
    /// wrote is committed (`Err` if that commit failed). Waiting (for room in the queue,
    /// for the jobs ahead, for a slow `db_write` hook) holds no thread. If the caller
    /// stops waiting, a job already queued still runs.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.enqueue(job(f, move |r| drop(tx.send(r)))).await?;
        rx.await.map_err(|_| gone())?
    }

    /// [`Self::call`] in two steps: once this returns, the job is in the queue (behind
    /// every job queued before, ahead of every job queued after: the store runs them in
    /// that order and commits their batches in that order); the future it gives answers
    /// once what `f` wrote is committed. A caller may so let others go on after the
    /// queueing and act on durability later. Dropping the future does not unqueue the job.
    pub async fn submit<T, F>(
        &self,
        f: F,
    ) -> Result<impl Future<Output = Result<T, StoreError>> + Send + 'static, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.enqueue(job(f, move |r| drop(tx.send(r)))).await?;
        Ok(async move { rx.await.map_err(|_| gone())? })
    }

    /// Runs `f` on the store thread, blocking the calling thread until it is done. Safe
    /// from any thread but the store thread itself (a job must not wait for a job): it
    /// never calls into a tokio runtime.
    pub fn call_blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> T + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        let job = job(f, move |r| drop(tx.send(r)));
        blocking_section(|| {
            self.jobs.send(job).map_err(|_| gone())?;
            rx.recv().map_err(|_| gone())?
        })
    }

    async fn enqueue(&self, mut job: Job) -> Result<(), StoreError> {
        loop {
            // Registered before trying, so a slot freed between the try and the wait
            // still wakes us.
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.jobs.try_send(job) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(j)) => {
                    job = j;
                    room.await;
                }
                Err(TrySendError::Disconnected(_)) => return Err(gone()),
            }
        }
    }
}

/// The store thread's loop: a batch of what is queued, its commit, then its answers. A
/// job that panics (a bug; nothing from outside reaches one) stops the store the way a
/// failed write does, rather than leaving a transaction open or killing the thread with
/// callers still waiting (its own caller sees the store gone, the others of its batch
/// the failure).
fn serve(mut store: Store, jobs: Receiver<Job>, room: Arc<Notify>) {
    while let Ok(first) = jobs.recv() {
        room.notify_one();
        store.begin_batch();
        let mut answers = Vec::new();
        let mut next = Some(first);
        let mut ran = 0;
        while let Some(job) = next.take() {
            ran += 1;
            match std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut store))) {
                // Nothing uncommitted yet (reads ahead of the batch's first write): it saw
                // only durable data, so it need not wait for the commit.
                Ok(answer) if !store.batch_pending() => answer(Ok(())),
                Ok(answer) => answers.push(answer),
                Err(_) => {
                    tracing::error!("{}: a store job panicked", store.describe());
                    store.stop(StoreError::Backend("a store job panicked".into()));
                    // The batch is lost; what is queued meets the stopped store alone.
                    break;
                }
            }
            if ran >= BATCH_JOBS || store.batch_full() {
                break;
            }
            next = jobs.try_recv().ok();
            if next.is_some() {
                room.notify_one();
            }
        }
        let committed = store.end_batch();
        for answer in answers {
            answer(committed.clone());
        }
    }
}

/// Runs `f`, which blocks, without starving a tokio runtime: on a multi-thread runtime's
/// worker the worker's other tasks move to another thread first. (A current-thread
/// runtime cannot do that; there `f` simply blocks its thread.)
fn blocking_section<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

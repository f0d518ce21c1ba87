//! Records an LDK event handler queues and does not wait for, and what must happen only
//! once they are durable.
//!
//! LDK hands events over one at a time and waits for each answer; meanwhile its loop
//! neither takes the next event nor moves HTLCs on. Waiting for a record's commit there
//! (an fsync, often behind a whole batch) was most of each payment's time in that loop.
//! A handler may instead answer `Ok` as soon as its record is *queued*
//! ([`Storage::record_then`]), when the following holds:
//!
//! * LDK consumes an event only with a channel manager write made after the handler's
//!   `Ok` (it drains its event queue after the handler returns, and a manager encoded
//!   before that still holds the event, which is handed over again after a restart).
//! * Every manager write is a job on the same store thread queue (`ln::write_order`:
//!   `Ln::persist_manager` writes through the `KvStore`, alone or as a `KvGroup` commit,
//!   both `StoreHandle::call_blocking`, which queues at call time, after the encoding).
//!   The store thread runs jobs in queue order and commits batches in that order, so a
//!   record queued before `Ok` is committed no later than the write that consumes its
//!   event: after a kill -9 either both are durable or the event comes again.
//! * A record that fails is not followed by any durable write: its job stops the store
//!   (rolling its batch back; every later transaction is refused and the daemon shuts
//!   down), so the event is handed over again at the next start.
//!
//! What must wait for durability (answering `pay`/`waitsendpay`/`waitinvoice`, the
//! `sendpay_success`/`invoice_payment`/`coin_movement` notifications) is the record's
//! continuation: continuations run on one task, in the order their records were queued
//! (which is the order their commits come in), never before their own commit.

use std::fmt::Display;
use std::future::Future;

use futures::future::BoxFuture;
use store::{Store, StoreError};
use tokio::sync::mpsc;

use crate::storage::Storage;

/// The task running continuations in order. Cheap to clone.
#[derive(Clone)]
pub struct AfterCommit {
    queue: mpsc::UnboundedSender<BoxFuture<'static, ()>>,
}

impl AfterCommit {
    /// Starts the task (on the current runtime); it ends once every clone is dropped.
    pub fn start() -> AfterCommit {
        let (queue, mut rx) = mpsc::unbounded_channel::<BoxFuture<'static, ()>>();
        tokio::spawn(async move {
            while let Some(next) = rx.recv().await {
                next.await;
            }
        });
        AfterCommit { queue }
    }

    /// Runs `then` with what `answer` gives, after every continuation queued before.
    fn then<T: Send + 'static>(
        &self,
        answer: impl Future<Output = Result<T, String>> + Send + 'static,
        then: impl FnOnce(Result<T, String>) + Send + 'static,
    ) {
        // The task is gone only at shutdown: the record is queued anyway, its
        // continuation (waiters, notifications) has no one left to tell.
        let _ = self.queue.send(Box::pin(async move { then(answer.await) }));
    }
}

impl Storage {
    /// Queues `f` at once and returns without waiting for it; `then` gets its result
    /// once it is committed (see the module doc for when an event handler may answer
    /// LDK after this). `Err` of `f` is a record that could not be made: it stops the
    /// store (nothing written after it becomes durable) and reaches `then` as `Err`, so
    /// results that are not failures must come back as `Ok`. `Err` here: the store is
    /// gone, nothing was queued.
    pub async fn record_then<T, E, F, C>(&self, f: F, then: C) -> Result<(), StoreError>
    where
        T: Send + 'static,
        E: Display + Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, E> + Send + 'static,
        C: FnOnce(Result<T, String>) + Send + 'static,
    {
        let answer = self
            .store_handle()
            .submit(move |s| {
                let r = f(s);
                if let Err(e) = &r {
                    s.stop(StoreError::Backend(format!(
                        "a record whose event was answered failed: {e}"
                    )));
                }
                r.map_err(|e| e.to_string())
            })
            .await?;
        self.after_commit().then(
            async move {
                match answer.await {
                    Ok(r) => r,
                    Err(e) => Err(e.to_string()),
                }
            },
            then,
        );
        Ok(())
    }
}

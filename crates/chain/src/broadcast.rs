//! LDK's [`BroadcasterInterface`] over the backend's `sendrawtransaction`.
//!
//! LDK calls it synchronously and may hand over a package in any order; one worker task
//! sends each package parents first, and packages in the order they were given.

use std::collections::HashSet;
use std::sync::Arc;

use bitcoin::{Transaction, Txid};
use lightning::chain::chaininterface::{BroadcasterInterface, TransactionType};
use tokio::sync::mpsc;

use crate::backend::{Backend, BackendError, SendOutcome};

/// Sends what LDK broadcasts. Cheap to share (`Arc`); the worker ends when it is dropped.
pub struct Broadcaster {
    /// Unbounded because LDK's call cannot wait; broadcasts are few.
    queue: mpsc::UnboundedSender<Job>,
}

/// A package, and who waits for the verdict on it (the wallet's RPCs do; LDK does not).
type Job = (Vec<Transaction>, Option<Verdict>);
type Verdict = tokio::sync::oneshot::Sender<Result<SendOutcome, BackendError>>;

impl Broadcaster {
    /// Starts the worker on the current tokio runtime.
    pub fn spawn<B: Backend>(backend: Arc<B>) -> Self {
        let (queue, mut rx) = mpsc::unbounded_channel::<Job>();
        tokio::spawn(async move {
            while let Some((package, verdict)) = rx.recv().await {
                let mut last = Ok(SendOutcome::Accepted);
                for tx in parents_first(package) {
                    let txid = tx.compute_txid();
                    last = backend.sendrawtransaction(&tx, false).await;
                    match &last {
                        Ok(SendOutcome::Accepted) => tracing::info!("Broadcast {txid}"),
                        // Double spends and already-confirmed transactions are normal here.
                        Ok(SendOutcome::Refused { errmsg }) => {
                            tracing::info!("Backend refused {txid}: {errmsg}")
                        }
                        Err(e) => tracing::warn!("Could not broadcast {txid}: {e}"),
                    }
                }
                if let Some(v) = verdict {
                    let _ = v.send(last);
                }
            }
        });
        Broadcaster { queue }
    }

    /// Queue transactions (one package) for sending.
    pub fn send(&self, txs: Vec<Transaction>) {
        if self.queue.send((txs, None)).is_err() {
            tracing::warn!("broadcaster stopped; transactions not sent");
        }
    }

    /// Sends one transaction (in turn with everything queued before it) and returns the
    /// backend's verdict on it.
    pub async fn send_and_wait(&self, tx: Transaction) -> Result<SendOutcome, BackendError> {
        let (v, verdict) = tokio::sync::oneshot::channel();
        self.queue
            .send((vec![tx], Some(v)))
            .map_err(|_| BackendError::Call {
                method: "sendrawtransaction",
                reason: "broadcaster stopped".into(),
            })?;
        verdict.await.unwrap_or_else(|_| {
            Err(BackendError::Call {
                method: "sendrawtransaction",
                reason: "broadcaster stopped".into(),
            })
        })
    }
}

impl BroadcasterInterface for Broadcaster {
    fn broadcast_transactions(&self, txs: &[(&Transaction, TransactionType)]) {
        self.send(txs.iter().map(|(tx, _)| (*tx).clone()).collect());
    }
}

/// Orders a package so each transaction comes after every one of its parents in it.
pub fn parents_first(mut txs: Vec<Transaction>) -> Vec<Transaction> {
    let mut out = Vec::with_capacity(txs.len());
    while !txs.is_empty() {
        let pending: HashSet<Txid> = txs.iter().map(Transaction::compute_txid).collect();
        let (ready, waiting): (Vec<_>, Vec<_>) = txs.into_iter().partition(|tx| {
            tx.input
                .iter()
                .all(|i| !pending.contains(&i.previous_output.txid))
        });
        if ready.is_empty() {
            // A cycle cannot be valid; send as given rather than drop anything.
            out.extend(waiting);
            break;
        }
        out.extend(ready);
        txs = waiting;
    }
    out
}

//! The broadcaster LDK is given: the chain's, plus a record of each channel's closing
//! transactions (LDK labels what it broadcasts), which `close` answers with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bitcoin::Transaction;
use chain::{Broadcaster, SendOutcome};
use lightning::chain::chaininterface::{BroadcasterInterface, TransactionType};
use lightning::ln::types::ChannelId;
use tokio::sync::watch;

/// How a channel was closed on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseKind {
    Mutual,
    Unilateral,
}

impl CloseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseKind::Mutual => "mutual",
            CloseKind::Unilateral => "unilateral",
        }
    }
}

/// The closing transactions broadcast for one channel (the last kind wins).
#[derive(Debug, Clone)]
pub struct Closing {
    pub kind: CloseKind,
    pub txs: Vec<Transaction>,
}

pub struct TapBroadcaster {
    inner: Arc<Broadcaster>,
    closes: Mutex<HashMap<ChannelId, Closing>>,
    /// Bumped on every recorded close, so `close` can wait for its channel's.
    changed: watch::Sender<u64>,
}

impl TapBroadcaster {
    pub fn new(inner: Arc<Broadcaster>) -> TapBroadcaster {
        TapBroadcaster {
            inner,
            closes: Mutex::new(HashMap::new()),
            changed: watch::channel(0).0,
        }
    }

    pub fn closing(&self, id: &ChannelId) -> Option<Closing> {
        self.closes.lock().ok().and_then(|c| c.get(id).cloned())
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Returns once `tx` (which LDK broadcast, or queued to) has reached the backend: the
    /// broadcaster sends in order, so this sends it again behind LDK's copy and reads the
    /// verdict. A copy the backend already has counts as sent.
    pub async fn sent(&self, tx: &Transaction) -> Result<(), String> {
        match self.inner.send_and_wait(tx.clone()).await {
            Ok(SendOutcome::Accepted) => Ok(()),
            Ok(SendOutcome::Refused { errmsg })
                if errmsg.contains("already") || errmsg.contains("known") =>
            {
                Ok(())
            }
            Ok(SendOutcome::Refused { errmsg }) => Err(errmsg),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl BroadcasterInterface for TapBroadcaster {
    fn broadcast_transactions(&self, txs: &[(&Transaction, TransactionType)]) {
        let mut recorded = false;
        if let Ok(mut closes) = self.closes.lock() {
            for (tx, ty) in txs {
                let (id, kind) = match ty {
                    TransactionType::CooperativeClose { channel_id, .. } => {
                        (*channel_id, CloseKind::Mutual)
                    }
                    TransactionType::UnilateralClose { channel_id, .. } => {
                        (*channel_id, CloseKind::Unilateral)
                    }
                    _ => continue,
                };
                let e = closes.entry(id).or_insert_with(|| Closing {
                    kind,
                    txs: Vec::new(),
                });
                e.kind = kind;
                let txid = tx.compute_txid();
                if !e.txs.iter().any(|t| t.compute_txid() == txid) {
                    e.txs.push((*tx).clone());
                }
                recorded = true;
            }
        }
        self.inner.broadcast_transactions(txs);
        if recorded {
            self.changed.send_modify(|n| *n += 1);
        }
    }
}

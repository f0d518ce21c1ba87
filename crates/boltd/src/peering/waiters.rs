//! `connect` commands waiting for a peer's `peer_connected` chain. A wait ends when the
//! chain does ([`Waiters::resolve`]) or when its command gives up (the [`Waiting`] is
//! dropped: a failed dial, a client gone): then it leaves the list at once, so the list
//! cannot grow per node id and a later hook call is never labelled with the id of a
//! command that already failed.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use jsonrpc::RpcError;
use net::PublicKey;
use tokio::sync::oneshot;

type Outcome = Result<(), RpcError>;

struct Waiter {
    token: u64,
    /// The command's id (prefix for the hook request id).
    cause: String,
    done: oneshot::Sender<Outcome>,
}

type Lists = Arc<Mutex<HashMap<PublicKey, Vec<Waiter>>>>;

#[derive(Default)]
pub struct Waiters {
    lists: Lists,
    next: AtomicU64,
}

/// One command's wait; resolves to the chain's outcome (Err(_) if the waiters went away).
pub struct Waiting {
    rx: oneshot::Receiver<Outcome>,
    lists: Lists,
    id: PublicKey,
    token: u64,
}

impl Waiters {
    /// Starts waiting for `id`'s chain on behalf of the command with id `cause`.
    pub fn wait(&self, id: PublicKey, cause: String) -> Waiting {
        let (tx, rx) = oneshot::channel();
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut l) = self.lists.lock() {
            l.entry(id).or_default().push(Waiter {
                token,
                cause,
                done: tx,
            });
        }
        Waiting {
            rx,
            lists: self.lists.clone(),
            id,
            token,
        }
    }

    /// Ends every wait for `id` with `outcome`.
    pub fn resolve(&self, id: &PublicKey, outcome: Outcome) {
        let list = self
            .lists
            .lock()
            .ok()
            .and_then(|mut l| l.remove(id))
            .unwrap_or_default();
        for w in list {
            let _ = w.done.send(outcome.clone());
        }
    }

    /// The id of the earliest command still waiting for `id`.
    pub fn first_cause(&self, id: &PublicKey) -> Option<String> {
        self.lists
            .lock()
            .ok()?
            .get(id)?
            .first()
            .map(|w| w.cause.clone())
    }

    #[cfg(test)]
    fn waiting_for(&self, id: &PublicKey) -> usize {
        self.lists
            .lock()
            .map(|l| l.get(id).map_or(0, Vec::len))
            .unwrap_or(0)
    }
}

impl Future for Waiting {
    type Output = Result<Outcome, oneshot::error::RecvError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Ok(mut l) = self.lists.lock() {
            if let Some(list) = l.get_mut(&self.id) {
                list.retain(|w| w.token != self.token);
                if list.is_empty() {
                    l.remove(&self.id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> PublicKey {
        let sk = bitcoin::secp256k1::SecretKey::from_slice(&[b; 32]).unwrap();
        PublicKey::from_secret_key(&bitcoin::secp256k1::Secp256k1::new(), &sk)
    }

    #[test]
    fn a_failed_connect_leaves_no_waiter_behind() {
        let w = Waiters::default();
        let id = key(1);
        let failed = w.wait(id, "cmd:failed#1".into());
        let live = w.wait(id, "cmd:live#2".into());
        assert_eq!(w.first_cause(&id).as_deref(), Some("cmd:failed#1"));
        // The first command's dial failed: it returns, dropping its wait.
        drop(failed);
        assert_eq!(w.first_cause(&id).as_deref(), Some("cmd:live#2"));
        drop(live);
        assert_eq!(w.first_cause(&id), None);
        assert_eq!(w.waiting_for(&id), 0);
        assert!(w.lists.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn resolve_ends_every_wait() {
        let w = Waiters::default();
        let id = key(2);
        let a = w.wait(id, "a".into());
        let b = w.wait(id, "b".into());
        w.resolve(&id, Ok(()));
        assert!(matches!(a.await, Ok(Ok(()))));
        assert!(matches!(b.await, Ok(Ok(()))));
        assert_eq!(w.waiting_for(&id), 0);
    }
}

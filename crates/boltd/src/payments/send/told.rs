//! Telling who waits on our payments' records (`pay`, `waitsendpay`) that one changed,
//! and which one when that is known: a waiter told only of other payments, one by one,
//! need not read its record again. Under concurrent payments each change woke every
//! waiter, and each read the store again (a store job per waiter per change).

use tokio::sync::watch;

/// How many changes were told, and the payment the last one was about (`None`: any).
type Last = (u64, Option<[u8; 32]>);

pub(crate) struct Told(watch::Sender<Last>);

impl Told {
    pub(crate) fn new() -> Told {
        Told(watch::channel((0, None)).0)
    }

    /// Some payment's record changed (it may be any waiter's).
    pub(crate) fn any(&self) {
        self.0.send_modify(|(n, about)| {
            *n = n.wrapping_add(1);
            *about = None;
        });
    }

    /// The records of the payment of `hash` changed.
    pub(crate) fn about(&self, hash: [u8; 32]) {
        self.0.send_modify(|(n, about)| {
            *n = n.wrapping_add(1);
            *about = Some(hash);
        });
    }

    /// A waiter for the payment of `hash`.
    pub(crate) fn watch(&self, hash: [u8; 32]) -> Watch {
        Watch {
            rx: self.0.subscribe(),
            hash,
            seen: 0,
        }
    }
}

pub(crate) struct Watch {
    rx: watch::Receiver<Last>,
    hash: [u8; 32],
    /// The count of changes this waiter accounted for.
    seen: u64,
}

impl Watch {
    /// Everything told so far is accounted for: call right before reading the record.
    pub(crate) fn mark(&mut self) {
        self.seen = self.rx.borrow_and_update().0;
    }

    /// Waits until the payment's records may have changed since the last
    /// [`Watch::mark`]: any change told not about another payment, or changes told faster
    /// than this waiter looked. `Err`: nobody will tell any more (shutdown).
    pub(crate) async fn changed(&mut self) -> Result<(), watch::error::RecvError> {
        loop {
            self.rx.changed().await?;
            let (n, about) = *self.rx.borrow_and_update();
            let others_only =
                n == self.seen.wrapping_add(1) && about.is_some_and(|h| h != self.hash);
            if !others_only {
                return Ok(());
            }
            self.seen = n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn wakes(w: &mut Watch) -> bool {
        tokio::time::timeout(Duration::from_millis(50), w.changed())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_waiter_wakes_for_its_payment_or_any_but_not_for_others_one_by_one() {
        let told = Told::new();
        let mut w = told.watch([1; 32]);
        w.mark();
        told.about([2; 32]);
        assert!(!wakes(&mut w).await, "another payment's change");
        told.about([1; 32]);
        assert!(wakes(&mut w).await);
        w.mark();
        told.any();
        assert!(wakes(&mut w).await);
        w.mark();
        // Two changes before it looked: the last being another's says nothing of the first.
        told.about([1; 32]);
        told.about([2; 32]);
        assert!(wakes(&mut w).await);
    }
}

//! The broadcaster sends what LDK hands it through `sendrawtransaction`, parents first.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bitcoin::{OutPoint, Transaction};
use chain::{parents_first, Broadcaster, JsonBackend};
use common::{filler_tx, TestPlugin};
use lightning::chain::chaininterface::{BroadcasterInterface, TransactionType};

fn child_of(parents: &[&Transaction], salt: u64) -> Transaction {
    let mut tx = filler_tx(salt, salt);
    tx.input = parents
        .iter()
        .map(|p| bitcoin::TxIn {
            previous_output: OutPoint::new(p.compute_txid(), 0),
            ..tx.input[0].clone()
        })
        .collect();
    tx
}

#[test]
fn packages_are_ordered_parents_first_whatever_order_they_come_in() {
    let a = filler_tx(1, 1);
    let b = filler_tx(2, 2);
    let c = child_of(&[&a, &b], 3);
    let d = child_of(&[&c], 4);
    let ordered = parents_first(vec![d.clone(), c.clone(), b.clone(), a.clone()]);
    let pos = |t: &Transaction| ordered.iter().position(|o| o == t).unwrap();
    assert_eq!(ordered.len(), 4);
    assert!(pos(&a) < pos(&c) && pos(&b) < pos(&c) && pos(&c) < pos(&d));
}

#[tokio::test]
async fn ldk_broadcasts_reach_sendrawtransaction_parents_first() {
    let plugin = TestPlugin::new(1);
    let broadcaster = Broadcaster::spawn(Arc::new(JsonBackend(plugin.clone())));
    let parent = filler_tx(1, 1);
    let child = child_of(&[&parent], 2);
    let ty = TransactionType::Sweep { channels: vec![] };
    broadcaster.broadcast_transactions(&[(&child, ty.clone()), (&parent, ty)]);
    let sent = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let calls = plugin.calls.lock().unwrap().clone();
            let sent: Vec<_> = calls
                .into_iter()
                .filter(|(m, _)| m == "sendrawtransaction")
                .map(|(_, p)| p)
                .collect();
            if sent.len() == 2 {
                return sent;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("both sent");
    let hex = |t: &Transaction| bitcoin::consensus::encode::serialize_hex(t);
    assert_eq!(sent[0]["tx"], hex(&parent));
    assert_eq!(sent[1]["tx"], hex(&child));
    assert_eq!(sent[0]["allowhighfees"], false);
}

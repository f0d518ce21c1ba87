//! Flow control end to end between two in-process nodes: a receiver that holds its
//! messages' credits (its plugins are behind) stops reading, the sender's `send_custom`
//! waits for room, nobody is dropped, and everything arrives in order once the receiver
//! catches up.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use net::PeerEvent;

const SIZE: usize = 32 * 1024;
const N: u32 = 600; // 19 MB: well past the budgets and what the kernel buffered here (~10 MB)

fn message(i: u32) -> Vec<u8> {
    let mut m = vec![0x77, 0x77];
    m.extend_from_slice(&i.to_be_bytes());
    m.resize(SIZE, 0xab);
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_behind_slows_the_sender_and_loses_nothing() {
    let (a, mut ae) = node(41).await;
    let (b, mut be) = node(42).await;
    link(&a, &mut ae, &b, &mut be).await;
    let sent = Arc::new(AtomicU32::new(0));
    let sender = {
        let (a, bid, sent) = (a.clone(), b.node_id(), sent.clone());
        tokio::spawn(async move {
            for i in 0..N {
                a.send_custom(&bid, &message(i)).await.unwrap();
                sent.store(i + 1, Ordering::Release);
            }
        })
    };
    // The receiver's plugins are stuck: every delivered message stays held.
    let mut held = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(2), be.recv()).await {
            Ok(Some(e @ PeerEvent::CustomMessage { .. })) => held.push(e),
            Ok(Some(other)) => panic!("unexpected {other:?}"),
            Ok(None) => panic!("event stream closed"),
            Err(_) => break, // nothing for 2 s: the sender is stopped
        }
    }
    let stalled_at = sent.load(Ordering::Acquire);
    assert!(
        held.len() <= 4 * 1024 * 1024 / SIZE + 1,
        "{} messages delivered past the budget",
        held.len()
    );
    assert!(
        stalled_at < N,
        "the sender was never slowed down ({stalled_at} sent)"
    );
    assert!(!sender.is_finished());
    assert!(a.is_connected(&b.node_id()) && b.is_connected(&a.node_id()));
    eprintln!(
        "held {} messages, sender stopped at {stalled_at} of {N}",
        held.len()
    );

    // The plugins catch up: everything arrives, in order, still on the same connection.
    let mut next_seq = 0u32;
    for e in held.drain(..) {
        if let PeerEvent::CustomMessage { payload, .. } = e {
            assert_eq!(payload.get(2..6), Some(&next_seq.to_be_bytes()[..]));
            next_seq += 1;
        }
    }
    while next_seq < N {
        match next(&mut be, 30, "the rest of the messages").await {
            PeerEvent::CustomMessage { payload, .. } => {
                assert_eq!(payload.len(), SIZE);
                assert_eq!(
                    payload.get(2..6),
                    Some(&next_seq.to_be_bytes()[..]),
                    "message {next_seq} out of order"
                );
                next_seq += 1;
            }
            other => panic!("unexpected {other:?} at {next_seq}"),
        }
    }
    tokio::time::timeout(Duration::from_secs(30), sender)
        .await
        .expect("sender finished")
        .unwrap();
    assert!(a.is_connected(&b.node_id()));
}

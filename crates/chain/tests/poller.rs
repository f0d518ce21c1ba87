//! The poller against a backend plugin that serves a chain and answers badly on demand:
//! every bad answer is an error for that round (never a panic), and the next round
//! carries on; reorgs reach listeners as one disconnect then the new branch.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bitcoin::{Amount, ScriptBuf, TxOut};
use chain::{
    BackendError, ChainError, ChainStatus, FeeConfig, Fees, HashStore, JsonBackend,
    MemoryHashStore, Poller, PollerConfig,
};
use common::{heavy_block, make_block, Fault, Recorder, TestPlugin};
use serde_json::{json, Value};

type TestPoller = Poller<JsonBackend<TestPlugin>>;

fn config(keep: usize) -> PollerConfig {
    PollerConfig {
        network: "regtest".into(),
        interval: Duration::from_millis(50),
        rescan: 0,
        keep,
    }
}

fn poller_with(
    plugin: &TestPlugin,
    store: MemoryHashStore,
    keep: usize,
) -> (TestPoller, Arc<Recorder>) {
    let fees = Arc::new(Fees::new(FeeConfig::default()));
    let backend = Arc::new(JsonBackend(plugin.clone()));
    let mut poller = Poller::new(backend, Box::new(store), fees, config(keep)).unwrap();
    let recorder = Arc::new(Recorder::default());
    poller.add_listener(recorder.clone());
    (poller, recorder)
}

fn poller(plugin: &TestPlugin) -> (TestPoller, Arc<Recorder>, MemoryHashStore) {
    let store = MemoryHashStore::default();
    let (p, r) = poller_with(plugin, store.clone(), 100);
    (p, r, store)
}

/// The stored window is exactly the backend's chain at those heights.
fn assert_store_matches(store: &MemoryHashStore, plugin: &TestPlugin) {
    let stored = store.load().unwrap();
    assert!(!stored.is_empty());
    for b in &stored {
        assert_eq!(
            b.hash,
            plugin.hash_at(b.height),
            "stored hash at {}",
            b.height
        );
    }
    assert_eq!(stored.last().copied(), Some(plugin.tip()));
}

fn bad_block_height(err: ChainError) -> u32 {
    match err {
        ChainError::BadBlock { height, .. } => height,
        other => panic!("expected a bad block, got {other:?}"),
    }
}

#[tokio::test]
async fn follows_new_blocks_in_order_from_the_root() {
    let plugin = TestPlugin::new(11);
    let (mut p, rec, store) = poller(&plugin);
    assert_eq!(
        p.sync().await.unwrap(),
        0,
        "the root is stored, not announced"
    );
    assert_eq!(p.tip(), Some(plugin.tip()));
    plugin.mine(5, 3, 0);
    assert_eq!(p.sync().await.unwrap(), 5);
    assert_eq!(
        rec.events(),
        [
            "connect 11",
            "connect 12",
            "connect 13",
            "connect 14",
            "connect 15"
        ]
    );
    assert_eq!(rec.tip(), Some(plugin.tip()));
    assert!(rec.problems().is_empty(), "{:?}", rec.problems());
    assert_store_matches(&store, &plugin);
    let status: ChainStatus = p.status().borrow().clone();
    assert_eq!(status.tip, Some(plugin.tip()));
    assert!(status.caught_up && status.backend_synced);
    // getchaininfo is told where we are.
    let calls = plugin.calls.lock().unwrap().clone();
    let last_info = calls
        .iter()
        .rev()
        .find(|(m, _)| m == "getchaininfo")
        .unwrap();
    assert_eq!(last_info.1, json!({"last_height": 10}));
}

#[tokio::test]
async fn reorgs_of_depth_1_3_and_6_disconnect_once_then_connect_the_new_branch() {
    let plugin = TestPlugin::new(11);
    let (mut p, rec, store) = poller(&plugin);
    p.sync().await.unwrap();
    for (round, depth) in [1u32, 3, 6].into_iter().enumerate() {
        plugin.mine(8, 2, 0);
        p.sync().await.unwrap();
        let before = rec.events().len();
        let old_tip = plugin.tip();
        plugin.reorg(depth, 100 + round as u64);
        let connected = p.sync().await.unwrap();
        assert_eq!(connected, depth + 1);
        let fork = old_tip.height - depth;
        let mut expected = vec![format!("disconnect to {fork}")];
        expected.extend((fork + 1..=plugin.tip().height).map(|h| format!("connect {h}")));
        assert_eq!(rec.events()[before..], expected[..], "depth {depth}");
        assert_eq!(rec.tip(), Some(plugin.tip()));
        assert_store_matches(&store, &plugin);
    }
    assert!(rec.problems().is_empty(), "{:?}", rec.problems());
    assert_eq!(rec.state.lock().unwrap().disconnects, 3);
}

#[tokio::test]
async fn restart_resumes_at_the_stored_tip_and_finds_a_reorg_that_happened_while_down() {
    let plugin = TestPlugin::new(11);
    let store = MemoryHashStore::default();
    {
        let (mut p, _rec) = poller_with(&plugin, store.clone(), 100);
        p.sync().await.unwrap();
        plugin.mine(10, 1, 0);
        p.sync().await.unwrap();
    }
    plugin.reorg(4, 9);
    let (mut p, rec) = poller_with(&plugin, store.clone(), 100);
    assert_eq!(p.tip().map(|t| t.height), Some(20));
    p.sync().await.unwrap();
    assert_eq!(rec.events()[0], "disconnect to 16");
    assert_eq!(rec.events().len(), 1 + 5);
    assert!(rec.problems().is_empty(), "{:?}", rec.problems());
    assert_store_matches(&store, &plugin);
}

#[tokio::test]
async fn a_block_that_does_not_parse_is_an_error_then_retried() {
    let plugin = TestPlugin::new(11);
    let (mut p, rec, _store) = poller(&plugin);
    p.sync().await.unwrap();
    plugin.mine(2, 1, 0);
    plugin.fault(
        "getrawblockbyheight",
        Fault::Edit(Box::new(|mut v: Value| {
            v["block"] = json!("00112233zz");
            v
        })),
    );
    match p.sync().await {
        Err(ChainError::Backend(BackendError::BadReply { method, reason, .. })) => {
            assert_eq!(method, "getrawblockbyheight");
            assert!(reason.starts_with("bad block"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(rec.events().is_empty());
    assert_eq!(p.sync().await.unwrap(), 2);
    assert!(rec.problems().is_empty());
}

#[tokio::test]
async fn a_block_that_is_not_the_named_hash_is_refused() {
    let plugin = TestPlugin::new(11);
    let (mut p, rec, _store) = poller(&plugin);
    p.sync().await.unwrap();
    plugin.mine(2, 1, 0);
    let other = plugin.hash_at(3).to_string();
    plugin.fault(
        "getrawblockbyheight",
        Fault::Edit(Box::new(move |mut v: Value| {
            v["blockhash"] = json!(other);
            v
        })),
    );
    assert_eq!(bad_block_height(p.sync().await.unwrap_err()), 11);
    assert!(rec.events().is_empty());
    assert_eq!(p.sync().await.unwrap(), 2);
}

#[tokio::test]
async fn a_block_for_another_height_is_refused() {
    let plugin = TestPlugin::new(21);
    let (mut p, rec, _store) = poller(&plugin);
    p.sync().await.unwrap();
    plugin.mine(3, 1, 0);
    // The backend answers height 21 with its block 22 (self-consistent, wrong height).
    let b22 = plugin.chain.lock().unwrap()[22].clone();
    plugin.fault(
        "getrawblockbyheight",
        Fault::Reply(json!({
            "blockhash": b22.block_hash().to_string(),
            "block": bitcoin::consensus::encode::serialize_hex(&b22),
        })),
    );
    let err = p.sync().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("asked for height 21, got the block of height 22"),
        "{err}"
    );
    assert!(rec.events().is_empty());
    assert_eq!(p.sync().await.unwrap(), 3);
    assert!(rec.problems().is_empty());
}

#[tokio::test]
async fn heights_going_backwards_wait_without_disconnecting() {
    let plugin = TestPlugin::new(11);
    let (mut p, rec, _store) = poller(&plugin);
    p.sync().await.unwrap();
    plugin.mine(5, 1, 0);
    p.sync().await.unwrap();
    plugin.fault(
        "getchaininfo",
        Fault::Reply(json!({"chain":"regtest","headercount":12,"blockcount":12,"ibd":false})),
    );
    assert_eq!(p.sync().await.unwrap(), 0);
    assert_eq!(p.tip(), Some(plugin.tip()));
    assert!(!rec.events().iter().any(|e| e.starts_with("disconnect")));
    plugin.mine(1, 1, 0);
    assert_eq!(p.sync().await.unwrap(), 1);
    assert!(rec.problems().is_empty());
}

#[tokio::test]
async fn a_four_megabyte_block_over_consensus_weight_is_refused() {
    let plugin = TestPlugin::new(21);
    let (mut p, rec, _store) = poller(&plugin);
    p.sync().await.unwrap();
    // 4 MB of non-witness data weighs 16 MWU: no valid block is like that.
    let mut block = make_block(plugin.tip().hash, 21, 1, 0);
    block.txdata[1].output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: ScriptBuf::from_bytes(vec![0x6a; 3_999_000]),
    });
    block.header.merkle_root = block.compute_merkle_root().unwrap();
    plugin.push_block(block);
    let err = p.sync().await.unwrap_err();
    assert!(err.to_string().contains("over the limit"), "{err}");
    assert!(rec.events().is_empty());
}

#[tokio::test]
async fn a_heavy_block_within_consensus_weight_is_taken() {
    let plugin = TestPlugin::new(21);
    let (mut p, rec, _store) = poller(&plugin);
    p.sync().await.unwrap();
    let block = heavy_block(plugin.tip().hash, 21, 3_900_000);
    assert!(bitcoin::consensus::encode::serialize(&block).len() > 3_900_000);
    plugin.push_block(block);
    plugin.mine(1, 1, 0);
    assert_eq!(p.sync().await.unwrap(), 2);
    assert!(rec.problems().is_empty());
}

#[tokio::test]
async fn a_witness_stripped_block_is_refused() {
    let plugin = TestPlugin::new(21);
    let (mut p, _rec, _store) = poller(&plugin);
    p.sync().await.unwrap();
    let mut block = heavy_block(plugin.tip().hash, 21, 1000);
    block.txdata[1].input[0].witness = bitcoin::Witness::from_slice(&[[1u8; 10]]);
    plugin.push_block(block);
    let err = p.sync().await.unwrap_err();
    assert!(err.to_string().contains("witness commitment"), "{err}");
}

#[tokio::test]
async fn garbage_and_missing_answers_are_errors_and_the_next_round_carries_on() {
    let plugin = TestPlugin::new(11);
    let (mut p, rec, _store) = poller(&plugin);
    p.sync().await.unwrap();
    plugin.mine(1, 1, 0);
    let garbage: Vec<(&'static str, Fault)> = vec![
        ("getchaininfo", Fault::Fail("bcli died".into())),
        ("getchaininfo", Fault::Reply(json!("garbage"))),
        ("getchaininfo", Fault::Reply(json!({"chain": 1}))),
        ("getchaininfo", Fault::Reply(json!(null))),
        (
            "getchaininfo",
            Fault::Reply(json!({"chain":"regtest","headercount":-5,"blockcount":1e40,"ibd":0})),
        ),
        ("getrawblockbyheight", Fault::Reply(json!([]))),
        ("getrawblockbyheight", Fault::Reply(json!({"blockhash": 7}))),
        (
            "getrawblockbyheight",
            Fault::Reply(json!({"blockhash": "xy".repeat(32), "block": "00"})),
        ),
        ("getrawblockbyheight", Fault::Fail("no answer".into())),
    ];
    let n = garbage.len();
    for (method, fault) in garbage {
        plugin.fault(method, fault);
    }
    for i in 0..n {
        let err = p.sync().await.unwrap_err();
        assert!(matches!(err, ChainError::Backend(_)), "round {i}: {err:?}");
    }
    assert!(rec.events().is_empty());
    assert_eq!(p.sync().await.unwrap(), 1);
    assert!(rec.problems().is_empty());
}

#[tokio::test]
async fn no_block_where_the_backend_said_there_is_one_waits_for_the_next_round() {
    let plugin = TestPlugin::new(11);
    let (mut p, rec, _store) = poller(&plugin);
    p.sync().await.unwrap();
    plugin.mine(2, 1, 0);
    plugin.fault(
        "getrawblockbyheight",
        Fault::Reply(json!({"blockhash": null, "block": null})),
    );
    assert_eq!(p.sync().await.unwrap(), 0);
    assert!(!p.status().borrow().caught_up);
    assert_eq!(p.sync().await.unwrap(), 2);
    assert!(p.status().borrow().caught_up);
    assert!(rec.problems().is_empty());
}

#[tokio::test]
async fn a_backend_claiming_the_last_possible_height_is_no_panic() {
    let plugin = TestPlugin::new(11);
    let (mut p, rec, _store) = poller(&plugin);
    p.sync().await.unwrap();
    let max = json!({"chain":"regtest","headercount":u32::MAX,"blockcount":u32::MAX,"ibd":false});
    plugin.fault("getchaininfo", Fault::Reply(max.clone()));
    assert_eq!(p.sync().await.unwrap(), 0);
    // On a fresh start the root itself is asked for at that height.
    let (mut fresh, _, _) = poller(&plugin);
    plugin.fault("getchaininfo", Fault::Reply(max));
    assert!(matches!(
        fresh.sync().await,
        Err(ChainError::Missing(u32::MAX))
    ));
    assert!(rec.events().is_empty());
}

#[tokio::test]
async fn wrong_network_is_refused_with_lightningds_text() {
    let mut plugin = TestPlugin::new(3);
    plugin.network = "main".into();
    let (mut p, _rec, _store) = poller(&plugin);
    let err = p.sync().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Wrong network! Our Bitcoin backend is running on 'main', but we expect 'regtest'."
    );
}

#[tokio::test]
async fn the_hash_window_stays_at_keep_and_a_deeper_reorg_is_an_error_not_a_panic() {
    let plugin = TestPlugin::new(11);
    let store = MemoryHashStore::default();
    let (mut p, rec) = poller_with(&plugin, store.clone(), 5);
    p.sync().await.unwrap();
    plugin.mine(30, 1, 0);
    p.sync().await.unwrap();
    let stored = store.load().unwrap();
    let heights: Vec<u32> = stored.iter().map(|b| b.height).collect();
    assert_eq!(heights, [36, 37, 38, 39, 40]);
    plugin.reorg(7, 3);
    assert!(matches!(p.sync().await, Err(ChainError::TooDeep(_))));
    assert!(!rec.events().iter().any(|e| e.starts_with("disconnect")));
    assert!(rec.problems().is_empty());
}

#[tokio::test]
async fn fees_are_polled_and_garbage_keeps_the_previous_ones() {
    let plugin = TestPlugin::new(3);
    let (mut p, _rec, _store) = poller(&plugin);
    assert!(p.fees().unknown());
    p.poll_fees().await;
    assert_eq!(p.fees().opening(), Some(3000));
    plugin.fault("estimatefees", Fault::Reply(json!({"feerates": "lots"})));
    p.poll_fees().await;
    plugin.fault("estimatefees", Fault::Fail("no answer".into()));
    p.poll_fees().await;
    assert_eq!(p.fees().opening(), Some(3000));
}

#[tokio::test]
async fn run_logs_a_bad_round_and_catches_up_by_itself() {
    let plugin = TestPlugin::new(11);
    let (p, rec, _store) = poller(&plugin);
    let mut status = p.status();
    plugin.mine(4, 1, 0);
    plugin.fault("getrawblockbyheight", Fault::Reply(json!("garbage")));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(p.run(async {
        let _ = stopped.await;
    }));
    let want = plugin.tip();
    tokio::time::timeout(
        Duration::from_secs(10),
        status.wait_for(|s| s.tip == Some(want)),
    )
    .await
    .expect("caught up in time")
    .unwrap();
    plugin.mine(2, 1, 0);
    let want = plugin.tip();
    tokio::time::timeout(
        Duration::from_secs(10),
        status.wait_for(|s| s.tip == Some(want)),
    )
    .await
    .expect("followed the new blocks")
    .unwrap();
    stop.send(()).unwrap();
    task.await.unwrap();
    assert!(rec.problems().is_empty());
}

/// A recorder that already has the chain up to `best` (as a listener persisted it).
fn recorder_at(best: chain::BlockRef) -> Arc<Recorder> {
    let rec = Arc::new(Recorder::default());
    rec.state.lock().unwrap().chain.push(best);
    rec
}

#[tokio::test]
async fn a_listener_behind_the_tip_is_caught_up_from_the_backend_before_new_blocks() {
    let plugin = TestPlugin::new(11);
    let store = MemoryHashStore::default();
    {
        let (mut p, _rec) = poller_with(&plugin, store.clone(), 100);
        p.sync().await.unwrap();
        plugin.mine(30, 1, 0);
        p.sync().await.unwrap();
    }
    // Restart: the poller is at 40, the listener persisted block 15 last.
    plugin.mine(2, 1, 0);
    let best = chain::BlockRef {
        height: 15,
        hash: plugin.hash_at(15),
    };
    let (mut p, rec) = poller_with(&plugin, store.clone(), 100);
    let lagging = recorder_at(best);
    p.add_listener_at(lagging.clone(), best);
    assert_eq!(p.sync().await.unwrap(), 2);
    let expected: Vec<String> = (16..=42).map(|h| format!("connect {h}")).collect();
    assert_eq!(lagging.events(), expected);
    assert!(lagging.problems().is_empty(), "{:?}", lagging.problems());
    assert_eq!(lagging.tip(), Some(plugin.tip()));
    // The others only hear the new blocks.
    assert_eq!(rec.events(), ["connect 41", "connect 42"]);
    // Next rounds: everyone together, nobody twice.
    plugin.reorg(2, 7);
    p.sync().await.unwrap();
    assert_eq!(lagging.tip(), Some(plugin.tip()));
    assert!(lagging.problems().is_empty(), "{:?}", lagging.problems());
    assert_eq!(lagging.events()[expected.len()], "disconnect to 40");
}

#[tokio::test]
async fn a_listener_at_the_tip_or_one_ahead_is_not_told_a_block_twice() {
    let plugin = TestPlugin::new(11);
    let store = MemoryHashStore::default();
    {
        let (mut p, _rec) = poller_with(&plugin, store.clone(), 100);
        p.sync().await.unwrap();
        plugin.mine(5, 1, 0);
        p.sync().await.unwrap();
    }
    // The listener applied block 16 but we crashed before storing it.
    plugin.mine(1, 1, 0);
    let ahead = chain::BlockRef {
        height: 16,
        hash: plugin.hash_at(16),
    };
    let at_tip = chain::BlockRef {
        height: 15,
        hash: plugin.hash_at(15),
    };
    store
        .clone()
        .apply(&chain::HashChange {
            remove_above: Some(15),
            ..Default::default()
        })
        .unwrap();
    let (mut p, _rec) = poller_with(&plugin, store.clone(), 100);
    let (a, t) = (recorder_at(ahead), recorder_at(at_tip));
    p.add_listener_at(a.clone(), ahead);
    p.add_listener_at(t.clone(), at_tip);
    plugin.mine(1, 1, 0);
    p.sync().await.unwrap();
    assert_eq!(a.events(), ["connect 17"]);
    assert_eq!(t.events(), ["connect 16", "connect 17"]);
    assert!(a.problems().is_empty() && t.problems().is_empty());
}

#[tokio::test]
async fn a_listener_on_a_dead_branch_is_disconnected_then_caught_up() {
    let plugin = TestPlugin::new(21);
    let store = MemoryHashStore::default();
    let stale = {
        let (mut p, _rec) = poller_with(&plugin, store.clone(), 100);
        p.sync().await.unwrap();
        plugin.mine(3, 1, 0);
        p.sync().await.unwrap();
        let stale = plugin.tip();
        plugin.reorg(1, 5);
        p.sync().await.unwrap();
        plugin.mine(2, 1, 0);
        p.sync().await.unwrap();
        stale
    };
    let (mut p, _rec) = poller_with(&plugin, store, 100);
    let rec = recorder_at(chain::BlockRef {
        height: stale.height - 1,
        hash: plugin.hash_at(stale.height - 1),
    });
    // Its chain: ..., 22, the stale 23.
    rec.state.lock().unwrap().chain.push(stale);
    p.add_listener_at(rec.clone(), stale);
    p.sync().await.unwrap();
    let mut expected = vec![format!("disconnect to {}", stale.height - 1)];
    expected.extend((stale.height..=plugin.tip().height).map(|h| format!("connect {h}")));
    assert_eq!(rec.events(), expected);
    assert_eq!(rec.tip(), Some(plugin.tip()));
    assert!(rec.problems().is_empty(), "{:?}", rec.problems());
}

#[tokio::test]
async fn a_catch_up_the_backend_cannot_serve_is_retried_next_round() {
    let plugin = TestPlugin::new(31);
    let (mut p, _rec, _store) = poller(&plugin);
    p.sync().await.unwrap();
    let best = chain::BlockRef {
        height: 20,
        hash: plugin.hash_at(20),
    };
    let rec = recorder_at(best);
    p.add_listener_at(rec.clone(), best);
    plugin.fault("getrawblockbyheight", Fault::Fail("backend down".into()));
    assert!(p.sync().await.is_err());
    p.sync().await.unwrap();
    assert_eq!(rec.tip(), Some(plugin.tip()));
    assert!(rec.problems().is_empty(), "{:?}", rec.problems());
}

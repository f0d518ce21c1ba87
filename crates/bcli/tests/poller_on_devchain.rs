//! The chain poller through the real stack: `chain::JsonBackend` → bcli (plugin protocol)
//! → devchain (bitcoind's JSON-RPC). Happy path, reorgs of depth 1, 3 and 6
//! (`invalidateblock` then a longer branch), restart, fees.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::{Block, BlockHash};
use chain::{
    BlockRef, ChainListener, FeeConfig, Fees, HashStore, JsonBackend, MemoryHashStore, Poller,
    PollerConfig,
};
use common::{options_for, Bcli, Stack};
use serde_json::json;

/// Keeps the chain it is told and notes anything inconsistent (a block that does not build
/// on its tip, one applied twice, an unknown fork point).
#[derive(Default)]
struct Recorder(Mutex<Seen>);

#[derive(Default)]
struct Seen {
    chain: Vec<BlockRef>,
    events: Vec<String>,
    problems: Vec<String>,
}

impl ChainListener for Recorder {
    fn block_connected(&self, block: &Block, height: u32) {
        let mut s = self.0.lock().unwrap();
        let hash = block.block_hash();
        match s.chain.last().copied() {
            Some(tip) if tip.hash != block.header.prev_blockhash || tip.height + 1 != height => s
                .problems
                .push(format!("block {height} does not build on {}", tip.height)),
            None => s.chain.push(BlockRef {
                height: height - 1,
                hash: block.header.prev_blockhash,
            }),
            _ => {}
        }
        if s.chain.iter().any(|b| b.hash == hash) {
            s.problems.push(format!("block {height} applied twice"));
        }
        s.chain.push(BlockRef { height, hash });
        s.events.push(format!("connect {height}"));
    }

    fn blocks_disconnected(&self, fork_point: BlockRef) {
        let mut s = self.0.lock().unwrap();
        // A listener that joined after a restart knows no history to check against.
        if !s.chain.is_empty() && !s.chain.contains(&fork_point) {
            s.problems
                .push(format!("unknown fork point {}", fork_point.height));
        }
        s.chain.retain(|b| b.height <= fork_point.height);
        s.events
            .push(format!("disconnect to {}", fork_point.height));
    }
}

impl Recorder {
    fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().events.clone()
    }
    fn problems(&self) -> Vec<String> {
        self.0.lock().unwrap().problems.clone()
    }
    fn tip(&self) -> Option<BlockRef> {
        self.0.lock().unwrap().chain.last().copied()
    }
}

type StackPoller = Poller<JsonBackend<Arc<Bcli>>>;

fn poller(bcli: Arc<Bcli>, store: MemoryHashStore) -> (StackPoller, Arc<Recorder>) {
    let config = PollerConfig {
        interval: Duration::from_millis(200),
        ..PollerConfig::new("regtest")
    };
    let fees = Arc::new(Fees::new(FeeConfig::default()));
    let mut p = Poller::new(Arc::new(JsonBackend(bcli)), Box::new(store), fees, config).unwrap();
    let rec = Arc::new(Recorder::default());
    p.add_listener(rec.clone());
    (p, rec)
}

async fn tip_of(stack: &Stack) -> BlockRef {
    let height = stack
        .rpc("getblockcount", json!([]))
        .await
        .as_u64()
        .unwrap() as u32;
    let hash = stack.rpc("getblockhash", json!([height])).await;
    BlockRef {
        height,
        hash: hash.as_str().unwrap().parse::<BlockHash>().unwrap(),
    }
}

fn assert_store_is_the_chain(store: &MemoryHashStore, expected_tip: BlockRef) {
    let stored = store.load().unwrap();
    assert_eq!(stored.last().copied(), Some(expected_tip));
    assert!(stored.windows(2).all(|w| w[0].height + 1 == w[1].height));
}

#[tokio::test]
async fn follows_devchain_through_bcli_and_survives_reorgs_of_depth_1_3_and_6() {
    let stack = Stack::new().await;
    stack.mine(10).await;
    let bcli = stack.bcli_handle();
    let store = MemoryHashStore::default();
    let (mut p, rec) = poller(bcli, store.clone());
    p.sync().await.unwrap();
    assert_eq!(
        p.tip(),
        Some(tip_of(&stack).await),
        "rooted at the backend's tip"
    );
    stack.mine(5).await;
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
    assert_eq!(rec.tip(), Some(tip_of(&stack).await));

    for depth in [1u32, 3, 6] {
        stack.mine(7).await;
        p.sync().await.unwrap();
        let old = tip_of(&stack).await;
        let first_gone = stack
            .rpc("getblockhash", json!([old.height - depth + 1]))
            .await;
        stack.rpc("invalidateblock", json!([first_gone])).await;
        stack.mine(depth + 1).await;
        let new = tip_of(&stack).await;
        assert_eq!(new.height, old.height + 1);
        let before = rec.events().len();
        assert_eq!(p.sync().await.unwrap(), depth + 1);
        let fork = old.height - depth;
        let mut expected = vec![format!("disconnect to {fork}")];
        expected.extend((fork + 1..=new.height).map(|h| format!("connect {h}")));
        assert_eq!(rec.events()[before..], expected[..], "depth {depth}");
        assert_eq!(rec.tip(), Some(new));
        assert_store_is_the_chain(&store, new);
    }
    assert!(rec.problems().is_empty(), "{:?}", rec.problems());
    let status = p.status().borrow().clone();
    assert!(status.backend_synced && status.caught_up);
}

#[tokio::test]
async fn a_restarted_poller_finds_the_reorg_it_missed() {
    let stack = Stack::new().await;
    stack.mine(20).await;
    let bcli = stack.bcli_handle();
    let store = MemoryHashStore::default();
    {
        let (mut p, _) = poller(bcli.clone(), store.clone());
        p.sync().await.unwrap();
        stack.mine(4).await;
        p.sync().await.unwrap();
    }
    let gone = stack.rpc("getblockhash", json!([22])).await;
    stack.rpc("invalidateblock", json!([gone])).await;
    stack.mine(5).await;
    let (mut p, rec) = poller(bcli, store.clone());
    p.sync().await.unwrap();
    assert_eq!(rec.events()[0], "disconnect to 21");
    assert_eq!(rec.events().len(), 1 + 5);
    assert!(rec.problems().is_empty(), "{:?}", rec.problems());
    assert_store_is_the_chain(&store, tip_of(&stack).await);
}

#[tokio::test]
async fn run_follows_new_blocks_and_fees_come_from_bcli() {
    let stack = Stack::new().await;
    stack.mine(3).await;
    let bcli = stack.bcli_handle();
    let (mut p, rec) = poller(bcli, MemoryHashStore::default());
    // Rooted (and fees known) before run() starts, so the blocks below are all new to it.
    p.sync().await.unwrap();
    p.poll_fees().await;
    let fees = p.fees().clone();
    let mut status = p.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(p.run(async {
        let _ = stopped.await;
    }));
    for _ in 0..3 {
        stack.mine(2).await;
        let want = tip_of(&stack).await;
        tokio::time::timeout(
            Duration::from_secs(10),
            status.wait_for(|s| s.tip == Some(want)),
        )
        .await
        .expect("followed in time")
        .unwrap();
    }
    // Regtest's faked 1000 sat/kvB is 250 perkw: raised to the 253 floor.
    assert_eq!(fees.opening(), Some(253));
    stop.send(()).unwrap();
    task.await.unwrap();
    assert_eq!(rec.events().len(), 6);
    assert!(rec.problems().is_empty(), "{:?}", rec.problems());
}

#[tokio::test]
async fn a_backend_on_another_network_is_refused() {
    let stack = Stack::new().await;
    let mut opts = options_for(stack.dir.path(), stack.devchain.port);
    opts["bitcoin-rpcuser"] = json!(stack.devchain.user);
    opts["bitcoin-rpcpassword"] = json!(stack.devchain.password);
    let bcli = match Bcli::start_on("bitcoin", opts).await {
        common::Started::Running(b) => *b,
        common::Started::Exited(c, e) => panic!("{c:?} {e}"),
    };
    let config = PollerConfig::new("main");
    let fees = Arc::new(Fees::new(FeeConfig::default()));
    let store = Box::new(MemoryHashStore::default());
    let mut p = Poller::new(Arc::new(JsonBackend(Arc::new(bcli))), store, fees, config).unwrap();
    let err = p.sync().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Wrong network! Our Bitcoin backend is running on 'regtest', but we expect 'main'."
    );
}

//! The bitcoind RPC subset: shapes, codes, auth, mining.

mod common;

use std::time::Instant;

use serde_json::json;

#[test]
fn fresh_chain_is_regtest_genesis_and_mines_101_blocks_quickly() {
    let mut c = common::start();
    assert_eq!(c.height(), 0);
    assert_eq!(
        c.call("getblockhash", json!([0])),
        "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
    );
    let info = c.call("getblockchaininfo", json!([]));
    assert_eq!(info["chain"], "regtest");
    assert_eq!(
        info["initialblockdownload"], true,
        "a genesis-only chain is in IBD, as bitcoind"
    );
    let t = Instant::now();
    let hashes = c.mine(101);
    let took = t.elapsed();
    assert_eq!(hashes.len(), 101);
    assert_eq!(c.height(), 101);
    assert!(took.as_millis() < 2000, "101 blocks took {took:?}");
    let info = c.call("getblockchaininfo", json!([]));
    assert_eq!(info["initialblockdownload"], false);
    assert_eq!(info["blocks"], 101);
    assert_eq!(info["bestblockhash"], hashes[100]);
}

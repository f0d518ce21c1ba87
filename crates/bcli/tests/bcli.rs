//! The bcli plugin, run as the node runs it, against a real devchain (and against no
//! bitcoind at all).

mod common;

use std::time::{Duration, Instant};

use bitcoin::consensus::encode::deserialize_hex;
use bitcoin::Block;
use common::{options_for, Bcli, Stack, Started};
use serde_json::{json, Value};

#[tokio::test]
async fn manifest_registers_the_five_backend_methods_with_usage_and_bclis_options() {
    let stack = Stack::new().await;
    let m = &stack.bcli.manifest;
    let methods: Vec<(String, String)> = m["rpcmethods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["usage"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (name, usage) in [
        ("getchaininfo", "[last_height]"),
        ("estimatefees", ""),
        ("getrawblockbyheight", "height"),
        ("getutxout", "txid vout"),
        ("sendrawtransaction", "tx allowhighfees"),
    ] {
        assert!(
            methods.contains(&(name.to_string(), usage.to_string())),
            "{name} in {methods:?}"
        );
    }
    let options: Vec<&str> = m["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    for o in [
        "bitcoin-datadir",
        "bitcoin-cli",
        "bitcoin-rpcuser",
        "bitcoin-rpcpassword",
        "bitcoin-rpcconnect",
        "bitcoin-rpcport",
        "bitcoin-rpcclienttimeout",
        "bitcoin-retry-timeout",
        "dev-no-fake-fees",
        "dev-ignore-ibd",
    ] {
        assert!(options.contains(&o), "{o} in {options:?}");
    }
    // The log notification travels apart from the init reply: wait for it, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let logged = || {
        stack
            .bcli
            .logs
            .lock()
            .unwrap()
            .iter()
            .any(|l| l == "bitcoin-cli initialized and connected to bitcoind.")
    };
    while !logged() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(logged());
}

#[tokio::test]
async fn getchaininfo_reports_the_devchain() {
    let stack = Stack::new().await;
    stack.mine(5).await;
    let info = stack
        .bcli
        .ok("getchaininfo", json!({"last_height": 0}))
        .await;
    assert_eq!(
        info,
        json!({"chain": "regtest", "headercount": 5, "blockcount": 5, "ibd": false})
    );
    // Positional and without last_height too; a bad last_height is CLN's param error.
    stack.bcli.ok("getchaininfo", json!([])).await;
    let e = stack
        .bcli
        .err("getchaininfo", json!({"last_height": "x"}))
        .await;
    assert_eq!(e["code"], -32602);
}

#[tokio::test]
async fn getrawblockbyheight_serves_blocks_and_nulls_above_the_tip() {
    let stack = Stack::new().await;
    let hashes = stack.mine(3).await;
    let r = stack
        .bcli
        .ok("getrawblockbyheight", json!({"height": 2}))
        .await;
    assert_eq!(r["blockhash"], hashes[1]);
    let block: Block = deserialize_hex(r["block"].as_str().unwrap()).unwrap();
    assert_eq!(block.block_hash().to_string(), hashes[1]);
    assert_eq!(
        block.bip34_block_height().ok(),
        None,
        "heights up to 16 are OP_N, as in Core"
    );
    let none = stack.bcli.ok("getrawblockbyheight", json!([4])).await;
    assert_eq!(none, json!({"blockhash": null, "block": null}));
    let e = stack.bcli.err("getrawblockbyheight", json!({})).await;
    assert_eq!(e["code"], -32602);
    assert_eq!(e["message"], "missing required parameter: height");
    let e = stack
        .bcli
        .err("getrawblockbyheight", json!({"height": -1}))
        .await;
    assert_eq!(e["code"], -32602);
}

#[tokio::test]
async fn estimatefees_fakes_regtest_fees_unless_told_not_to() {
    let stack = Stack::new().await;
    let fees = stack.bcli.ok("estimatefees", json!({})).await;
    assert_eq!(
        fees,
        json!({"feerates": [
            {"blocks": 2, "feerate": 1000}, {"blocks": 6, "feerate": 1000},
            {"blocks": 12, "feerate": 1000}, {"blocks": 100, "feerate": 1000}],
            "feerate_floor": 1000})
    );
    let mut opts = options_for(stack.dir.path(), stack.devchain.port);
    opts["dev-no-fake-fees"] = json!(true);
    let honest = Bcli::started(opts).await;
    let fees = honest.ok("estimatefees", json!([])).await;
    assert_eq!(fees, json!({"feerates": [], "feerate_floor": 1000}));
}

#[tokio::test]
async fn getutxout_gives_amount_and_script_or_nulls() {
    let stack = Stack::new().await;
    stack.mine(1).await;
    let hash = stack.rpc("getblockhash", json!([1])).await;
    let block = stack.rpc("getblock", json!([hash, 2])).await;
    let coinbase = &block["tx"][0];
    let txid = coinbase["txid"].as_str().unwrap();
    let out = stack
        .bcli
        .ok("getutxout", json!({"txid": txid, "vout": 0}))
        .await;
    assert_eq!(out["amount"], "5000000000sat");
    assert_eq!(out["script"], coinbase["vout"][0]["scriptPubKey"]["hex"]);
    let none = stack
        .bcli
        .ok("getutxout", json!({"txid": "00".repeat(32), "vout": 0}))
        .await;
    assert_eq!(none, json!({"amount": null, "script": null}));
    let garbage = stack.bcli.ok("getutxout", json!(["nonsense", "3"])).await;
    assert_eq!(garbage, json!({"amount": null, "script": null}));
}

#[tokio::test]
async fn sendrawtransaction_reports_acceptance_refusal_and_already_confirmed() {
    let stack = Stack::new().await;
    stack.mine(101).await;
    let addr = stack.rpc("getnewaddress", json!([])).await;
    let txid = stack.rpc("sendtoaddress", json!([addr, 1.0])).await;
    let hex = stack.rpc("getrawtransaction", json!([txid])).await;
    // Already in the mempool: bitcoind accepts it again.
    let r = stack
        .bcli
        .ok(
            "sendrawtransaction",
            json!({"tx": hex, "allowhighfees": false}),
        )
        .await;
    assert_eq!(r, json!({"success": true, "errmsg": ""}));
    let line = format!(
        "sendrawtx exit 0 (sendrawtransaction {}) {}",
        hex.as_str().unwrap(),
        txid.as_str().unwrap()
    );
    let logged = || stack.bcli.logs.lock().unwrap().iter().any(|l| l == &line);
    for _ in 0..100 {
        if logged() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        logged(),
        "no '{line}' in {:?}",
        stack.bcli.logs.lock().unwrap()
    );
    stack.mine(1).await;
    let r = stack
        .bcli
        .ok("sendrawtransaction", json!([hex, true]))
        .await;
    assert_eq!(
        r["success"], true,
        "already in chain is what the caller wanted: {r}"
    );
    let r = stack
        .bcli
        .ok(
            "sendrawtransaction",
            json!({"tx": "00", "allowhighfees": false}),
        )
        .await;
    assert_eq!(r["success"], false);
    assert!(
        r["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("error code: -22\nerror message:\nTX decode failed"),
        "{r}"
    );
    let e = stack
        .bcli
        .err("sendrawtransaction", json!({"tx": hex}))
        .await;
    assert_eq!(e["message"], "missing required parameter: allowhighfees");
}

#[tokio::test]
async fn bitcoind_down_at_init_is_retried_then_named_by_host_and_port() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut opts = options_for(dir.path(), port);
    opts["bitcoin-retry-timeout"] = json!(2);
    opts["bitcoin-rpcuser"] = json!("u");
    opts["bitcoin-rpcpassword"] = json!("p");
    let t = Instant::now();
    match Bcli::start(opts).await {
        Started::Running(_) => panic!("bcli ran without bitcoind"),
        Started::Exited(code, stderr) => {
            assert_eq!(code, Some(1));
            assert!(
                stderr.contains(&format!(
                    "Could not connect to bitcoind at 127.0.0.1:{port} (retried for 2 seconds)"
                )),
                "{stderr}"
            );
        }
    }
    assert!(
        t.elapsed() >= Duration::from_secs(2),
        "retried for the timeout"
    );
}

#[tokio::test]
async fn a_missing_cookie_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options_for(dir.path(), 1);
    opts["bitcoin-retry-timeout"] = json!(0);
    match Bcli::start(opts).await {
        Started::Running(_) => panic!("bcli ran without bitcoind"),
        Started::Exited(code, stderr) => {
            assert_eq!(code, Some(1));
            let cookie = dir.path().join("regtest/.cookie");
            assert!(stderr.contains(&cookie.display().to_string()), "{stderr}");
        }
    }
}

#[tokio::test]
async fn bitcoind_going_away_is_retried_and_coming_back_within_the_timeout_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let chain = devchain::DevChain::spawn(dir.path()).unwrap();
    let port = chain.port;
    let mut opts = options_for(dir.path(), port);
    opts["bitcoin-retry-timeout"] = json!(10);
    let bcli = Bcli::started(opts).await;
    drop(chain);
    // It comes back on the same port (with a new cookie) while bcli retries.
    let restart = {
        let dir = dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(Duration::from_secs(2));
            let mut config = devchain::Config::new(&dir);
            config.rpc_port = port;
            devchain::DevChain::spawn_with(config).unwrap()
        })
    };
    let info = bcli.ok("getchaininfo", json!({})).await;
    assert_eq!(info["chain"], "regtest");
    let chain = restart.await.unwrap();
    drop(chain);
    // Gone for good: after the retry timeout a code-500 error naming where it looked.
    let t = Instant::now();
    let e: Value = bcli.err("getchaininfo", json!({})).await;
    assert!(t.elapsed() >= Duration::from_secs(10));
    assert_eq!(e["code"], 500);
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.starts_with(
            "getblockchaininfo: command failed (Could not connect to bitcoind at 127.0.0.1:"
        ),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(":{port} (retried for 10 seconds)")),
        "{msg}"
    );
}

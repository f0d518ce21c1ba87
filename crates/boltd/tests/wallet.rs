//! The wallet in the daemon against a devchain, through the RPC socket: addresses, funds
//! following the chain, restarts and the start-up catch-up of blocks mined while down.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bitcoin::Amount;
use common::Daemon;
use serde_json::{json, Value};

/// bcli next to boltd (`cargo test -p boltd` builds only boltd's own binaries).
fn build_bcli() {
    let boltd = PathBuf::from(common::BOLTD);
    if boltd.with_file_name("bcli").exists() {
        return;
    }
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "bcli", "--bin", "bcli"])
        .status()
        .expect("cargo build bcli");
    assert!(status.success());
}

fn chain_options(dc: &devchain::DevChain) -> Vec<String> {
    vec![
        format!("--bitcoin-datadir={}", dc.datadir.display()),
        "--bitcoin-rpcconnect=127.0.0.1".into(),
        format!("--bitcoin-rpcport={}", dc.port),
        "--developer".into(),
        "--dev-bitcoind-poll=1".into(),
    ]
}

fn start(dir: tempfile::TempDir, dc: &devchain::DevChain) -> Daemon {
    build_bcli();
    let opts = chain_options(dc);
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    Daemon::start_in(dir, &opts)
}

fn result(d: &Daemon, method: &str, params: Value) -> Value {
    let r = d.call(method, params);
    r.get("result")
        .cloned()
        .unwrap_or_else(|| panic!("{method}: {r}"))
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn outputs(d: &Daemon) -> Vec<Value> {
    result(d, "listfunds", json!({}))["outputs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn height(dc: &devchain::DevChain) -> u64 {
    dc.client()
        .call("getblockcount", json!([]))
        .unwrap()
        .as_u64()
        .unwrap()
}

#[test]
fn funds_follow_the_chain_and_blocks_mined_while_down_are_caught_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dc = devchain::DevChain::spawn(&tmp.path().join("chain")).unwrap();
    dc.mine(101).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir, &dc);

    let addrs = result(&d, "newaddr", json!({}));
    let (bech32, p2tr) = (
        addrs["bech32"].as_str().unwrap().to_string(),
        addrs["p2tr"].as_str().unwrap().to_string(),
    );
    assert!(
        bech32.starts_with("bcrt1q") && p2tr.starts_with("bcrt1p"),
        "{addrs}"
    );
    let only = result(&d, "newaddr", json!({"addresstype": "p2tr"}));
    assert_eq!(only.as_object().unwrap().len(), 1, "{only}");
    let bad = d.call("newaddr", json!({"addresstype": "p2sh"}));
    assert_eq!(bad["error"]["code"], -32602);
    assert_eq!(
        bad["error"]["message"],
        "'addresstype' should be 'p2tr', 'bech32', or 'all', not 'p2sh'"
    );
    assert_eq!(
        result(&d, "listfunds", json!({})),
        json!({"outputs": [], "channels": []})
    );

    dc.fund(&bech32, Amount::from_sat(100_000)).unwrap();
    dc.fund(&p2tr, Amount::from_sat(200_000)).unwrap();
    dc.mine(1).unwrap();
    let tip = height(&dc);
    wait_until("two confirmed outputs", || {
        let o = outputs(&d);
        o.len() == 2 && o.iter().all(|o| o["status"] == "confirmed")
    });
    for o in outputs(&d) {
        assert_eq!(o["blockheight"], tip, "{o}");
        assert_eq!(o["reserved"], false, "{o}");
        assert!(o.get("reserved_to_block").is_none(), "{o}");
        let a = o["address"].as_str().unwrap();
        let want = if a == bech32 {
            100_000_000
        } else {
            200_000_000
        };
        assert_eq!(o["amount_msat"], want, "{o}");
        assert!(a == bech32 || a == p2tr, "{o}");
    }

    // kill -9; while down a deposit to an address issued before confirms and more
    // blocks come: the wallet is caught up before the socket serves again.
    let mut d = d;
    let opts = chain_options(&dc);
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    d.child.take().map(|mut c| {
        c.kill().unwrap();
        c.wait().unwrap()
    });
    dc.fund(&p2tr, Amount::from_sat(300_000)).unwrap();
    dc.mine(6).unwrap();
    d.restart(&opts);
    let o = outputs(&d);
    assert_eq!(o.len(), 3, "caught up before the socket served: {o:?}");
    assert!(o.iter().all(|o| o["status"] == "confirmed"), "{o:?}");
    let total: u64 = o.iter().map(|o| o["amount_msat"].as_u64().unwrap()).sum();
    assert_eq!(total, 600_000_000);
}

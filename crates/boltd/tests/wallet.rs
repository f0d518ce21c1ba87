//! The wallet in the daemon against a devchain, through the RPC socket: addresses, funds
//! following the chain, restarts and the start-up catch-up of blocks mined while down.

mod common;

use std::path::PathBuf;
use std::str::FromStr;
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

/// `result` deserialized as cln-rpc's typed response (the shape check).
fn typed<T: serde::de::DeserializeOwned>(d: &Daemon, method: &str, params: Value) -> (T, Value) {
    let r = result(d, method, params);
    let t = serde_json::from_value(r.clone())
        .unwrap_or_else(|e| panic!("{method} does not fit cln-rpc's type: {e}\n{r}"));
    (t, r)
}

fn error(d: &Daemon, method: &str, params: Value) -> (i64, String) {
    let r = d.call(method, params);
    let e = r
        .get("error")
        .unwrap_or_else(|| panic!("{method} succeeded: {r}"));
    (
        e["code"].as_i64().unwrap(),
        e["message"].as_str().unwrap().to_string(),
    )
}

fn reserved_count(d: &Daemon) -> usize {
    outputs(d).iter().filter(|o| o["reserved"] == true).count()
}

#[test]
fn withdraw_txprepare_reservations_and_bad_input_through_the_rpc() {
    use cln_rpc::model::responses::*;
    let tmp = tempfile::tempdir().unwrap();
    let dc = devchain::DevChain::spawn(&tmp.path().join("chain")).unwrap();
    dc.mine(101).unwrap();
    let d = start(tempfile::tempdir().unwrap(), &dc);
    let (addr, _): (NewaddrResponse, _) = typed(&d, "newaddr", json!({"addresstype": "bech32"}));
    let bech32 = addr.bech32.unwrap();
    for _ in 0..3 {
        dc.fund(&bech32, Amount::from_sat(1_000_000)).unwrap();
    }
    dc.mine(1).unwrap();
    wait_until("three confirmed outputs", || {
        outputs(&d)
            .iter()
            .filter(|o| o["status"] == "confirmed")
            .count()
            == 3
    });
    let (_, _): (ListfundsResponse, _) = typed(&d, "listfunds", json!({}));
    let (la, _): (ListaddressesResponse, _) = typed(&d, "listaddresses", json!({}));
    assert_eq!(la.addresses[0].bech32.as_deref(), Some(bech32.as_str()));

    let theirs = dc
        .client()
        .call("getnewaddress", json!([]))
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    // Bad input: clear errors, nothing reserved.
    let mainnet = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
    assert_eq!(
        error(
            &d,
            "withdraw",
            json!({"destination": mainnet, "satoshi": 1000})
        ),
        (-1, "Destination address is not on network regtest".into())
    );
    assert_eq!(
        error(
            &d,
            "withdraw",
            json!({"destination": "xyz", "satoshi": 1000})
        ),
        (
            -1,
            "Could not parse destination address, destination should be a valid address".into()
        )
    );
    let (code, msg) = error(
        &d,
        "withdraw",
        json!({"destination": theirs, "satoshi": 10_000, "feerate": "100000000perkw"}),
    );
    assert_eq!(code, -32602, "{msg}");
    let (code, msg) = error(
        &d,
        "withdraw",
        json!({"destination": theirs, "satoshi": "2100000000000001sat"}),
    );
    assert_eq!(code, 300, "{msg}");
    let (code, msg) = error(
        &d,
        "withdraw",
        json!({"destination": theirs, "satoshi": 100}),
    );
    assert_eq!((code, msg.as_str()), (302, "Output 100 would be dust"));
    let (code, msg) = error(
        &d,
        "withdraw",
        json!({"destination": theirs, "satoshi": 5_000_000, "feerate": "1000perkw"}),
    );
    assert_eq!(code, 301, "{msg}");
    assert!(
        msg.starts_with("Could not afford 5000000sat using all 3 available UTXOs: "),
        "{msg}"
    );
    let (code, _) = error(&d, "reserveinputs", json!({"psbt": "cHNidP8Bnotapsbt"}));
    assert_eq!(code, -32602);
    assert_eq!(reserved_count(&d), 0);

    // txprepare reserves; txdiscard releases; txsend broadcasts.
    let (prep, _): (TxprepareResponse, _) = typed(
        &d,
        "txprepare",
        json!({"outputs": [{theirs.clone(): 300_000}], "feerate": "2000perkw"}),
    );
    assert_eq!(reserved_count(&d), 1);
    let (code, _) = error(&d, "reserveinputs", json!({"psbt": prep.psbt}));
    assert_eq!(code, -32602, "exclusive by default");
    let (again, _): (ReserveinputsResponse, _) = typed(
        &d,
        "reserveinputs",
        json!({"psbt": prep.psbt, "exclusive": false, "reserve": 10}),
    );
    assert!(again.reservations[0].was_reserved);
    let (_, _): (TxdiscardResponse, _) = typed(&d, "txdiscard", json!({"txid": prep.txid}));
    assert_eq!(reserved_count(&d), 0);
    assert_eq!(
        error(&d, "txsend", json!({"txid": prep.txid})),
        (-32602, format!("not an unreleased txid '{}'", prep.txid))
    );
    let (res, _): (ReserveinputsResponse, _) =
        typed(&d, "reserveinputs", json!({"psbt": prep.psbt}));
    assert!(res.reservations[0].reserved && !res.reservations[0].was_reserved);
    let (un, _): (UnreserveinputsResponse, _) =
        typed(&d, "unreserveinputs", json!({"psbt": prep.psbt}));
    assert!(!un.reservations[0].reserved);
    let (prep, _): (TxprepareResponse, _) = typed(
        &d,
        "txprepare",
        json!({"outputs": [{theirs.clone(): 300_000}], "feerate": "2000perkw"}),
    );
    let (sent, _): (TxsendResponse, _) = typed(&d, "txsend", json!({"txid": prep.txid}));
    assert_eq!(sent.txid, prep.txid);

    // PSBT round trip: fundpsbt (with change) + the caller's output, signpsbt, sendpsbt.
    let (funded, raw): (FundpsbtResponse, _) = typed(
        &d,
        "fundpsbt",
        json!({"satoshi": 200_000, "feerate": "2000perkw", "startweight": 172, "excess_as_change": true}),
    );
    assert_eq!(funded.change_outnum, Some(0), "{raw}");
    assert_eq!(funded.reservations.as_ref().map(Vec::len), Some(1), "{raw}");
    let mut psbt: bitcoin::Psbt = funded.psbt.parse().unwrap();
    let theirs_script = bitcoin::Address::from_str(&theirs)
        .unwrap()
        .assume_checked()
        .script_pubkey();
    psbt.unsigned_tx.output.push(bitcoin::TxOut {
        value: Amount::from_sat(200_000),
        script_pubkey: theirs_script,
    });
    psbt.outputs.push(Default::default());
    let (signed, _): (SignpsbtResponse, _) =
        typed(&d, "signpsbt", json!({"psbt": psbt.to_string()}));
    let (code, msg) = error(&d, "sendpsbt", json!({"psbt": psbt.to_string()}));
    assert_eq!(code, -1, "unsigned: {msg}");
    assert!(msg.starts_with("PSBT not finalizeable"), "{msg}");
    let (sent_psbt, _): (SendpsbtResponse, _) =
        typed(&d, "sendpsbt", json!({"psbt": signed.signed_psbt}));
    assert_eq!(sent_psbt.txid, psbt.unsigned_tx.compute_txid().to_string());
    // An unreserved coin is not signed; utxopsbt names what it cannot afford.
    let coin = outputs(&d)
        .into_iter()
        .find(|o| o["reserved"] == false && o["status"] == "confirmed")
        .unwrap();
    let op = format!("{}:{}", coin["txid"].as_str().unwrap(), coin["output"]);
    let (u, _): (UtxopsbtResponse, _) = typed(
        &d,
        "utxopsbt",
        json!({"satoshi": 1000, "feerate": "253perkw", "startweight": 0, "utxos": [op], "reserve": 0}),
    );
    assert!(u.reservations.is_none());
    let (code, msg) = error(&d, "signpsbt", json!({"psbt": u.psbt}));
    assert_eq!(
        (code, msg),
        (
            -1,
            format!("Aborting PSBT signing. UTXO {op} is not reserved")
        )
    );
    let (code, msg) = error(
        &d,
        "utxopsbt",
        json!({"satoshi": "10btc", "feerate": "253perkw", "startweight": 0, "utxos": [op]}),
    );
    assert_eq!(code, 301);
    assert!(
        msg.starts_with("Could not afford 1000000000sat using UTXOs totalling"),
        "{msg}"
    );

    // withdraw, then everything: the coins spent are gone once mined.
    let (w, _): (WithdrawResponse, _) = typed(
        &d,
        "withdraw",
        json!({"destination": theirs, "satoshi": "250000sat", "feerate": "normal"}),
    );
    assert_eq!(w.txid.len(), 64);
    dc.mine(1).unwrap();
    let (all, _): (WithdrawResponse, _) = typed(
        &d,
        "withdraw",
        json!({"destination": theirs, "satoshi": "all", "feerate": "urgent", "minconf": 0}),
    );
    dc.mine(1).unwrap();
    wait_until("every transaction confirmed", || {
        result(&d, "listtransactions", json!({}))["transactions"]
            .as_array()
            .is_some_and(|t| t.iter().all(|t| t["blockheight"] != 0))
    });
    assert!(outputs(&d).is_empty(), "{:?}", outputs(&d));
    let (txs, _): (ListtransactionsResponse, _) = typed(&d, "listtransactions", json!({}));
    let hashes: Vec<&str> = txs.transactions.iter().map(|t| t.hash.as_str()).collect();
    for t in [&sent.txid, &w.txid, &all.txid, &sent_psbt.txid] {
        assert!(hashes.contains(&t.as_str()), "{t} in {hashes:?}");
    }
    assert!(txs.transactions.iter().all(|t| t.blockheight > 0));
}

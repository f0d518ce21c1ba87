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

use std::io::{Read, Write};
use std::net::TcpStream;

use bitcoin::base64::{engine::general_purpose::STANDARD, Engine};
use corepc_types::v26;

/// One raw HTTP exchange on a fresh connection: (status, body).
fn raw_http(port: u16, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn post(c: &common::Chain, auth: Option<(&str, &str)>, body: &str) -> (u16, String) {
    let auth = auth
        .map(|(u, p)| {
            format!(
                "Authorization: Basic {}\r\n",
                STANDARD.encode(format!("{u}:{p}"))
            )
        })
        .unwrap_or_default();
    raw_http(
        c.dc.port,
        &format!("POST / HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()),
    )
}

#[test]
fn http_auth_and_jsonrpc_envelopes_follow_bitcoind() {
    let c = common::start();
    let cookie = std::fs::read_to_string(&c.dc.cookie_path).unwrap();
    let (user, pass) = cookie.split_once(':').unwrap();
    assert_eq!(user, "__cookie__");
    assert_eq!(pass.len(), 64);
    let call = r#"{"jsonrpc":"1.0","id":"a","method":"getblockcount","params":[]}"#;
    assert_eq!(post(&c, None, call).0, 401);
    assert_eq!(post(&c, Some((user, "wrong")), call).0, 401);
    let (status, body) = post(&c, Some((user, pass)), call);
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        json!({"result": 0, "error": null, "id": "a"})
    );
    // Legacy errors: HTTP 404 for an unknown method, 500 otherwise, the error object inside.
    let (status, body) = post(&c, Some((user, pass)), r#"{"id":1,"method":"nosuch"}"#);
    assert_eq!(status, 404);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["error"],
        json!({"code": -32601, "message": "Method not found"})
    );
    assert_eq!(v["result"], serde_json::Value::Null);
    let (status, body) = post(
        &c,
        Some((user, pass)),
        r#"{"id":1,"method":"getblockhash","params":[5]}"#,
    );
    assert_eq!(status, 500);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["error"],
        json!({"code": -8, "message": "Block height out of range"})
    );
    let (status, body) = post(&c, Some((user, pass)), "{not json");
    assert_eq!(status, 500);
    assert!(body.contains("-32700"), "{body}");
    // JSON-RPC 2.0: status 200, no `error` key on success, notifications answered with 204.
    let (status, body) = post(
        &c,
        Some((user, pass)),
        r#"{"jsonrpc":"2.0","id":7,"method":"getblockcount"}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        json!({"jsonrpc": "2.0", "result": 0, "id": 7})
    );
    let (status, body) = post(
        &c,
        Some((user, pass)),
        r#"{"jsonrpc":"2.0","method":"getblockcount"}"#,
    );
    assert_eq!((status, body.as_str()), (204, ""));
    // Batches: one reply per request, in order, status 200 even with errors inside.
    let (status, body) = post(
        &c,
        Some((user, pass)),
        r#"[{"id":1,"method":"getblockcount"},{"id":2,"method":"nosuch"},{"id":3,"method":"getblockhash","params":{"height":0}}]"#,
    );
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v[0]["result"], 0);
    assert_eq!(v[1]["error"]["code"], -32601);
    assert_eq!(
        v[2]["result"],
        "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
    );
    // Amounts go out as bitcoind writes them: eight decimals, bare numbers.
    let (_, body) = post(
        &c,
        Some((user, pass)),
        r#"{"id":1,"method":"getnetworkinfo"}"#,
    );
    assert!(body.contains(r#""relayfee":0.00001000"#), "{body}");
    let (status, _) = raw_http(
        c.dc.port,
        &format!(
            "GET / HTTP/1.1\r\nAuthorization: Basic {}\r\nConnection: close\r\n\r\n",
            STANDARD.encode(&cookie)
        ),
    );
    assert_eq!(status, 405);
}

#[test]
fn parameter_errors_use_bitcoind_codes() {
    let mut c = common::start();
    assert_eq!(
        c.call_err("getblockhash", json!([1])),
        (-8, "Block height out of range".into())
    );
    assert_eq!(
        c.call_err("getblockhash", json!([-1])),
        (-8, "Block height out of range".into())
    );
    let (code, msg) = c.call_err("getblockhash", json!(["x"]));
    assert_eq!(code, -3);
    assert!(
        msg.contains("JSON value of type string is not of expected type number"),
        "{msg}"
    );
    assert_eq!(
        c.call_err("getblock", json!(["00"])),
        (
            -8,
            "blockhash must be of length 64 (not 2, for '00')".into()
        )
    );
    let zz = "z".repeat(64);
    assert_eq!(
        c.call_err("getblock", json!([zz])),
        (
            -8,
            format!("blockhash must be hexadecimal string (not '{zz}')")
        )
    );
    assert_eq!(
        c.call_err("getblock", json!(["00".repeat(32)])),
        (-5, "Block not found".into())
    );
    let (code, _) = c.call_err("getblockhash", json!([]));
    assert_eq!(code, -1, "a missing parameter is a usage error");
    assert_eq!(c.call_err("getblockhash", json!({"hieght": 0})).0, -8);
    assert_eq!(
        c.call_err("generatetoaddress", json!([1, "notanaddress"])),
        (-5, "Error: Invalid address".into())
    );
    assert_eq!(
        c.call_err("getrawtransaction", json!(["11".repeat(32)])),
        (-5, "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.".into())
    );
    assert_eq!(
        c.call("gettxout", json!(["11".repeat(32), 0])),
        serde_json::Value::Null
    );
}

#[test]
fn results_parse_as_bitcoin_core_26_types() {
    let mut c = common::start();
    let hashes = c.mine(101);
    let addr = c.call("getnewaddress", json!([]));
    let txid = c.call("sendtoaddress", json!([addr, 1.25]));
    c.mine(1);
    let info: v26::GetBlockchainInfo =
        serde_json::from_value(c.call("getblockchaininfo", json!([]))).unwrap();
    let info = info.into_model().unwrap();
    assert_eq!(info.blocks, 102);
    let tip = info.best_block_hash;
    let block: v26::GetBlockVerboseOne =
        serde_json::from_value(c.call("getblock", json!([tip.to_string(), 1]))).unwrap();
    let block = block.into_model().unwrap();
    assert_eq!(block.height, 102);
    assert_eq!(block.tx.len(), 2);
    assert_eq!(block.tx[1].to_string(), txid.as_str().unwrap());
    assert_eq!(
        block.previous_block_hash.map(|h| h.to_string()),
        Some(
            c.call("getblockhash", json!([101]))
                .as_str()
                .unwrap()
                .to_string()
        )
    );
    let header: v26::GetBlockHeaderVerbose =
        serde_json::from_value(c.call("getblockheader", json!([hashes[0]]))).unwrap();
    let header = header.into_model().unwrap();
    assert_eq!(header.height, 1);
    assert_eq!(header.confirmations, 102);
    let raw: v26::GetRawTransactionVerbose =
        serde_json::from_value(c.call("getrawtransaction", json!([txid, true]))).unwrap();
    let raw = raw.into_model().unwrap();
    assert_eq!(raw.block_hash, Some(tip));
    assert_eq!(raw.confirmations, Some(1));
    let out: v26::GetTxOut = serde_json::from_value(c.call("gettxout", json!([txid, 0]))).unwrap();
    let out = out.into_model().unwrap();
    assert_eq!(out.confirmations, 1);
    let net: v26::GetNetworkInfo =
        serde_json::from_value(c.call("getnetworkinfo", json!([]))).unwrap();
    assert!(net.version >= 220_000);
    assert!(net.local_relay);
    let fee: v26::EstimateSmartFee =
        serde_json::from_value(c.call("estimatesmartfee", json!([6]))).unwrap();
    assert_eq!(
        fee.errors,
        Some(vec!["Insufficient data or no feerate found".to_string()])
    );
    assert!(fee.fee_rate.is_none());
    c.call("setfeerate", json!([0.00025]));
    let fee: v26::EstimateSmartFee =
        serde_json::from_value(c.call("estimatesmartfee", json!([6]))).unwrap();
    assert_eq!(fee.fee_rate, Some(0.00025));
    assert!(fee.errors.is_none());
    let _: v26::GetMempoolInfo =
        serde_json::from_value(c.call("getmempoolinfo", json!([]))).unwrap();
}

#[test]
fn getblock_verbosity_0_is_a_valid_block_and_2_carries_fees() {
    let mut c = common::start();
    c.mine(101);
    let addr = c.call("getnewaddress", json!([]));
    let txid = c.call("sendtoaddress", json!([addr, 3]));
    let hash = c.mine(1).remove(0);
    let hex_block = c.call("getblock", json!([hash, 0]));
    let block: bitcoin::Block =
        bitcoin::consensus::deserialize(&hex::decode(hex_block.as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(block.block_hash().to_string(), hash);
    assert!(block.check_merkle_root());
    assert!(block.check_witness_commitment());
    assert!(block.header.validate_pow(block.header.target()).is_ok());
    assert_eq!(
        block.txdata[1].compute_txid().to_string(),
        txid.as_str().unwrap()
    );
    let v2 = c.call("getblock", json!([hash, 2]));
    assert_eq!(v2["tx"][1]["txid"], txid);
    let fee = v2["tx"][1]["fee"].as_f64().unwrap();
    assert!(fee > 0.0 && fee < 0.001, "fee {fee}");
    assert!(v2["tx"][0].get("fee").is_none(), "coinbase has no fee");
    // The coinbase pays subsidy plus that fee (height 102: one halving at 150 not yet).
    let cb = v2["tx"][0]["vout"][0]["value"].as_f64().unwrap();
    assert!((cb - (50.0 + fee)).abs() < 1e-9, "coinbase {cb}");
}

#[test]
fn subsidy_halves_at_block_150_on_regtest() {
    let mut c = common::start();
    let hashes = c.mine(150);
    let b149 = c.call("getblock", json!([hashes[148], 2]));
    let b150 = c.call("getblock", json!([hashes[149], 2]));
    assert_eq!(b149["height"], 149);
    assert_eq!(b149["tx"][0]["vout"][0]["value"], 50.0);
    assert_eq!(b150["tx"][0]["vout"][0]["value"], 25.0);
}

#[test]
fn chain_survives_a_restart_with_its_invalid_marks() {
    let dir = tempfile::tempdir().unwrap();
    let (tip, invalidated) = {
        let dc = devchain::DevChain::spawn(dir.path()).unwrap();
        let mut rpc = dc.client();
        let addr = rpc.call("getnewaddress", json!([])).unwrap();
        let hashes: Vec<String> =
            serde_json::from_value(rpc.call("generatetoaddress", json!([20, addr])).unwrap())
                .unwrap();
        rpc.call("invalidateblock", json!([hashes[19]])).unwrap();
        (hashes[18].clone(), hashes[19].clone())
    };
    let dc = devchain::DevChain::spawn(dir.path()).unwrap();
    let mut rpc = dc.client();
    assert_eq!(rpc.call("getblockcount", json!([])).unwrap(), 19);
    assert_eq!(rpc.call("getbestblockhash", json!([])).unwrap(), tip);
    assert_eq!(
        rpc.call("getblockheader", json!([invalidated])).unwrap()["confirmations"],
        -1
    );
    rpc.call("reconsiderblock", json!([invalidated])).unwrap();
    assert_eq!(rpc.call("getblockcount", json!([])).unwrap(), 20);
}

#[test]
fn invalidateblock_reorgs_and_returns_transactions_to_the_mempool() {
    let mut c = common::start();
    c.mine(101);
    let addr = c.call("getnewaddress", json!([]));
    let txid = c.call("sendtoaddress", json!([addr, 2]));
    let old = c.mine(1).remove(0);
    assert_eq!(c.call("getrawmempool", json!([])), json!([]));
    c.call("invalidateblock", json!([old]));
    assert_eq!(c.height(), 101);
    assert_eq!(
        c.call("getrawmempool", json!([])),
        json!([txid]),
        "the disconnected tx is back"
    );
    assert_eq!(c.call("gettxout", json!([txid, 0]))["confirmations"], 0);
    let new = c.mine(2);
    assert_ne!(new[0], old);
    assert_eq!(
        c.call("getrawtransaction", json!([txid, 1]))["blockhash"],
        new[0]
    );
    let tips = c.call("getchaintips", json!([]));
    assert_eq!(
        tips,
        json!([
            {"height": 103, "hash": new[1], "branchlen": 0, "status": "active"},
            {"height": 102, "hash": old, "branchlen": 1, "status": "invalid"},
        ])
    );
    // The old branch has less work: reconsidering it changes nothing...
    c.call("reconsiderblock", json!([old]));
    assert_eq!(c.call("getbestblockhash", json!([])), new[1]);
    assert_eq!(c.call("getblockheader", json!([old]))["confirmations"], -1);
    // ...until the new branch is invalidated.
    c.call("invalidateblock", json!([new[0]]));
    assert_eq!(c.call("getbestblockhash", json!([])), old);
    assert_eq!(
        c.call("getrawtransaction", json!([txid, 1]))["blockhash"],
        old
    );
    assert_eq!(c.call("getrawmempool", json!([])), json!([]));
}

#[test]
fn binary_serves_like_bitcoind_and_cli_calls_it() {
    let dir = tempfile::tempdir().unwrap();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_devchain"));
    let mut p = devchain::DevChainProcess::spawn(
        bin,
        dir.path(),
        &[
            "-txindex",
            "-printtoconsole=0",
            "-fallbackfee=0.0002",
            "-nowallet",
        ],
    )
    .unwrap();
    let datadir = format!("-datadir={}", dir.path().display());
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .arg("cli")
            .arg(&datadir)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, addr, _) = cli(&["getnewaddress"]);
    assert_eq!(code, Some(0));
    let (code, out, _) = cli(&["generatetoaddress", "101", &addr]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(cli(&["getblockcount"]).1, "101");
    let (code, txid, err) = cli(&["sendtoaddress", &addr, "1.5"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(txid.len(), 64);
    // Errors: bitcoin-cli's text on stderr, exit code = |error code|.
    let (code, _, err) = cli(&["getblockhash", "500"]);
    assert_eq!(code, Some(8));
    assert_eq!(
        err.trim(),
        "error code: -8\nerror message:\nBlock height out of range"
    );
    let log = std::fs::read_to_string(dir.path().join("regtest/debug.log")).unwrap();
    assert!(log.contains("Done loading"));
    assert!(log.contains("UpdateTip: new best="));
    assert!(log.contains("height=101"));
    // Installed as `bitcoin-cli`, it takes bcli's `-stdin` form: method in argv, arguments on stdin.
    let link = dir.path().join("bitcoin-cli");
    std::os::unix::fs::symlink(bin, &link).unwrap();
    let mut child = std::process::Command::new(&link)
        .args([
            "-regtest",
            &datadir,
            "-rpcclienttimeout=60",
            "-stdin",
            "getblockhash",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"0\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
    );
    assert_eq!(cli(&["stop"]).1, "Bitcoin Core stopping");
    assert!(p.wait().unwrap().success());
    assert!(
        !dir.path().join("regtest/.cookie").exists(),
        "cookie removed at shutdown"
    );
}

#[test]
fn mempool_survives_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let txid = {
        let dc = devchain::DevChain::spawn(dir.path()).unwrap();
        let mut rpc = dc.client();
        let addr = rpc.call("getnewaddress", json!([])).unwrap();
        rpc.call("generatetoaddress", json!([101, addr])).unwrap();
        rpc.call("sendtoaddress", json!([addr, 1])).unwrap()
    };
    let dc = devchain::DevChain::spawn(dir.path()).unwrap();
    let mut rpc = dc.client();
    assert_eq!(rpc.call("getrawmempool", json!([])).unwrap(), json!([txid]));
}

#[test]
fn garbage_requests_get_errors_and_the_server_keeps_serving() {
    let mut c = common::start();
    let cookie = std::fs::read_to_string(&c.dc.cookie_path).unwrap();
    let (user, pass) = cookie.split_once(':').unwrap();
    for body in [
        "",
        "[]",
        "null",
        "42",
        "[1,2]",
        r#"{"method":7}"#,
        r#"{"method":"getblock","params":"x"}"#,
        r#"{"method":"getblock","params":[{}]}"#,
        "\u{0}\u{1}",
    ] {
        let (status, _) = post(&c, Some((user, pass)), body);
        assert!(
            status == 200 || status == 400 || status == 500,
            "{body:?} -> {status}"
        );
    }
    for raw in [
        "\r\n\r\n",
        "POST\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ] {
        let _ = raw_http(c.dc.port, raw);
    }
    // Out-of-range numbers from a client are errors, not panics.
    assert_eq!(c.call_err("getblockhash", json!([1e300])).0, -3);
    let addr = c.call("getnewaddress", json!([]));
    assert_eq!(c.call_err("sendtoaddress", json!([addr, 1e30])).0, -3);
    assert_eq!(c.call("getblockcount", json!([])), 0);
}

#[test]
fn concurrent_clients_are_served() {
    let c = common::start();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let mut rpc = c.dc.client();
            std::thread::spawn(move || {
                let addr = rpc.call("getnewaddress", json!([])).unwrap();
                for _ in 0..20 {
                    rpc.call("generatetoaddress", json!([1, addr])).unwrap();
                    rpc.call("getblockchaininfo", json!([])).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut rpc = c.dc.client();
    assert_eq!(rpc.call("getblockcount", json!([])).unwrap(), 160);
}

#[test]
fn faucet_serves_many_sends_between_blocks_and_reports_insufficient_funds() {
    let mut c = common::start();
    let addr = c.call("getnewaddress", json!([]));
    assert_eq!(
        c.call_err("sendtoaddress", json!([addr, 1])),
        (-6, "Insufficient funds".into())
    );
    c.mine(110); // ten mature coinbases
    assert_eq!(c.call("getbalance", json!([])), 500.0);
    let k = common::Key::new(40);
    for _ in 0..30 {
        c.call("sendtoaddress", json!([k.p2wpkh_address(), 0.5]));
    }
    assert_eq!(
        c.call("getrawmempool", json!([])).as_array().unwrap().len(),
        30
    );
    let hash = c.mine(1).remove(0);
    assert_eq!(c.call("getblock", json!([hash]))["nTx"], 31);
    assert_eq!(
        c.call_err("sendtoaddress", json!([addr, 10_000])),
        (-6, "Insufficient funds".into())
    );
    assert_eq!(
        c.call_err("sendtoaddress", json!(["bcrt1qnotanaddress", 1])),
        (-5, "Invalid address".into())
    );
    assert_eq!(c.call_err("sendtoaddress", json!([addr, 0])).0, -3);
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let c = common::start();
    let cookie = std::fs::read_to_string(&c.dc.cookie_path).unwrap();
    let body = r#"{"id":1,"method":"getblockcount"}"#;
    let mut s = TcpStream::connect(("127.0.0.1", c.dc.port)).unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nAuthorization: Basic {}\r\nExpect: 100-continue\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        STANDARD.encode(&cookie),
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(body.as_bytes()).unwrap();
    let mut rest = String::new();
    let _ = s.read_to_string(&mut rest);
    assert!(rest.starts_with("HTTP/1.1 200 OK"), "{rest}");
    assert!(
        rest.ends_with("{\"result\":0,\"error\":null,\"id\":1}\n"),
        "{rest}"
    );
}

#[test]
fn a_second_server_on_the_same_datadir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = devchain::DevChain::spawn(dir.path()).unwrap();
    let err = devchain::DevChain::spawn(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Cannot obtain a lock on data directory"),
        "{err}"
    );
    drop(first);
    devchain::DevChain::spawn(dir.path()).unwrap();
}

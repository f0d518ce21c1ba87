//! Channels between two boltd nodes on a devchain, through the RPC socket: open, lock-in,
//! restart, mutual and unilateral close, the openchannel hook.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bitcoin::Amount;
use common::Daemon;
use serde_json::{json, Value};

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

fn start_with(dc: &devchain::DevChain, extra: &[&str]) -> Daemon {
    build_bcli();
    let mut opts = chain_options(dc);
    opts.extend(extra.iter().map(|s| s.to_string()));
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    Daemon::start_in(tempfile::tempdir().unwrap(), &opts)
}

fn restart(d: &mut Daemon, dc: &devchain::DevChain) {
    let opts = chain_options(dc);
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    d.restart(&opts);
}

fn result(d: &Daemon, method: &str, params: Value) -> Value {
    let r = d.call(method, params);
    r.get("result")
        .cloned()
        .unwrap_or_else(|| panic!("{method}: {r}\nlog:\n{}", tail(&d.log())))
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// How much slower than an idle machine this one runs now: the 1-minute load per core,
/// at least 1, at most 5. A loaded 2-core CI box stretches every wait; a hang still
/// fails, only later.
fn slowdown() -> f64 {
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    (load / cores).clamp(1.0, 5.0)
}

fn wait_until(d: &Daemon, what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    let base = Duration::from_secs(secs);
    while !f() {
        // Re-read the load while waiting: it is the load during the wait that matters.
        let allowed = base.mul_f64(slowdown());
        assert!(
            start.elapsed() < allowed,
            "timed out waiting for {what} ({:.0?} allowed at this load); log:\n{}",
            allowed,
            tail(&d.log())
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn id(d: &Daemon) -> String {
    result(d, "getinfo", json!({}))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn port(d: &Daemon) -> u64 {
    result(d, "getinfo", json!({}))["binding"][0]["port"]
        .as_u64()
        .unwrap()
}

fn connect(a: &Daemon, b: &Daemon) {
    result(
        a,
        "connect",
        json!({"id": format!("{}@127.0.0.1:{}", id(b), port(b))}),
    );
}

/// Funds `d`'s wallet with `sat` in one confirmed output.
fn fund(d: &Daemon, dc: &devchain::DevChain, sat: u64) {
    let addr = result(d, "newaddr", json!({}))["bech32"]
        .as_str()
        .unwrap()
        .to_string();
    dc.fund(&addr, Amount::from_sat(sat)).unwrap();
    dc.mine(1).unwrap();
    wait_until(d, "confirmed funds", 30, || {
        result(d, "listfunds", json!({}))["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["status"] == "confirmed")
    });
}

fn channels(d: &Daemon) -> Vec<Value> {
    result(d, "listpeerchannels", json!({}))["channels"]
        .as_array()
        .unwrap()
        .clone()
}

fn state(d: &Daemon) -> Option<String> {
    channels(d)
        .first()
        .and_then(|c| c["state"].as_str().map(str::to_string))
}

fn wait_state(d: &Daemon, want: &str) {
    let t = Instant::now();
    wait_until(d, want, 60, || state(d).as_deref() == Some(want));
    eprintln!("{want} after {:?}", t.elapsed());
}

/// Opens a 500,000 sat channel a → b and mines it to CHANNELD_NORMAL on both sides.
fn open(a: &Daemon, b: &Daemon, dc: &devchain::DevChain) -> Value {
    connect(a, b);
    let r = result(a, "fundchannel", json!({"id": id(b), "amount": 500_000}));
    wait_state(a, "CHANNELD_AWAITING_LOCKIN");
    wait_state(b, "CHANNELD_AWAITING_LOCKIN");
    dc.mine(6).unwrap();
    wait_state(a, "CHANNELD_NORMAL");
    wait_state(b, "CHANNELD_NORMAL");
    r
}

#[test]
fn open_lock_in_restart_and_mutual_close() {
    let tmp = tempfile::tempdir().unwrap();
    let dc = devchain::DevChain::spawn(&tmp.path().join("chain")).unwrap();
    dc.mine(101).unwrap();
    let mut a = start_with(&dc, &[]);
    let b = start_with(&dc, &[]);
    fund(&a, &dc, 1_000_000);

    let r = open(&a, &b, &dc);
    assert_eq!(r["txid"].as_str().unwrap().len(), 64, "{r}");
    assert!(r["tx"].as_str().is_some(), "{r}");
    assert!(
        r["channel_type"]["names"]
            .as_array()
            .unwrap()
            .contains(&json!("anchors/even")),
        "{r}"
    );
    let c = &channels(&a)[0];
    assert_eq!(c["channel_id"], r["channel_id"], "{c}");
    assert_eq!(c["funding_txid"], r["txid"], "{c}");
    assert_eq!(c["funding_outnum"], r["outnum"], "{c}");
    assert_eq!(c["opener"], "local");
    assert_eq!(c["total_msat"], 500_000_000);
    assert_eq!(c["peer_connected"], true);
    assert!(c["short_channel_id"].as_str().is_some(), "{c}");
    assert_eq!(channels(&b)[0]["opener"], "remote");
    let info = result(&a, "getinfo", json!({}));
    assert_eq!(info["num_active_channels"], 1, "{info}");
    assert_eq!(info["num_pending_channels"], 0, "{info}");
    assert_eq!(
        result(&a, "listpeers", json!({}))["peers"][0]["num_channels"],
        1
    );
    let funds = result(&a, "listfunds", json!({}));
    assert_eq!(funds["channels"][0]["state"], "CHANNELD_NORMAL", "{funds}");
    assert_eq!(funds["channels"][0]["amount_msat"], 500_000_000, "{funds}");

    // A channel keeps its peer unless forced.
    let e = a.call("disconnect", json!({"id": id(&b)}));
    assert_eq!(e["error"]["code"], -1, "{e}");

    // kill -9 in normal operation: the channel is back after restart, and reconnects.
    a.signal(libc::SIGKILL);
    let _ = a.wait_exit(Duration::from_secs(10).mul_f64(slowdown()));
    restart(&mut a, &dc);
    assert_eq!(state(&a).as_deref(), Some("CHANNELD_NORMAL"));
    connect(&a, &b);
    wait_until(&a, "reestablished", 30, || {
        channels(&a)[0]["reestablished"] == json!(true)
    });

    let closed = result(&a, "close", json!({"id": id(&b)}));
    assert_eq!(closed["type"], "mutual", "{closed}");
    assert_eq!(closed["txs"].as_array().unwrap().len(), 1, "{closed}");
    dc.mine(1).unwrap();
    wait_state(&a, "ONCHAIN");
    let lc = result(&a, "listclosedchannels", json!({}));
    assert_eq!(
        lc["closedchannels"][0]["channel_id"], r["channel_id"],
        "{lc}"
    );
    assert_eq!(lc["closedchannels"][0]["closer"], "local", "{lc}");
}

#[test]
fn unilateral_close_survives_kill_9_and_resolves_into_the_wallet_after_to_self_delay() {
    let tmp = tempfile::tempdir().unwrap();
    let dc = devchain::DevChain::spawn(&tmp.path().join("chain")).unwrap();
    dc.mine(101).unwrap();
    let mut a = start_with(&dc, &[]);
    let mut b = start_with(&dc, &[]);
    fund(&a, &dc, 1_000_000);
    open(&a, &b, &dc);
    let delay = channels(&a)[0]["their_to_self_delay"].as_u64().unwrap();
    let b_id = id(&b);

    // The peer is gone: the mutual close times out and we force it.
    b.signal(libc::SIGKILL);
    let _ = b.wait_exit(Duration::from_secs(10).mul_f64(slowdown()));
    wait_until(&a, "peer gone", 30, || {
        channels(&a)[0]["peer_connected"] == json!(false)
    });
    let closed = result(&a, "close", json!({"id": b_id, "unilateraltimeout": 1}));
    assert_eq!(closed["type"], "unilateral", "{closed}");
    assert!(!closed["txs"].as_array().unwrap().is_empty(), "{closed}");
    // kill -9 right after the force close: the restarted node still resolves it.
    a.signal(libc::SIGKILL);
    let _ = a.wait_exit(Duration::from_secs(10).mul_f64(slowdown()));
    restart(&mut a, &dc);
    let before: u64 = result(&a, "listfunds", json!({}))["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["amount_msat"].as_u64().unwrap())
        .sum();
    dc.mine(1).unwrap();
    wait_state(&a, "ONCHAIN");
    // BIP68: our output waits to_self_delay blocks, then the sweep confirms.
    dc.mine(delay as u32).unwrap();
    let t = Instant::now();
    wait_until(&a, "the swept output in listfunds", 120, || {
        let _ = dc.mine(1);
        let now: u64 = result(&a, "listfunds", json!({}))["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["status"] == "confirmed")
            .map(|o| o["amount_msat"].as_u64().unwrap())
            .sum();
        now > before + 400_000_000
    });
    eprintln!("swept after {:?}", t.elapsed());
}

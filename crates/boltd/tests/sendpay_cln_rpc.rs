//! Gossip views and explicit-route payments between two boltd nodes on a devchain, every
//! answer read through cln-rpc's typed responses: listchannels, listnodes, getroute,
//! sendpay, waitsendpay, listsendpays.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bitcoin::Amount;
use cln_rpc::model::responses::*;
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

fn start(dc: &devchain::DevChain, extra: &[&str]) -> Daemon {
    build_bcli();
    let mut opts = vec![
        format!("--bitcoin-datadir={}", dc.datadir.display()),
        "--bitcoin-rpcconnect=127.0.0.1".into(),
        format!("--bitcoin-rpcport={}", dc.port),
        "--developer".into(),
        "--dev-bitcoind-poll=1".into(),
    ];
    opts.extend(extra.iter().map(|s| s.to_string()));
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    Daemon::start_in(tempfile::tempdir().unwrap(), &opts)
}

fn result(d: &Daemon, method: &str, params: Value) -> Value {
    let r = d.call(method, params);
    r.get("result")
        .cloned()
        .unwrap_or_else(|| panic!("{method}: {r}"))
}

fn typed<T: serde::de::DeserializeOwned>(d: &Daemon, method: &str, params: Value) -> T {
    let r = result(d, method, params);
    serde_json::from_value(r.clone())
        .unwrap_or_else(|e| panic!("{method} does not fit cln-rpc's type: {e}\n{r}"))
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
// getroute is deprecated in CLN v26.06 (so are its cln-rpc types); it still answers.
#[allow(deprecated)]
fn gossip_and_sendpay_answers_fit_cln_rpc_types() {
    let tmp = tempfile::tempdir().unwrap();
    let dc = devchain::DevChain::spawn(&tmp.path().join("chain")).unwrap();
    dc.mine(101).unwrap();
    let a = start(&dc, &["--alias=typed-a"]);
    let b = start(&dc, &["--alias=typed-b", "--rgb=123456"]);
    let id = |d: &Daemon| {
        result(d, "getinfo", json!({}))["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let b_id = id(&b);
    let port = result(&b, "getinfo", json!({}))["binding"][0]["port"].clone();

    let addr = result(&a, "newaddr", json!({}))["bech32"]
        .as_str()
        .unwrap()
        .to_string();
    dc.fund(&addr, Amount::from_sat(1_000_000)).unwrap();
    dc.mine(1).unwrap();
    wait_until("a funded", || {
        result(&a, "listfunds", json!({}))["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["status"] == "confirmed")
    });
    result(
        &a,
        "connect",
        json!({"id": format!("{b_id}@127.0.0.1:{port}")}),
    );
    result(
        &a,
        "fundchannel",
        json!({"id": b_id, "amount": 500_000, "announce": true}),
    );
    wait_until("the funding broadcast", || {
        result(&a, "listpeerchannels", json!({}))["channels"][0]["state"]
            == "CHANNELD_AWAITING_LOCKIN"
    });
    dc.mine(6).unwrap();
    for d in [&a, &b] {
        wait_until("both directions in the graph", || {
            result(d, "listchannels", json!({}))["channels"]
                .as_array()
                .is_some_and(|c| c.len() == 2)
        });
    }
    let chans: ListchannelsResponse = typed(&a, "listchannels", json!({}));
    assert!(chans
        .channels
        .iter()
        .all(|c| c.public && c.amount_msat.msat() == 500_000_000));
    wait_until("b's node announcement at a", || {
        result(&a, "listnodes", json!({"id": b_id}))["nodes"][0]["alias"] == "typed-b"
    });
    let nodes: ListnodesResponse = typed(&a, "listnodes", json!({"id": b_id}));
    assert_eq!(nodes.nodes[0].color.as_deref(), Some("123456"));
    let all: ListnodesResponse = typed(&b, "listnodes", json!({}));
    assert_eq!(all.nodes.len(), 2);

    let inv = result(
        &b,
        "invoice",
        json!({"amount_msat": 7_000_000, "label": "t", "description": "d"}),
    );
    let dec = result(&b, "decode", json!({"string": inv["bolt11"]}));
    let route: GetrouteResponse = typed(
        &a,
        "getroute",
        json!({"id": b_id, "amount_msat": 7_000_000, "riskfactor": 1,
               "cltv": dec["min_final_cltv_expiry"]}),
    );
    assert_eq!(route.route.len(), 1);
    assert_eq!(route.route[0].id.to_string(), b_id);
    let raw_route = result(
        &a,
        "getroute",
        json!({"id": b_id, "amount_msat": 7_000_000, "riskfactor": 1,
               "cltv": dec["min_final_cltv_expiry"]}),
    )["route"]
        .clone();
    let sent: SendpayResponse = typed(
        &a,
        "sendpay",
        json!({"route": raw_route, "payment_hash": inv["payment_hash"],
               "payment_secret": dec["payment_secret"], "bolt11": inv["bolt11"]}),
    );
    assert!(matches!(sent.status, SendpayStatus::PENDING));
    let done: WaitsendpayResponse = typed(
        &a,
        "waitsendpay",
        json!({"payment_hash": inv["payment_hash"], "timeout": 60}),
    );
    assert!(matches!(done.status, WaitsendpayStatus::COMPLETE));
    assert!(done.payment_preimage.is_some());
    let listed: ListsendpaysResponse = typed(&a, "listsendpays", json!({}));
    assert_eq!(listed.payments.len(), 1);
    assert_eq!(done.destination.map(|d| d.to_string()), Some(b_id));
}

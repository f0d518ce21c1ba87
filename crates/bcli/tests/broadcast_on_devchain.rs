//! LDK's broadcasts reach a strict mempool through bcli: a package handed over child
//! first still lands, because the broadcaster sends parents first.

mod common;

use std::time::Duration;

use bitcoin::{Address, Amount, OutPoint, TxOut};
use chain::{Broadcaster, JsonBackend};
use common::signer::Signer;
use common::Stack;
use lightning::chain::chaininterface::{BroadcasterInterface, TransactionType};
use serde_json::json;

#[tokio::test]
async fn a_child_first_package_lands_in_devchains_mempool() {
    let stack = Stack::new().await;
    let s = Signer::new();
    let ours = Address::from_script(&s.script, bitcoin::Network::Regtest).unwrap();
    let mined = stack
        .rpc("generatetoaddress", json!([1, ours.to_string()]))
        .await;
    stack.mine(100).await;
    let block = stack.rpc("getblock", json!([mined[0], 2])).await;
    let coinbase = OutPoint::new(block["tx"][0]["txid"].as_str().unwrap().parse().unwrap(), 0);
    let value = Amount::from_btc(block["tx"][0]["vout"][0]["value"].as_f64().unwrap()).unwrap();

    let out = |v: Amount| {
        vec![TxOut {
            value: v,
            script_pubkey: s.script.clone(),
        }]
    };
    let parent = s.spend((coinbase, value), out(value - Amount::from_sat(1000)));
    let parent_out = (
        OutPoint::new(parent.compute_txid(), 0),
        value - Amount::from_sat(1000),
    );
    let child = s.spend(parent_out, out(value - Amount::from_sat(2000)));

    let broadcaster = Broadcaster::spawn(std::sync::Arc::new(JsonBackend(stack.bcli_handle())));
    let ty = TransactionType::Sweep { channels: vec![] };
    broadcaster.broadcast_transactions(&[(&child, ty.clone()), (&parent, ty)]);

    let want = [
        parent.compute_txid().to_string(),
        child.compute_txid().to_string(),
    ];
    let landed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let pool = stack.rpc("getrawmempool", json!([])).await;
            let pool: Vec<String> = serde_json::from_value(pool).unwrap();
            if want.iter().all(|t| pool.contains(t)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(landed.is_ok(), "parent and child in the mempool");
}

//! The calls test frameworks (pyln-testing's `BitcoinD`) make besides the chain ones:
//! prioritisation, wallet info, `InvalidChainFound`.

use serde_json::json;

#[test]
fn a_transaction_prioritised_below_the_block_minimum_waits_until_restored() {
    let dir = tempfile::tempdir().unwrap();
    let chain = devchain::DevChain::spawn(dir.path()).unwrap();
    chain.mine(101).unwrap();
    let txid = chain
        .fund(
            "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
            bitcoin::Amount::from_sat(150_000),
        )
        .unwrap()
        .to_string();
    let mut rpc = chain.client();
    assert_eq!(
        rpc.call("prioritisetransaction", json!([txid, null, -1_000_000]))
            .unwrap(),
        json!(true)
    );
    chain.mine(1).unwrap();
    assert_eq!(rpc.call("getrawmempool", json!([])).unwrap(), json!([txid]));
    rpc.call("prioritisetransaction", json!([txid, 0, 1_000_000]))
        .unwrap();
    chain.mine(1).unwrap();
    assert_eq!(rpc.call("getrawmempool", json!([])).unwrap(), json!([]));
    let e = rpc
        .call("prioritisetransaction", json!([txid, 5, 1]))
        .unwrap_err();
    assert!(e.to_string().contains("dummy argument"), "{e}");
}

#[test]
fn named_wallets_report_the_faucets_balance_and_coins() {
    let dir = tempfile::tempdir().unwrap();
    let chain = devchain::DevChain::spawn(dir.path()).unwrap();
    let mut rpc = chain.client();
    let e = rpc.call("getwalletinfo", json!([])).unwrap_err();
    assert!(e.to_string().contains("No wallet is loaded"), "{e}");
    rpc.call("createwallet", json!(["lightningd-tests"]))
        .unwrap();
    chain.mine(101).unwrap();
    assert_eq!(
        rpc.call("listwallets", json!([])).unwrap(),
        json!(["lightningd-tests"])
    );
    let info = rpc.call("getwalletinfo", json!([])).unwrap();
    assert_eq!(info["walletname"], "lightningd-tests");
    assert_eq!(info["balance"], json!(50.0));
    assert_eq!(info["immature_balance"], json!(5000.0));
    let coins = rpc.call("listunspent", json!([])).unwrap();
    assert_eq!(coins.as_array().unwrap().len(), 1);
    assert_eq!(coins[0]["confirmations"], json!(101));
    assert_eq!(coins[0]["amount"], json!(50.0));
}

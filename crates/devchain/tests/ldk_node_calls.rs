//! The calls ldk-node 0.7's bitcoind chain source makes (its `chain/bitcoind.rs` and
//! lightning-block-sync 0.2's RPC client), with the parameters it passes, and the fields it
//! reads from each answer: what the interop peer (`interop/ldk-node-peer`) depends on.

mod common;

use bitcoin::hashes::Hash;
use bitcoin::{Amount, Block, BlockHash, Transaction};
use serde_json::json;

#[test]
fn block_sync_header_block_tip_and_utxo_calls() {
    let mut c = common::start();
    let hashes = c.mine(3);
    let tip = &hashes[2];

    // get_best_block: getblockchaininfo's bestblockhash and blocks.
    let info = c.call("getblockchaininfo", json!([]));
    assert_eq!(info["bestblockhash"], *tip);
    assert_eq!(info["blocks"], 3);

    // get_header: getblockheader <hash> (verbose by default), every field BlockHeaderData reads.
    let h = c.call("getblockheader", json!([tip]));
    for (field, ok) in [
        ("version", h["version"].is_i64()),
        ("previousblockhash", h["previousblockhash"] == hashes[1]),
        ("merkleroot", h["merkleroot"].is_string()),
        ("time", h["time"].is_u64()),
        ("bits", h["bits"].as_str().is_some_and(|b| b.len() == 8)),
        ("nonce", h["nonce"].is_u64()),
        (
            "chainwork",
            h["chainwork"].as_str().is_some_and(|w| w.len() == 64),
        ),
        ("height", h["height"] == 3),
    ] {
        assert!(ok, "getblockheader {field}: {h}");
    }
    // The genesis header has no previousblockhash (block-sync then takes all zeros).
    let genesis = c.call("getblockhash", json!([0]));
    let g = c.call("getblockheader", json!([genesis]));
    assert!(g.get("previousblockhash").is_none(), "{g}");
    assert_eq!(g["height"], 0);

    // get_block: getblock <hash> 0, the block as hex.
    let raw = c.call("getblock", json!([tip, 0]));
    let block: Block =
        bitcoin::consensus::deserialize(&hex::decode(raw.as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(block.block_hash().to_string(), *tip);
    let unknown = BlockHash::all_zeros().to_string();
    assert_eq!(
        c.call_err("getblock", json!([unknown, 0])),
        (-5, "Block not found".to_string())
    );

    // get_block_hash_by_height and is_output_unspent (gettxout <txid> <n> false: null = spent).
    assert_eq!(c.call("getblockhash", json!([2])), hashes[1]);
    let coinbase = block.txdata[0].compute_txid().to_string();
    assert!(c.call("gettxout", json!([coinbase, 0, false]))["value"].is_number());
    assert!(c.call("gettxout", json!([coinbase, 7, false])).is_null());
}

#[test]
fn fee_mempool_and_broadcast_calls() {
    let mut c = common::start();
    c.mine(101);

    // estimatesmartfee <n> "ECONOMICAL"/"CONSERVATIVE" (upper case, as serde sends the enum).
    // Without an estimate bitcoind answers `errors`, which ldk-node treats as "use 1 sat/vB"
    // on regtest; with one, `feerate` in BTC/kvB.
    let none = c.call("estimatesmartfee", json!([6, "ECONOMICAL"]));
    assert!(
        none["errors"].is_array() && none.get("feerate").is_none(),
        "{none}"
    );
    c.call("setfeerate", json!([0.00002]));
    for mode in ["ECONOMICAL", "CONSERVATIVE"] {
        let est = c.call("estimatesmartfee", json!([1, mode]));
        assert_eq!(est["feerate"], json!(0.00002), "{est}");
        assert!(est.get("errors").is_none());
    }
    // getmempoolinfo's mempoolminfee (BTC/kvB): the floor for MinAllowedAnchorChannelRemoteFee.
    assert_eq!(
        c.call("getmempoolinfo", json!([]))["mempoolminfee"],
        json!(0.00001)
    );

    // A transaction in the mempool: getrawmempool false lists txids; getmempoolentry has the
    // time it entered and the height then; getrawtransaction <txid> is the bare hex.
    let key = common::Key::new(7);
    let (op, _) = c.fund_unconfirmed(&key.p2wpkh(), Amount::from_sat(100_000));
    let txid = op.txid.to_string();
    assert_eq!(c.call("getrawmempool", json!([false])), json!([txid]));
    let entry = c.call("getmempoolentry", json!([txid]));
    assert!(
        entry["time"].as_u64().is_some_and(|t| t > 1_600_000_000),
        "{entry}"
    );
    assert_eq!(entry["height"], 101);
    let raw = c.call("getrawtransaction", json!([txid]));
    let tx: Transaction =
        bitcoin::consensus::deserialize(&hex::decode(raw.as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(tx.compute_txid(), op.txid);

    // Unknown txids are code -5 for both (ldk-node maps exactly that code to "not found").
    let unknown = bitcoin::Txid::all_zeros().to_string();
    assert_eq!(c.call_err("getmempoolentry", json!([unknown])).0, -5);
    assert_eq!(c.call_err("getrawtransaction", json!([unknown])).0, -5);

    // sendrawtransaction <hex> answers the txid; the same spend again is refused by code.
    c.mine(1);
    assert_eq!(c.call("getrawmempool", json!([false])), json!([]));
    let (op2, out2) = c.fund(&key.p2wpkh(), Amount::from_sat(50_000));
    let out = bitcoin::TxOut {
        value: Amount::from_sat(49_000),
        script_pubkey: key.p2wpkh(),
    };
    let mut spend = common::unsigned(&[op2], vec![out], 0, 0xffff_fffd);
    common::sign_p2wpkh(&mut spend, 0, &out2, &key);
    assert_eq!(
        c.call("sendrawtransaction", json!([common::hex_of(&spend)])),
        spend.compute_txid().to_string()
    );
    c.mine(1);
    assert_eq!(
        c.call_err("sendrawtransaction", json!([common::hex_of(&spend)])),
        (-27, "Transaction already in block chain".to_string())
    );
}
